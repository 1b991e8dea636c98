//go:build !windows

package main

import (
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/session"
)

// A TTL below the minimum is refused as bad input before the cluster or the CA is asked
// anything: no token, no certificate, nothing left behind (newEnv checks the machine).
func TestCertTTLBelowMinimum(t *testing.T) {
	e := newEnv(t)
	signed := e.tb.CASigned()
	f := e.joinFails(nil, append(e.joinArgs("ratings.bookinfo"), "--cert-ttl", "1s")...)
	f.check(t, exitUsage, []string{"--cert-ttl 1s", "minimum of " + session.MinCertTTL.String()}, []string{"--cert-ttl " + session.MinCertTTL.String()})
	if n := e.tb.CASigned() - signed; n != 0 {
		t.Errorf("the CA signed %d certificates", n)
	}
	for _, step := range []string{session.StepDiscover, session.StepToken, session.StepCertificate} {
		if strings.Contains(f.all, "✓ "+step) {
			t.Errorf("step %s ran:\n%s", step, f.all)
		}
	}
}
