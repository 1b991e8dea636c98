package tui

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

func TestTUIInitOpensAndListsByNamespace(t *testing.T) {
	bubble(t, testTUIInitOpensAndListsByNamespace)
}

func testTUIInitOpensAndListsByNamespace(t *testing.T) {
	m, f := opened(t)
	if got := f.opened; !slices.Equal(got, []string{"dev/alice"}) {
		t.Fatalf("opened %v", got)
	}
	if m.info.TrustDomain != "cluster.local" || m.phase != phaseNotJoined || m.screen != screenPicker {
		t.Fatalf("info %+v phase %v screen %v", m.info, m.phase, m.screen)
	}
	// three namespaces headers + six services
	if len(m.pick.items) != 9 || m.pick.items[0].svc != -1 || m.pick.items[0].ns != "bookinfo" {
		t.Fatalf("items %+v", m.pick.items)
	}
	if m.cursorKey() != "productpage.bookinfo" {
		t.Fatalf("cursor on %q", m.cursorKey())
	}
}

func TestTUIFilterFuzzySelectAndJoin(t *testing.T) { bubble(t, testTUIFilterFuzzySelectAndJoin) }

func testTUIFilterFuzzySelectAndJoin(t *testing.T) {
	m, f := opened(t)
	press(t, m, "/")
	if !m.pick.filtering {
		t.Fatal("/ does not start filtering")
	}
	typeText(t, m, "rtngs") // fuzzy: letters in order
	if got := shownKeys(m); !slices.Equal(got, []string{"ratings.bookinfo"}) {
		t.Fatalf("filter rtngs shows %v", got)
	}
	press(t, m, "enter", "space")
	if m.pick.filtering || !m.pick.selected["ratings.bookinfo"] {
		t.Fatalf("filtering %v selected %v", m.pick.filtering, m.pick.selected)
	}
	press(t, m, "/", "backspace", "backspace", "backspace", "backspace", "backspace")
	typeText(t, m, "ledger")
	press(t, m, "enter", "space")
	press(t, m, "esc") // clears the filter
	if m.pick.filter != "" || len(shownKeys(m)) != 6 {
		t.Fatalf("esc left filter %q", m.pick.filter)
	}
	_, cmd := m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	if m.screen != screenProgress || m.phase != phaseJoining || m.stateText() != "joining" {
		t.Fatalf("enter: screen %v phase %v", m.screen, m.phase)
	}
	feed(t, m, cmd)
	if len(f.started) != 1 || !slices.Equal(f.started[0], []string{"ratings.bookinfo", "ledger.payments"}) {
		t.Fatalf("started %v", f.started)
	}
}

func TestTUIStartedShowsDashboardWithStatus(t *testing.T) {
	bubble(t, testTUIStartedShowsDashboardWithStatus)
}

func testTUIStartedShowsDashboardWithStatus(t *testing.T) {
	m, f := opened(t)
	f.status = dashStatus(2)
	press(t, m, "down", "down", "space", "enter")
	if m.screen != screenDashboard || m.phase != phaseJoined {
		t.Fatalf("after join: screen %v phase %v (%s)", m.screen, m.phase, m.failed)
	}
	if len(m.joined) != 2 || m.stateText() != "joined 2" {
		t.Fatalf("joined %v", m.joined)
	}
	if m.now != fixedNow() {
		t.Fatalf("now %v", m.now)
	}
}

