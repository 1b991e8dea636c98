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

// loadProbe sends one request every interval and records when each answered and whether it
// succeeded.
type loadProbe struct {
	mu      sync.Mutex
	results []probeResult
}

type probeResult struct {
	at time.Time
	ok bool
}

func (p *loadProbe) run(ctx context.Context, addr string, port int, interval time.Duration) {
	for ctx.Err() == nil {
		_, err := getHTTP(addr, port, "/")
		p.mu.Lock()
		p.results = append(p.results, probeResult{at: time.Now(), ok: err == nil})
		p.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}

func (p *loadProbe) snapshot() []probeResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]probeResult(nil), p.results...)
}

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
	var recoveredAt time.Time
	for deadline := upAt.Add(60 * time.Second); recoveredAt.IsZero(); time.Sleep(20 * time.Millisecond) {
		for _, res := range probe.snapshot() {
			if res.ok && res.at.After(upAt) {
				recoveredAt = res.at
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request succeeded in the 60 s after the gateway came back:\n%s", r.stderr)
		}
	}
	time.Sleep(3 * time.Second) // steady again
	cancel()
	wg.Wait()

	results := probe.snapshot()
	var before, during, failedBefore, failedDuring, failedAfter int
	for _, res := range results {
		switch {
		case res.at.Before(stopAt):
			before++
			if !res.ok {
				failedBefore++
			}
		case res.at.Before(recoveredAt):
			during++
			if !res.ok {
				failedDuring++
			}
		case !res.ok:
			failedAfter++
		}
	}
	t.Logf("gateway down %s: %d requests before (%d failed), %d while down or recovering (%d failed), %d failed after the first success; first success %s after the gateway answered",
		outageDuration, before, failedBefore, during, failedDuring, failedAfter, recoveredAt.Sub(upAt).Round(time.Millisecond))
	if failedBefore > 0 || failedAfter > 0 {
		t.Errorf("requests failed outside the outage: %d before it, %d after the first success", failedBefore, failedAfter)
	}
	if failedDuring == 0 {
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
