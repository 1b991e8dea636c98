package session

import (
	"strings"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/mesh"
)

// The state follows the catalogue's freshness, and says when it changed (to save and log).
func TestStaleness(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.Local)
	down := mesh.Freshness{StaleSince: t0, Cause: "cluster API unreachable: refused"}
	if got, changed := staleness(nil, mesh.Freshness{}); got != nil || changed {
		t.Errorf("fresh stays fresh: %v %v", got, changed)
	}
	got, changed := staleness(nil, down)
	if got == nil || !got.Since.Equal(t0) || got.Cause != down.Cause || !changed {
		t.Fatalf("going stale: %+v %v", got, changed)
	}
	if again, changed := staleness(got, down); again != got || changed {
		t.Errorf("staying stale: %+v %v", again, changed)
	}
	if back, changed := staleness(got, mesh.Freshness{}); back != nil || !changed {
		t.Errorf("fresh again: %+v %v", back, changed)
	}
	if !strings.Contains(got.Summary(), "stale since 12:00:00 (cluster API unreachable: refused)") {
		t.Errorf("summary %q", got.Summary())
	}
}