func dashStatus(n int) Status {
	all := []session.ServiceStatus{
		{JoinedService: session.JoinedService{Key: "ratings.bookinfo", Addr: "127.77.0.10", Names: []string{"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc", "ratings.bookinfo"},
			Ports: []session.Port{{Number: 9080, Protocol: "http"}}}, Requests: 42, Errors: 1, P50: 2300 * time.Microsecond, P50Known: true},
		{JoinedService: session.JoinedService{Key: "ledger.payments", Addr: "127.77.0.11", Names: []string{"ledger.payments.svc.cluster.local", "ledger.payments.svc", "ledger.payments"},
			Ports: []session.Port{{Number: 7070, Protocol: "http2"}}}, Requests: 7},
		{JoinedService: session.JoinedService{Key: "db.payments", Addr: "127.77.0.12", Names: []string{"db.payments.svc.cluster.local", "db.payments.svc", "db.payments"},
			Ports: []session.Port{{Number: 3306, Protocol: "tcp"}}}, Requests: 3, P50Known: true},
	}
	return Status{Services: all[:n], CertNotAfter: fixedNow().Add(59*time.Minute + 30*time.Second), Renewals: 1}
}

// joinedModel is a model on the dashboard with ratings and ledger joined.
func joinedModel(t *testing.T) (*Model, *fakeBackend) {
	t.Helper()
	m, f := opened(t)
	f.status = dashStatus(2)
	m.pick.selected = map[string]bool{"ratings.bookinfo": true, "ledger.payments": true}
	press(t, m, "enter")
	if m.screen != screenDashboard {
		t.Fatalf("not on the dashboard: %v %s", m.screen, m.failed)
	}
	return m, f
}

func TestTUIDashboardAddRemoveCopy(t *testing.T) { bubble(t, testTUIDashboardAddRemoveCopy) }

func testTUIDashboardAddRemoveCopy(t *testing.T) {
	m, f := joinedModel(t)
	press(t, m, "+")
	if m.screen != screenPicker || !m.pick.selected["ratings.bookinfo"] || !m.pick.selected["ledger.payments"] {
		t.Fatalf("+ : screen %v selected %v", m.screen, m.pick.selected)
	}
	press(t, m, "/")
	typeText(t, m, "db")
	press(t, m, "enter", "space", "enter")
	if len(f.applied) != 1 || !slices.Equal(f.applied[0], []string{"ratings.bookinfo", "db.payments", "ledger.payments"}) {
		t.Fatalf("applied %v", f.applied)
	}
	if m.screen != screenDashboard || m.busy || m.status != "applied" {
		t.Fatalf("after apply: screen %v busy %v status %q", m.screen, m.busy, m.status)
	}
	f.status = dashStatus(2)
	press(t, m, "down", "d") // removes ledger (second row)
	if len(f.applied) != 2 || !slices.Equal(f.applied[1], []string{"ratings.bookinfo"}) {
		t.Fatalf("d applied %v", f.applied)
	}
	press(t, m, "up", "c")
	if m.status != "copied: curl http://ratings.bookinfo:9080/" {
		t.Fatalf("c: status %q", m.status)
	}
	// the copy is an OSC 52 clipboard command carrying the command shown
	_, cmd := m.Update(tea.KeyPressMsg{Code: 'c', Text: "c"})
	if cmd == nil {
		t.Fatal("c returns no clipboard command")
	}
	msg := cmd()
	if v := reflect.ValueOf(msg); reflect.TypeOf(msg).Name() != "setClipboardMsg" || v.String() != "curl http://ratings.bookinfo:9080/" {
		t.Fatalf("c: %T %v, want the clipboard set to the curl command", msg, msg)
	}
}

func TestTUIApplyFailureKeepsSession(t *testing.T) { bubble(t, testTUIApplyFailureKeepsSession) }

func testTUIApplyFailureKeepsSession(t *testing.T) {
	m, f := joinedModel(t)
	f.applyErr = errors.New("unknown service nope.x")
	press(t, m, "+", "enter")
	if m.phase != phaseJoined || !strings.HasPrefix(m.status, "✗ Error: unknown service") {
		t.Fatalf("phase %v status %q", m.phase, m.status)
	}
}

func TestTUILogsHelpAndQuit(t *testing.T) { bubble(t, testTUILogsHelpAndQuit) }

