package tui

import (
	"context"
	"errors"
	"testing"

	tea "charm.land/bubbletea/v2"
)

func TestTUIQuitWhileApplyingWaits(t *testing.T) { bubble(t, testTUIQuitWhileApplyingWaits) }

// q while a change of services is being applied cancels it and leaves only once it has
// returned: Leave never runs beside SetServices.
func testTUIQuitWhileApplyingWaits(t *testing.T) {
	m, f := joinedModel(t)
	press(t, m, "+")
	_, applyCmd := m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	if applyCmd == nil || !m.busy {
		t.Fatalf("enter in the add picker started nothing (busy %v)", m.busy)
	}
	_, cmd := m.Update(tea.KeyPressMsg{Code: 'q', Text: "q"})
	feed(t, m, cmd)
	if !m.pendingQuit || f.left != 0 {
		t.Fatalf("quit during the apply: pending %v, left %d", m.pendingQuit, f.left)
	}
	f.applyErr = context.Canceled
	feed(t, m, applyCmd)
	if len(f.applied) != 1 || !errors.Is(f.applyCtxErr, context.Canceled) {
		t.Fatalf("the apply ran %d times, its context %v; want once, cancelled", len(f.applied), f.applyCtxErr)
	}
	if f.left != 1 {
		t.Fatalf("after the apply returned: left %d, want 1", f.left)
	}
}
