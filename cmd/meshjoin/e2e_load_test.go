//go:build !windows

package main

import (
	"context"
	"sync"
	"testing"
	"time"
)

// loadProbe sends one request every interval and records when each answered and whether it
// succeeded: the steady load the fault tests hold a session under.
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

// firstOKAfter waits up to a minute for a request that succeeded after since, and returns when
// it answered; event names what happened at since, for the failure message.
func (p *loadProbe) firstOKAfter(t *testing.T, since time.Time, event string, stderr *syncBuffer) time.Time {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, res := range p.snapshot() {
			if res.ok && res.at.After(since) {
				return res.at
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request succeeded in the 60 s after %s:\n%s", event, stderr)
		}
	}
}

// loadPhases counts the requests before a fault, between it and the recovery, and after.
type loadPhases struct {
	before, failedBefore, between, failedBetween, failedAfter int
}

func (p *loadProbe) phases(fault, recovered time.Time) loadPhases {
	var ph loadPhases
	for _, res := range p.snapshot() {
		switch {
		case res.at.Before(fault):
			ph.before++
			if !res.ok {
				ph.failedBefore++
			}
		case res.at.Before(recovered):
			ph.between++
			if !res.ok {
				ph.failedBetween++
			}
		case !res.ok:
			ph.failedAfter++
		}
	}
	return ph
}
