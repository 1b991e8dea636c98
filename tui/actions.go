package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/meshjoin/meshjoin/session"
)

// What the keys of keys.go do, and when they may (the enabled conditions keep the help
// honest: a key is listed exactly when it acts).

func (m *Model) openHelp() tea.Cmd { m.showHelp = true; return nil }

// Identity chooser.

func (m *Model) hasIDInput() bool { return m.idInput != "" }
func (m *Model) noIDInput() bool  { return m.idInput == "" }
func (m *Model) canIDUp() bool    { return m.idInput == "" && m.idCursor > 0 }
func (m *Model) canIDDown() bool  { return m.idInput == "" && m.idCursor < len(m.accounts)-1 }

func (m *Model) idUp() tea.Cmd        { m.idCursor--; return nil }
func (m *Model) idDown() tea.Cmd      { m.idCursor++; return nil }
func (m *Model) idClear() tea.Cmd     { m.idInput = ""; return nil }
func (m *Model) idBackspace() tea.Cmd { m.idInput = dropLast(m.idInput); return nil }

func (m *Model) typeIdentity(text string) { m.idInput += text }

func (m *Model) idUse() tea.Cmd {
	id := strings.TrimSpace(m.idInput)
	if id == "" && m.idCursor < len(m.accounts) {
		id = m.accounts[m.idCursor]
	}
	if id == "" {
		m.status = "type an identity as namespace/serviceaccount"
		return nil
	}
	m.info.Identity = id
	m.opts.Identity = id
	m.screen = screenPicker
	m.busy = true
	m.status = ""
	return tea.Batch(m.open(id), m.spinner())
}

func dropLast(s string) string {
	r := []rune(s)
	if len(r) == 0 {
		return s
	}
	return string(r[:len(r)-1])
}

// Picker.

func (m *Model) listShown() bool { return m.loaded && m.failed == "" && len(m.pick.services) > 0 }
func (m *Model) onRow() bool     { return m.listShown() && m.pick.cursor < len(m.pick.items) }
func (m *Model) canUp() bool     { return m.listShown() && m.pick.cursor > 0 }
func (m *Model) canDown() bool   { return m.listShown() && m.pick.cursor < len(m.pick.items)-1 }
func (m *Model) hasFilter() bool { return m.pick.filter != "" }

func (m *Model) namespaceSelectable() bool { return m.onRow() && len(m.pick.namespaceKeys()) > 0 }
func (m *Model) canJoin() bool {
	return !m.busy && m.loaded && m.failed == "" && m.phase == phaseNotJoined
}
func (m *Model) canApply() bool      { return !m.busy && m.loaded && m.phase == phaseJoined }
func (m *Model) canRetryOpen() bool  { return !m.busy && m.failed != "" && m.phase == phaseNotJoined }
func (m *Model) canQuitPicker() bool { return !(m.phase == phaseJoined && m.busy) }
func (m *Model) canBackToDashboard() bool {
	return m.pick.filter == "" && m.phase == phaseJoined
}

func (m *Model) up() tea.Cmd       { m.pick.moveTo(m.pick.cursor - 1); return nil }
func (m *Model) down() tea.Cmd     { m.pick.moveTo(m.pick.cursor + 1); return nil }
func (m *Model) pageUp() tea.Cmd   { m.pick.moveTo(m.pick.cursor - m.pick.page()); return nil }
func (m *Model) pageDown() tea.Cmd { m.pick.moveTo(m.pick.cursor + m.pick.page()); return nil }
func (m *Model) top() tea.Cmd      { m.pick.moveTo(0); return nil }
func (m *Model) bottom() tea.Cmd   { m.pick.moveTo(len(m.pick.items) - 1); return nil }

func (m *Model) startFilter() tea.Cmd     { m.pick.filtering = true; return nil }
func (m *Model) clearFilter() tea.Cmd     { m.pick.clearFilter(); return nil }
func (m *Model) backToDashboard() tea.Cmd { m.screen = screenDashboard; return nil }

func (m *Model) toggle() tea.Cmd {
	m.status = ""
	if refused := m.pick.toggle(); refused != "" {
		m.status = "✗ " + refused
	}
	return nil
}

func (m *Model) toggleNamespace() tea.Cmd { m.pick.toggleNamespace(); return nil }

// retryOpen connects again after a failed connection.
func (m *Model) retryOpen() tea.Cmd {
	m.failed = ""
	m.busy = true
	return tea.Batch(m.open(m.opts.Identity), m.spinner())
}

