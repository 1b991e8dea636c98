//go:build !windows

package main

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/session"
)

// faultCertTTL is the certificate lifetime of the CA fault test: the minimum meshjoin accepts,
// so the outage spans a renewal and the expiry in well under a minute.
const faultCertTTL = "30s"

// outageAddressRange is the CA and kube API fault tests' own loopback range (the other fault
// tests, here and on other people's runs, use faultAddressRange).
const outageAddressRange = "127.91.0.0/16"

// outageJoinArgs are joinArgs on outageAddressRange.
func (e *env) outageJoinArgs(services ...string) []string {
	return append(e.joinArgs(services...), "--address-range", outageAddressRange)
}

// urgentRetryMax is the longest wait between renewal attempts once the certificate is expired
// or within urgentWindow of it (the rule; certs/rotator.go keeps it).
const (
	urgentRetryMax = 10 * time.Second
	urgentWindow   = time.Minute
)

// The mesh CA (istiod) goes down right after a renewal and stays down past the next renewal
// point and the certificate's expiry, under steady requests. Requests keep succeeding with the
// certificate in use until it expires; the retries the session reports back off but never wait
// past the expiry nor more than 10 s within its last minute; status says what is wrong and
// when the certificate expires; once istiod answers again a new certificate comes at once and
// requests succeed. The recovery time is logged (docs/benchmarks.md).
func TestCAOutageAcrossRenewal(t *testing.T) {
	e := newEnv(t)
	r := e.startJoin(append(e.outageJoinArgs("ratings.bookinfo"), "--cert-ttl", faultCertTTL)...)
	addr := e.addr("ratings.bookinfo")
	sessionID := e.state().ID

	ctx, cancel := context.WithCancel(context.Background())
	probe := &loadProbe{}
	var wg sync.WaitGroup
	wg.Go(func() { probe.run(ctx, addr, 9080, 50*time.Millisecond) })
	defer func() { cancel(); wg.Wait() }()

	// Stop istiod just after a renewal: the certificate in use is fresh, its renewal point
	// (half-life) and expiry both fall inside the outage.
	renewals := e.state().Renewals
	st := e.waitState(90*time.Second, "a first renewal", func(st session.State) bool { return st.Renewals > renewals })
	notAfter := st.CertNotAfter
	if err := e.tb.StopIstiod(); err != nil {
		t.Fatal(err)
	}
	stopAt := time.Now()
	restarted := false
	defer func() {
		if !restarted { // leave the binary's testbed whole for the tests after this one
			e.tb.StartIstiod(context.Background())
		}
	}()

	// Collect the session's reported schedule until a retry after the expiry has failed too.
	attempts := map[time.Time]session.RenewalAttempt{}
	var statusBefore, statusAfter string
	for {
		st := e.state()
		if tr := st.RenewalTrouble; tr != nil {
			for _, a := range tr.Attempts {
				attempts[a.At] = a
			}
			if statusBefore == "" && time.Now().Before(notAfter) {
				statusBefore = e.statusOut()
			}
			if statusAfter == "" && tr.Attempts[len(tr.Attempts)-1].At.After(notAfter) {
				statusAfter = e.statusOut()
				break
			}
		}
		if time.Since(stopAt) > 3*time.Minute {
			t.Fatalf("no failed renewal after the expiry in 3 min of outage; state %+v\n%s", st.RenewalTrouble, r.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{"certificate renewal failing since", "cannot reach the mesh CA", "stays in use and expires at " + notAfter.Local().Format(time.TimeOnly), "next retry in"} {
		if !strings.Contains(statusBefore, want) {
			t.Errorf("status before the expiry lacks %q:\n%s", want, statusBefore)
		}
	}
	for _, want := range []string{"certificate renewal failing since", "EXPIRED at " + notAfter.Local().Format(time.TimeOnly), "next retry in"} {
		if !strings.Contains(statusAfter, want) {
			t.Errorf("status after the expiry lacks %q:\n%s", want, statusAfter)
		}
	}
	delays := checkSchedule(t, attempts, notAfter)

	if err := e.tb.StartIstiod(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	upAt := time.Now()
	st = e.waitState(60*time.Second, "a renewal after istiod came back", func(st session.State) bool { return st.LastRenewal.After(notAfter) })
	if st.RenewalTrouble != nil {
		t.Errorf("still reporting a renewal problem after renewing: %+v", st.RenewalTrouble)
	}
	if out := e.statusOut(); strings.Contains(out, "renewal failing") {
		t.Errorf("status after the recovery still shows the problem:\n%s", out)
	}
	renewedAt := st.LastRenewal
	okAgain := probe.firstOKAfter(t, renewedAt, "the renewal", r.stderr)
	time.Sleep(3 * time.Second) // steady again
	cancel()
	wg.Wait()

	ph := probe.phases(notAfter, okAgain) // before the expiry, from it to the recovery, after
	t.Logf("istiod down %s (from %s before the expiry); %d renewal attempts meanwhile, waits %v; %d requests before the expiry (%d failed), %d from the expiry to the recovery (%d failed), %d failed after; new certificate %s after istiod answered, first request with it %s after",
		upAt.Sub(stopAt).Round(time.Second), notAfter.Sub(stopAt).Round(time.Second), len(attempts), delays,
		ph.before, ph.failedBefore, ph.between, ph.failedBetween, ph.failedAfter,
		renewedAt.Sub(upAt).Round(time.Millisecond), okAgain.Sub(upAt).Round(time.Millisecond))
	if ph.failedBefore > 0 {
		t.Errorf("%d requests failed while the certificate in use was still valid", ph.failedBefore)
	}
	if ph.failedAfter > 0 {
		t.Errorf("%d requests failed after the first success with the new certificate", ph.failedAfter)
	}
	select {
	case <-r.done:
		t.Fatalf("the session ended during the outage:\n%s", r.stderr)
	default:
	}
	if e.state().ID != sessionID {
		t.Error("the session was restarted")
	}
	r.interrupt(t)
}

// checkSchedule checks the waits the session scheduled after each failed attempt: growing
// (back-off), never past the expiry while the certificate was valid, at most urgentRetryMax
// once within urgentWindow of the expiry or past it. It returns the waits, in order.
func checkSchedule(t *testing.T, attempts map[time.Time]session.RenewalAttempt, notAfter time.Time) []time.Duration {
	t.Helper()
	var sorted []session.RenewalAttempt
	for _, a := range attempts {
		sorted = append(sorted, a)
	}
	slices.SortFunc(sorted, func(a, b session.RenewalAttempt) int { return a.At.Compare(b.At) })
	var delays []time.Duration
	grew := false
	for i, a := range sorted {
		delays = append(delays, a.Retry)
		next := a.At.Add(a.Retry)
		if a.At.Before(notAfter) && next.After(notAfter) {
			t.Errorf("attempt at %s scheduled the next at %s, after the expiry %s", a.At.Format(time.StampMilli), next.Format(time.StampMilli), notAfter.Format(time.StampMilli))
		}
		if !a.At.Before(notAfter.Add(-urgentWindow)) && a.Retry > urgentRetryMax {
			t.Errorf("attempt at %s (%s before the expiry) waits %s, more than %s", a.At.Format(time.StampMilli), notAfter.Sub(a.At).Round(time.Millisecond), a.Retry, urgentRetryMax)
		}
		if i > 0 && a.Retry > sorted[i-1].Retry {
			grew = true
		}
	}
	if len(sorted) < 3 || !grew {
		t.Errorf("want at least 3 failed attempts with growing waits, got %v", delays)
	}
	return delays
}

// waitState polls the state file until ok says yes, failing the test after limit.
func (e *env) waitState(limit time.Duration, what string, ok func(session.State) bool) session.State {
	e.t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		if st := e.state(); ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no %s in %s:\n%s", what, limit, e.last.stderr)
		}
	}
}

// statusOut is `meshjoin status`'s output; it must succeed.
func (e *env) statusOut() string {
	e.t.Helper()
	code, out, errOut := e.run(e.args("status")...)
	if code != 0 {
		e.t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	return out
}