func testTUILogsHelpAndQuit(t *testing.T) {
	m, f := joinedModel(t)
	m.opts.Logs = func() []string { return []string{"level=INFO msg=hello"} }
	press(t, m, "l")
	if !m.showLogs {
		t.Fatal("l does not show logs")
	}
	feed(t, m, m.readStatus())
	if !slices.Equal(m.logLines, []string{"level=INFO msg=hello"}) {
		t.Fatalf("log lines %v", m.logLines)
	}
	press(t, m, "?")
	if !m.showHelp {
		t.Fatal("? does not show help")
	}
	press(t, m, "x")
	if m.showHelp {
		t.Fatal("a key does not close help")
	}
	if !press(t, m, "q") {
		t.Fatal("q did not quit")
	}
	if f.left != 1 || f.closed != 0 || m.phase != phaseLeaving {
		t.Fatalf("left %d closed %d phase %v", f.left, f.closed, m.phase)
	}
}

func TestTUICtrlCLeavesWhenJoined(t *testing.T) { bubble(t, testTUICtrlCLeavesWhenJoined) }

func testTUICtrlCLeavesWhenJoined(t *testing.T) {
	m, f := joinedModel(t)
	if !press(t, m, "ctrl+c") || f.left != 1 {
		t.Fatalf("ctrl+c: left %d", f.left)
	}
}

func TestTUIQuitBeforeJoiningCloses(t *testing.T) { bubble(t, testTUIQuitBeforeJoiningCloses) }

func testTUIQuitBeforeJoiningCloses(t *testing.T) {
	m, f := opened(t)
	if !press(t, m, "q") || f.closed != 1 || f.left != 0 {
		t.Fatalf("closed %d left %d", f.closed, f.left)
	}
}

func TestTUIToggleNamespaceSkipsUnreachable(t *testing.T) {
	bubble(t, testTUIToggleNamespaceSkipsUnreachable)
}

func testTUIToggleNamespaceSkipsUnreachable(t *testing.T) {
	m, _ := opened(t)
	press(t, m, "a")
	if len(m.pick.selected) != 3 {
		t.Fatalf("a selected %v", m.pick.selected)
	}
	press(t, m, "a")
	if len(m.pick.selected) != 0 {
		t.Fatalf("second a left %v", m.pick.selected)
	}
	press(t, m, "/")
	typeText(t, m, "kubernetes")
	press(t, m, "enter", "space")
	if len(m.pick.selected) != 0 || !strings.Contains(m.status, "no sidecar injection") {
		t.Fatalf("unreachable selected %v, status %q", m.pick.selected, m.status)
	}
	if d := m.pick.detail(newStyles(false)); !strings.Contains(d, "not reachable: namespace default has no sidecar injection") {
		t.Fatalf("detail %q", d)
	}
	press(t, m, "a") // namespace of unreachable services only: nothing
	if len(m.pick.selected) != 0 {
		t.Fatalf("a selected unreachable %v", m.pick.selected)
	}
}

func TestTUIEnterWithoutSelection(t *testing.T) { bubble(t, testTUIEnterWithoutSelection) }

func testTUIEnterWithoutSelection(t *testing.T) {
	m, f := opened(t)
	press(t, m, "enter")
	if len(f.started) != 0 || !strings.Contains(m.status, "nothing selected") {
		t.Fatalf("started %v status %q", f.started, m.status)
	}
}

func TestTUICatalogChangesFollowed(t *testing.T) { bubble(t, testTUICatalogChangesFollowed) }

