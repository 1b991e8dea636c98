package session

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/certs"
)

// RenewalTrouble keeps the streak's start and the latest attempts (at most attemptsKept),
// never changes a value a State copy may hold, and words the outlook for status.
func TestRenewalTroubleRecord(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.Local)
	notAfter := t0.Add(30 * time.Second)
	var tr *RenewalTrouble
	var first *RenewalTrouble
	for i := range attemptsKept + 5 {
		at := t0.Add(time.Duration(i) * time.Second)
		tr = tr.record(&certs.Failure{Err: errors.New("cannot reach the mesh CA"), Since: t0, At: at, Retry: 2 * time.Second, CertNotAfter: notAfter})
		if i == 0 {
			first = tr
		}
	}
	if len(first.Attempts) != 1 {
		t.Errorf("recording changed an earlier value: %d attempts", len(first.Attempts))
	}
	if len(tr.Attempts) != attemptsKept || !tr.Attempts[len(tr.Attempts)-1].At.Equal(t0.Add((attemptsKept+4)*time.Second)) {
		t.Errorf("kept %d attempts ending %v", len(tr.Attempts), tr.Attempts[len(tr.Attempts)-1].At)
	}
	if !tr.NextAttempt.Equal(t0.Add((attemptsKept + 6) * time.Second)) {
		t.Errorf("next attempt %v", tr.NextAttempt)
	}
	valid := tr.Summary(t0.Add(10 * time.Second))
	for _, want := range []string{"certificate renewal failing since 12:00:00", "cannot reach the mesh CA", "expires at 12:00:30"} {
		if !strings.Contains(valid, want) {
			t.Errorf("summary %q lacks %q", valid, want)
		}
	}
	if got := tr.Summary(notAfter); !strings.Contains(got, "EXPIRED at 12:00:30") || !strings.Contains(got, "next retry in 8s") {
		t.Errorf("summary at the expiry: %q", got)
	}
}
