//go:build !windows

package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/mesh"
)

// The cluster's API server goes down under steady requests to a joined service, in a
// background session: the names keep answering with the catalogue the session has, status
// says the catalogue is stale and why, and joining another service is refused (exit 4, with
// a next step) without changing anything. When the API server is back, status is fresh
// again, a ServiceEntry created then shows up in the session's catalogue, and the other
// service joins. The API server stays down for outageDuration, long enough for the
// informers' watch retries to back off. The catch-up times are logged (docs/benchmarks.md).
func TestKubeAPIOutage(t *testing.T) {
	e := newBackgroundEnv(t)
	upArgs := func(services ...string) []string {
		return append(e.bgArgs("up", services...), "--address-range", outageAddressRange)
	}
	if code, out, errOut := e.run(upArgs("ratings.bookinfo")...); code != 0 {
		t.Fatalf("up: exit %d\n%s%s\n%s", code, out, errOut, e.daemonLog())
	}
	addr := e.hostsAddr("ratings.bookinfo")
	c := daemon.NewClient(e.stateDir)
	defer c.Close()
	before, err := c.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	probe := &loadProbe{}
	var wg sync.WaitGroup
	wg.Go(func() { probe.run(ctx, addr, 9080, 50*time.Millisecond) })
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(time.Second)

	stopAt := time.Now()
	e.tb.StopKubeAPIServer()
	restarted := false
	defer func() {
		if !restarted { // leave the binary's testbed whole for the tests after this one
			e.tb.StartKubeAPIServer(context.Background())
		}
	}()
	var staleSince time.Time
	for deadline := time.Now().Add(time.Minute); staleSince.IsZero(); time.Sleep(100 * time.Millisecond) {
		if st := e.bgStatus(); st.State != nil && st.State.CatalogueStale != nil {
			staleSince = st.State.CatalogueStale.Since
		}
		if time.Now().After(deadline) {
			t.Fatalf("status did not say the catalogue is stale in a minute; session log:\n%s", e.daemonLog())
		}
	}
	out := e.statusOut()
	for _, want := range []string{"the service catalogue is stale since " + staleSince.Local().Format(time.TimeOnly), "cluster API unreachable", "new services cannot be joined"} {
		if !strings.Contains(out, want) {
			t.Errorf("status while the API server is down lacks %q:\n%s", want, out)
		}
	}
	kept, err := c.Catalog(context.Background())
	if err != nil || len(kept) != len(before) {
		t.Errorf("the session's catalogue while the API server is down: %d services (%v), want the %d it had", len(kept), err, len(before))
	}

	// Joining another service now is refused, and changes nothing.
	hostsBefore, _ := os.ReadFile(e.hostsFile)
	code, out, errOut := e.run(upArgs("reviews.bookinfo")...)
	if code != exitUnreachable || !strings.Contains(errOut, "catalogue is stale") || !strings.Contains(errOut, "Next:") {
		t.Errorf("up reviews.bookinfo while the API server is down: exit %d, want %d with the reason and a next step\n%s%s", code, exitUnreachable, out, errOut)
	}
	if hostsNow, _ := os.ReadFile(e.hostsFile); string(hostsNow) != string(hostsBefore) {
		t.Errorf("the refused join changed the hosts file:\n%s", hostsNow)
	}
	if st := e.bgStatus(); len(st.Services) != 1 || st.Services[0].Key != "ratings.bookinfo" {
		t.Errorf("the refused join changed the joined services: %+v", st.Services)
	}
	time.Sleep(time.Until(stopAt.Add(outageDuration))) // requests keep flowing through the outage

	if err := e.tb.StartKubeAPIServer(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	upAt := time.Now()
	downFor := upAt.Sub(stopAt)
	var freshAt time.Time
	waitUntil(t, 3*time.Minute, "status to say the catalogue is fresh again", func() bool {
		st := e.bgStatus()
		freshAt = time.Now()
		return st.State != nil && st.State.CatalogueStale == nil
	})
	se := newServiceEntry("after-outage", []string{"after-outage.mesh.internal"})
	createServiceEntry(t, e.tb, se)
	createdAt := time.Now()
	var seenAt time.Time
	waitUntil(t, 3*time.Minute, "the ServiceEntry created after the outage in the session's catalogue", func() bool {
		svcs, err := c.Catalog(context.Background())
		seenAt = time.Now()
		return err == nil && slices.ContainsFunc(svcs, func(s mesh.Service) bool { return slices.Contains(s.Hosts, "after-outage.mesh.internal") })
	})
	if code, out, errOut := e.run(upArgs("reviews.bookinfo")...); code != 0 {
		t.Errorf("up reviews.bookinfo after the API server came back: exit %d\n%s%s", code, out, errOut)
	}
	cancel()
	wg.Wait()

	var during, failed int
	for _, res := range probe.snapshot() {
		if res.at.After(stopAt) && res.at.Before(upAt) {
			during++
		}
		if !res.ok {
			failed++
		}
	}
	t.Logf("kube-apiserver down %s: stale reported from %s after the stop began; %d requests meanwhile, %d failed in all; fresh again %s after it was ready; a ServiceEntry created then was in the catalogue %s after its creation (%s after the API server was ready)",
		downFor.Round(time.Millisecond), staleSince.Sub(stopAt).Round(time.Millisecond), during, failed,
		freshAt.Sub(upAt).Round(time.Millisecond), seenAt.Sub(createdAt).Round(time.Millisecond), seenAt.Sub(upAt).Round(time.Millisecond))
	if failed > 0 {
		t.Errorf("%d requests to the joined service failed", failed)
	}
	if during == 0 {
		t.Error("no request was made during the outage")
	}
	if code, out, errOut := e.run(e.args("down")...); code != 0 {
		t.Errorf("down: exit %d\n%s%s", code, out, errOut)
	}
}