func testTUICatalogChangesFollowed(t *testing.T) {
	m, f := opened(t)
	press(t, m, "down", "down") // ratings
	f.mu.Lock()
	f.services = append([]mesh.Service{svc("details", "bookinfo", true, mesh.Port{Number: 9080, Protocol: "HTTP"})}, f.services...)
	f.services = slices.DeleteFunc(f.services, func(s mesh.Service) bool { return s.Name == "db" })
	// The listener armed by Init waits on the old channel for a feed that has returned: a new
	// channel for the one armed below; closing the old one lets the first end.
	old := f.changes
	defer close(old)
	f.changes = make(chan struct{}, 1)
	f.mu.Unlock()
	cmd := m.listenCatalog()
	f.changes <- struct{}{}
	feed(t, m, cmd)
	got := shownKeys(m)
	if !slices.Contains(got, "details.bookinfo") || slices.Contains(got, "db.payments") {
		t.Fatalf("after change: %v", got)
	}
	if m.cursorKey() != "ratings.bookinfo" {
		t.Fatalf("cursor moved to %q", m.cursorKey())
	}
}

func TestTUIProgressEventsAndFailure(t *testing.T) { bubble(t, testTUIProgressEventsAndFailure) }

func testTUIProgressEventsAndFailure(t *testing.T) {
	m, f := opened(t)
	f.startErr = errors.New("create token for dev/alice: forbidden")
	m.pick.selected["ratings.bookinfo"] = true
	_, cmd := m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	// the start command is not run yet: feed the steps first
	m.Update(progressMsg{Step: session.StepToken})
	if !m.steps[0].running {
		t.Fatalf("token not running: %+v", m.steps)
	}
	m.Update(progressMsg{Step: session.StepToken, Done: true, Duration: 12 * time.Millisecond, Detail: "dev/alice"})
	if s := m.steps[0]; !s.done || s.duration != 12*time.Millisecond {
		t.Fatalf("token step %+v", s)
	}
	feed(t, m, cmd)
	if m.phase != phaseNotJoined || !strings.Contains(m.failed, "forbidden") || !strings.Contains(m.failed, "Next: ask your cluster admin") {
		t.Fatalf("failure: phase %v failed %q", m.phase, m.failed)
	}
	f.startErr = nil
	press(t, m, "enter") // back to the picker: connects again
	if m.screen != screenPicker || len(f.opened) != 2 || !m.loaded {
		t.Fatalf("enter after failure: screen %v opened %v", m.screen, f.opened)
	}
}

func TestTUIOpenFailureShowsHint(t *testing.T) { bubble(t, testTUIOpenFailureShowsHint) }

func testTUIOpenFailureShowsHint(t *testing.T) {
	f := newFake()
	f.openErr = errors.New("list services: forbidden")
	m := New(Options{Backend: f, Identity: "dev/alice", Hint: func(error) string { return "check RBAC" }})
	feed(t, m, m.Init())
	if !strings.Contains(m.failed, "forbidden") || !strings.Contains(m.failed, "Next: check RBAC") {
		t.Fatalf("failed %q", m.failed)
	}
	f.openErr = nil
	press(t, m, "enter")
	if m.failed != "" || len(m.pick.services) != 6 {
		t.Fatalf("retry: %q %d", m.failed, len(m.pick.services))
	}
}

func TestTUIProxyDiesLeaves(t *testing.T) { bubble(t, testTUIProxyDiesLeaves) }

func testTUIProxyDiesLeaves(t *testing.T) {
	m, f := joinedModel(t)
	f.closeProxy()
	if !feed(t, m, m.listenProxy()) || f.left != 1 {
		t.Fatalf("left %d", f.left)
	}
}

func TestTUIIdentityChooser(t *testing.T) { bubble(t, testTUIIdentityChooser) }

func testTUIIdentityChooser(t *testing.T) {
	f := newFake()
	f.accounts = []string{"dev/alice", "dev/bob"}
	m := New(Options{Backend: f})
	feed(t, m, m.Init())
	if m.screen != screenIdentity || !slices.Equal(m.accounts, f.accounts) {
		t.Fatalf("screen %v accounts %v", m.screen, m.accounts)
	}
	press(t, m, "down", "enter")
	if !slices.Equal(f.opened, []string{"dev/bob"}) || m.screen != screenPicker {
		t.Fatalf("opened %v", f.opened)
	}

	f2 := newFake()
	m2 := New(Options{Backend: f2})
	feed(t, m2, m2.Init())
	typeText(t, m2, "qa/carol")
	press(t, m2, "enter")
	if !slices.Equal(f2.opened, []string{"qa/carol"}) {
		t.Fatalf("typed identity: opened %v", f2.opened)
	}
}