// join starts the session with the selection, or applies it when already joined.
func (m *Model) join() tea.Cmd {
	keys := m.pick.selectedKeys()
	if m.phase == phaseJoined {
		m.busy = true
		m.status = fmt.Sprintf("applying %d services …", len(keys))
		m.screen = screenDashboard
		return tea.Batch(m.apply(keys), m.spinner())
	}
	if len(keys) == 0 {
		m.status = "nothing selected: space selects a service, a a namespace"
		return nil
	}
	m.phase = phaseJoining
	m.screen = screenProgress
	m.busy = true
	m.status = ""
	m.steps = nil
	for _, n := range []string{session.StepToken, session.StepCertificate, session.StepEnvoyStart, session.StepConfig, session.StepHosts} {
		m.steps = append(m.steps, step{name: n})
	}
	return tea.Batch(m.start(keys), m.spinner())
}

// Filter.

func (m *Model) typeFilter(text string) {
	if text != " " { // space toggles (when on a row), it is never part of a filter
		m.pick.setFilter(m.pick.filter + text)
	}
}

func (m *Model) filterBackspace() tea.Cmd { m.pick.setFilter(dropLast(m.pick.filter)); return nil }
func (m *Model) endFilter() tea.Cmd       { m.pick.filtering = false; return nil }
func (m *Model) dropFilter() tea.Cmd {
	m.pick.filtering = false
	m.pick.clearFilter()
	return nil
}

// Progress.

func (m *Model) joinFailed() bool { return !m.busy && m.failed != "" }

// backToPicker connects again: the failed Start closed the session.
func (m *Model) backToPicker() tea.Cmd {
	m.screen = screenPicker
	m.failed = ""
	m.busy = true
	m.steps = nil
	return tea.Batch(m.open(m.opts.Identity), m.spinner())
}

// Dashboard.

func (m *Model) idle() bool        { return !m.busy }
func (m *Model) idleOnRow() bool   { return !m.busy && m.dashCursor < len(m.joined) }
func (m *Model) canDashUp() bool   { return m.dashCursor > 0 }
func (m *Model) canDashDown() bool { return m.dashCursor < len(m.joined)-1 }
func (m *Model) hasTry() bool {
	return m.dashCursor < len(m.joined) && m.joined[m.dashCursor].TryCommand() != ""
}

func (m *Model) dashUp() tea.Cmd     { m.dashCursor--; return nil }
func (m *Model) dashDown() tea.Cmd   { m.dashCursor++; return nil }
func (m *Model) toggleLogs() tea.Cmd { m.showLogs = !m.showLogs; return nil }

func (m *Model) addServices() tea.Cmd {
	var keys []string
	for _, js := range m.joined {
		keys = append(keys, js.Key)
	}
	m.pick.selectOnly(keys)
	m.screen = screenPicker
	m.status = "space toggles, enter applies, esc goes back"
	return nil
}

func (m *Model) removeService() tea.Cmd {
	gone := m.joined[m.dashCursor].Key
	var keys []string
	for _, js := range m.joined {
		if js.Key != gone {
			keys = append(keys, js.Key)
		}
	}
	delete(m.pick.selected, gone)
	m.busy = true
	m.status = "removing " + gone + " …"
	return tea.Batch(m.apply(keys), m.spinner())
}

// attachedHint tells the keys of an attached dashboard.
const attachedHint = "background session: q detaches (it keeps running), x ends it"

func (m *Model) attached() bool    { return m.opts.Attached }
func (m *Model) notAttached() bool { return !m.opts.Attached }
func (m *Model) canEnd() bool {
	_, ok := m.opts.Backend.(Ender)
	return ok && m.opts.Attached && !m.busy
}
func (m *Model) canBackground() bool {
	return !m.opts.Attached && m.opts.OnBackground != nil && !m.busy && m.phase == phaseJoined
}

// end ends an attached background session (q only detaches).
func (m *Model) end() tea.Cmd {
	e := m.opts.Backend.(Ender)
	m.quitting, m.phase = true, phaseLeaving
	m.status = "ending the background session …"
	return tea.Batch(func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		return leftMsg{err: e.End(ctx)}
	}, m.spinner())
}

// background leaves this process's session and hands its services to the caller, who starts
// them in the background.
func (m *Model) background() tea.Cmd {
	var keys []string
	for _, js := range m.joined {
		keys = append(keys, js.Key)
	}
	m.opts.OnBackground(keys)
	m.status = "leaving here; the session starts again in the background …"
	return m.quit()
}

func (m *Model) copyTry() tea.Cmd {
	c := m.joined[m.dashCursor].TryCommand()
	m.status = "copied: " + c
	return tea.SetClipboard(c)
}
