//go:build !windows

package main

import (
	"context"
	"sync"
	"testing"
	"time"
)

// outageDuration is how long the east-west gateway stays down: the 30 s, long enough
// for every timer a connection pool or health check might start.
const outageDuration = 30 * time.Second

// The east-west gateway goes down for 30 s under steady requests and comes back: requests
// fail only while it is down, succeed again once it answers, and the session (and its Envoy)
// never restart. The recovery time is logged (docs/benchmarks.md).
func TestGatewayOutageUnderLoad(t *testing.T) {
	e := newEnv(t)
	r := e.startJoin(e.faultJoinArgs("ratings.bookinfo")...)
	addr := e.addr("ratings.bookinfo")
	sessionID, admin := e.state().ID, e.admin()

	ctx, cancel := context.WithCancel(context.Background())
	probe := &loadProbe{}
	var wg sync.WaitGroup
	wg.Go(func() { probe.run(ctx, addr, 9080, 50*time.Millisecond) })
	defer func() { cancel(); wg.Wait() }()

	time.Sleep(2 * time.Second)
	stopAt := time.Now()
	e.tb.StopGateway()
	restarted := false
	defer func() {
		if !restarted { // leave the binary's testbed whole for the tests after this one
			e.tb.StartGateway(context.Background())
		}
	}()
	time.Sleep(outageDuration)
	if err := e.tb.StartGateway(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	upAt := time.Now()
	recoveredAt := probe.firstOKAfter(t, upAt, "the gateway came back", r.stderr)
	time.Sleep(3 * time.Second) // steady again
	cancel()
	wg.Wait()

	ph := probe.phases(stopAt, recoveredAt)
	t.Logf("gateway down %s: %d requests before (%d failed), %d while down or recovering (%d failed), %d failed after the first success; first success %s after the gateway answered",
		outageDuration, ph.before, ph.failedBefore, ph.between, ph.failedBetween, ph.failedAfter, recoveredAt.Sub(upAt).Round(time.Millisecond))
	if ph.failedBefore > 0 || ph.failedAfter > 0 {
		t.Errorf("requests failed outside the outage: %d before it, %d after the first success", ph.failedBefore, ph.failedAfter)
	}
	if ph.failedBetween == 0 {
		t.Error("no request failed while the gateway was down: the outage did not happen")
	}
	select {
	case <-r.done:
		t.Fatalf("the session ended during the outage:\n%s", r.stderr)
	default:
	}
	if e.state().ID != sessionID {
		t.Error("the session was restarted")
	}
	if up := envoyUptime(t, admin); up < outageDuration {
		t.Errorf("the local Envoy restarted during the outage (uptime %s)", up)
	}
	r.interrupt(t)
}