func TestTUIResizeKeepsCursorVisible(t *testing.T) { bubble(t, testTUIResizeKeepsCursorVisible) }

func testTUIResizeKeepsCursorVisible(t *testing.T) {
	m, _ := opened(t)
	press(t, m, "G")
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 8})
	if m.pick.cursor < m.pick.offset || m.pick.cursor >= m.pick.offset+m.pick.height {
		t.Fatalf("cursor %d offset %d height %d", m.pick.cursor, m.pick.offset, m.pick.height)
	}
	if got := strings.Count(m.Render(), "\n") + 1; got != 8 {
		t.Fatalf("%d lines at height 8", got)
	}
}

func TestTUIStatusTickRefreshes(t *testing.T) { bubble(t, testTUIStatusTickRefreshes) }

func testTUIStatusTickRefreshes(t *testing.T) {
	m, f := joinedModel(t)
	f.status = dashStatus(3)
	_, cmd := m.Update(statusTickMsg{})
	feed(t, m, cmd)
	if len(m.joined) != 3 {
		t.Fatalf("tick did not refresh: %d", len(m.joined))
	}
}

// A panic inside the model still leaves the session (Bubble Tea restores the terminal).
func TestTUIRunLeavesAfterPanic(t *testing.T) {
	f := newFake()
	f.openErr = errors.New("boom")
	in, out := strings.NewReader(""), &strings.Builder{}
	err := Run(context.Background(), Options{Backend: f, Identity: "dev/alice",
		Hint:           func(error) string { panic("a bug in the model") },
		programOptions: []tea.ProgramOption{tea.WithInput(in), tea.WithOutput(out), tea.WithWindowSize(80, 24)}})
	if err == nil || !errors.Is(err, tea.ErrProgramPanic) {
		t.Fatalf("Run = %v, want the panic reported", err)
	}
	if f.left != 1 {
		t.Fatalf("left %d times after the panic", f.left)
	}
}

func TestTUIP50Format(t *testing.T) {
	for _, c := range []struct {
		d     time.Duration
		known bool
		want  string
	}{{0, false, "–"}, {0, true, "<1ms"}, {2300 * time.Microsecond, true, "2.3ms"}, {12 * time.Second, true, "12s"}} {
		if got := fmtP50(c.d, c.known); got != c.want {
			t.Errorf("fmtP50(%v, %v) = %q, want %q", c.d, c.known, got, c.want)
		}
	}
}

func TestTUIMovesAndEscBackToDashboard(t *testing.T) { bubble(t, testTUIMovesAndEscBackToDashboard) }

func testTUIMovesAndEscBackToDashboard(t *testing.T) {
	m, _ := opened(t)
	press(t, m, "G")
	if m.cursorKey() != "ledger.payments" {
		t.Fatalf("G: %q", m.cursorKey())
	}
	press(t, m, "g")
	if m.pick.cursor != 0 {
		t.Fatalf("g: %d", m.pick.cursor)
	}
	m.Update(tea.KeyPressMsg{Code: tea.KeyPgDown})
	if m.pick.cursor == 0 {
		t.Fatal("pgdown did not move")
	}
	m.Update(tea.KeyPressMsg{Code: tea.KeyPgUp})
	if m.pick.cursor != 0 {
		t.Fatalf("pgup: %d", m.pick.cursor)
	}

	j, _ := joinedModel(t)
	press(t, j, "+", "esc")
	if j.screen != screenDashboard {
		t.Fatalf("esc in the picker when joined: screen %v", j.screen)
	}
}

func TestTUISpinnerRunsOnlyWhileBusy(t *testing.T) { bubble(t, testTUISpinnerRunsOnlyWhileBusy) }

func testTUISpinnerRunsOnlyWhileBusy(t *testing.T) {
	m, _ := opened(t)
	m.spinArmed = true
	if _, cmd := m.Update(spinMsg{}); cmd != nil || m.spin != 1 {
		t.Fatalf("idle spinner re-armed (spin %d)", m.spin)
	}
	m.busy = true
	_, cmd := m.Update(spinMsg{})
	if cmd == nil || !m.spinArmed {
		t.Fatal("busy spinner not re-armed")
	}
	if second := m.spinner(); second != nil {
		t.Fatal("a second spinner tick armed")
	}
	// The armed command is the next frame's tick: it fires once the bubble's clock has moved.
	got := make(chan tea.Msg, 1)
	go func() { got <- cmd() }()
	time.Sleep(time.Second)
	if msg := <-got; msg != (spinMsg{}) {
		t.Fatalf("spinner tick delivered %T", msg)
	}
	m.Update(spinMsg{})
	if m.spin != 3 {
		t.Fatalf("spin %d after three frames", m.spin)
	}
}

func TestTUIInterruptLeaves(t *testing.T) { bubble(t, testTUIInterruptLeaves) }

func testTUIInterruptLeaves(t *testing.T) {
	m, f := joinedModel(t)
	_, cmd := m.Update(tea.InterruptMsg{})
	if !feed(t, m, cmd) || f.left != 1 {
		t.Fatalf("interrupt: left %d", f.left)
	}
}

// q while a join runs cancels it and quits once Start has returned.
func TestTUIQuitWhileJoiningWaits(t *testing.T) { bubble(t, testTUIQuitWhileJoiningWaits) }

func testTUIQuitWhileJoiningWaits(t *testing.T) {
	m, f := opened(t)
	m.pick.selected["ratings.bookinfo"] = true
	_, startCmd := m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	_, cmd := m.Update(tea.KeyPressMsg{Code: 'q', Text: "q"})
	feed(t, m, cmd)
	if !m.pendingQuit || f.closed != 0 {
		t.Fatalf("quit during the join: pending %v closed %d", m.pendingQuit, f.closed)
	}
	f.startErr = context.Canceled
	if !feed(t, m, startCmd) || f.closed != 1 {
		t.Fatalf("after the join returned: closed %d", f.closed)
	}
}

func TestTUIDashboardShowsRenewalTrouble(t *testing.T) {
	bubble(t, testTUIDashboardShowsRenewalTrouble)
}

// While renewal fails, the dashboard says since when, until when the certificate lasts, when
// the next retry is, and why.
func testTUIDashboardShowsRenewalTrouble(t *testing.T) {
	m, f := opened(t)
	st := dashStatus(1)
	st.CertNotAfter = fixedNow().Add(20 * time.Second)
	st.Renewal = &session.RenewalTrouble{
		Since: fixedNow().Add(-5 * time.Second), Cause: "cannot reach the mesh CA at 127.0.0.1:15012",
		CertNotAfter: st.CertNotAfter, NextAttempt: fixedNow().Add(4 * time.Second),
	}
	f.status = st
	press(t, m, "down", "space", "enter")
	screen := strings.Join(m.dashboardView(newStyles(false)), "\n")
	for _, want := range []string{
		"renewal failing since " + fixedNow().Add(-5*time.Second).Local().Format(time.TimeOnly),
		"expires at " + st.CertNotAfter.Local().Format(time.TimeOnly),
		"retry in 4s",
		"cannot reach the mesh CA",
	} {
		if !strings.Contains(screen, want) {
			t.Errorf("dashboard lacks %q:\n%s", want, screen)
		}
	}
}
