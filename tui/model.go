package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

// Options configure the model.
type Options struct {
	Backend     Backend
	KubeContext string
	Identity    string // "ns/sa"; empty shows the identity chooser
	// Hint returns the next step for an error ("" when none): the CLI's error mapping.
	Hint func(error) string
	// Logs returns the latest log lines (for the log pane); may be nil.
	Logs func() []string
	// Color turns styles on (off for NO_COLOR and golden files).
	Color bool
	// Now is the clock; default time.Now. Only commands call it.
	Now func() time.Time
	// Attached: Backend is a running background session (AttachBackend): straight to its
	// dashboard; q detaches, x ends the session.
	Attached bool

	programOptions []tea.ProgramOption // tests: input and output
}

type screen int

const (
	screenIdentity screen = iota
	screenPicker
	screenProgress
	screenDashboard
)

type phase int

const (
	phaseNotJoined phase = iota
	phaseJoining
	phaseJoined
	phaseLeaving
)

// Messages from commands.
type (
	openedMsg struct {
		info     Info
		services []mesh.Service
		err      error
	}
	catalogMsg  struct{ services []mesh.Service }
	progressMsg session.Event
	startedMsg  struct{ err error }
	appliedMsg  struct{ err error }
	statusMsg   struct {
		st  Status
		err error
		now time.Time
	}
	statusTickMsg struct{}
	spinMsg       struct{}
	proxyDoneMsg  struct{}
	leftMsg       struct{ err error }
	accountsMsg   struct {
		accounts []string
		err      error
	}
	logsMsg struct{ lines []string }
)

type step struct {
	name     string
	running  bool
	done     bool
	duration time.Duration
	err      error
	detail   string
}

// item is one row of the picker: a namespace header (svc < 0) or a service.
type item struct {
	ns  string
	svc int
}

// Model is the root model.
type Model struct {
	opts   Options
	width  int
	height int
	screen screen
	phase  phase
	info   Info
	status string // one-line message under the body
	failed string // connection or join failure (with its hint)
	busy   bool   // a join, an apply or the connection is running

	// identity chooser
	accounts     []string
	accountsErr  string
	accountsDone bool
	idCursor     int
	idInput      string

	// picker
	services  []mesh.Service
	loaded    bool
	filter    string
	filtering bool
	items     []item
	cursor    int
	offset    int
	selected  map[string]bool

	// progress
	steps []step
	spin  int

	// dashboard
	joined      []session.ServiceStatus
	cert        Status
	statusErr   string
	now         time.Time
	dashCursor  int
	showLogs    bool
	logLines    []string
	showHelp    bool
	quitting    bool
	exitErr     error
	tickArmed   bool
	pendingQuit bool
	cancelOp    context.CancelFunc
	spinArmed   bool
	proxyArmed  bool
}

// New returns the root model.
func New(o Options) *Model {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Hint == nil {
		o.Hint = func(error) string { return "" }
	}
	m := &Model{opts: o, width: 80, height: 24, selected: map[string]bool{}}
	if o.Identity == "" {
		m.screen = screenIdentity
	} else {
		m.screen = screenPicker
		m.info.Identity = o.Identity
	}
	return m
}

// Err is the error the program ended with (a failed leave), for the exit code.
func (m *Model) Err() error { return m.exitErr }

// Init starts the connection (or the service-account lookup) and the progress listener.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.listenProgress(), m.spinner()}
	if m.screen == screenIdentity {
		cmds = append(cmds, m.loadAccounts())
	} else {
		m.busy = true
		cmds = append(cmds, m.open(m.opts.Identity))
	}
	return tea.Batch(cmds...)
}

// Commands. They do I/O and return messages; they never touch the model's fields.

// opContext is the context of a connection or a join: quitting cancels it.
func (m *Model) opContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	m.cancelOp = cancel
	return ctx, cancel
}

func (m *Model) open(identity string) tea.Cmd {
	b := m.opts.Backend
	ctx, cancel := m.opContext(3 * time.Minute)
	return func() tea.Msg {
		defer cancel()
		info, err := b.Open(ctx, identity)
		if err != nil {
			return openedMsg{err: err}
		}
		return openedMsg{info: info, services: b.Services()}
	}
}

func (m *Model) loadAccounts() tea.Cmd {
	b := m.opts.Backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		a, err := b.ServiceAccounts(ctx, 20)
		return accountsMsg{accounts: a, err: err}
	}
}

func (m *Model) listenCatalog() tea.Cmd {
	b := m.opts.Backend
	ch := b.Changes()
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		<-ch
		return catalogMsg{services: b.Services()}
	}
}

func (m *Model) listenProgress() tea.Cmd {
	ch := m.opts.Backend.Progress()
	if ch == nil {
		return nil
	}
	return func() tea.Msg { return progressMsg(<-ch) }
}

func (m *Model) listenProxy() tea.Cmd {
	ch := m.opts.Backend.ProxyDone()
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		<-ch
		return proxyDoneMsg{}
	}
}

func (m *Model) start(keys []string) tea.Cmd {
	b := m.opts.Backend
	ctx, cancel := m.opContext(5 * time.Minute)
	return func() tea.Msg {
		defer cancel()
		return startedMsg{err: b.Start(ctx, keys)}
	}
}

func (m *Model) apply(keys []string) tea.Cmd {
	b := m.opts.Backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return appliedMsg{err: b.SetServices(ctx, keys)}
	}
}

func (m *Model) readStatus() tea.Cmd {
	b, now, logs := m.opts.Backend, m.opts.Now, m.opts.Logs
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		st, err := b.Status(ctx)
		msg := statusMsg{st: st, err: err, now: now()}
		if logs != nil {
			return tea.BatchMsg{func() tea.Msg { return msg }, func() tea.Msg { return logsMsg{lines: logs()} }}
		}
		return msg
	}
}

func statusTick() tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return statusTickMsg{} })
}

func spinTick() tea.Cmd {
	return tea.Tick(120*time.Millisecond, func(time.Time) tea.Msg { return spinMsg{} })
}

func (m *Model) leave(joined bool) tea.Cmd {
	b := m.opts.Backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		if joined {
			return leftMsg{err: b.Leave(ctx)}
		}
		return leftMsg{err: b.Close()}
	}
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := m.update(msg)
	if m.pendingQuit && !m.busy {
		m.pendingQuit, m.quitting = false, false
		return m, tea.Batch(cmd, m.quit())
	}
	return m, cmd
}

func (m *Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.clampOffset()
		return m, nil
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.InterruptMsg:
		return m, m.quit()
	case spinMsg:
		m.spin++
		m.spinArmed = false
		if m.busy || m.phase == phaseLeaving || !m.loaded && m.screen == screenPicker || !m.accountsDone && m.screen == screenIdentity {
			return m, m.spinner()
		}
		return m, nil
	case accountsMsg:
		m.accountsDone = true
		m.accounts = msg.accounts
		if msg.err != nil {
			m.accountsErr = msg.err.Error()
		}
		return m, nil
	case openedMsg:
		m.busy = false
		if msg.err != nil {
			m.failed = m.describe(msg.err)
			m.loaded = true
			return m, nil
		}
		m.failed = ""
		m.info = msg.info
		m.setServices(msg.services)
		m.loaded = true
		if m.opts.Attached { // already joined: to its dashboard
			return m, tea.Batch(m.listenCatalog(), func() tea.Msg { return startedMsg{} })
		}
		return m, m.listenCatalog()
	case catalogMsg:
		m.setServices(msg.services)
		return m, m.listenCatalog()
	case progressMsg:
		m.progress(session.Event(msg))
		return m, m.listenProgress()
	case startedMsg:
		m.busy = false
		if msg.err != nil {
			m.phase = phaseNotJoined
			m.failed = m.describe(msg.err)
			m.loaded = false // Start closed the session: enter reconnects
			return m, nil
		}
		m.phase = phaseJoined
		m.screen = screenDashboard
		m.status = ""
		if m.opts.Attached {
			m.status = attachedHint
		}
		cmds := []tea.Cmd{m.readStatus()}
		if !m.proxyArmed {
			m.proxyArmed = true
			cmds = append(cmds, m.listenProxy())
		}
		return m, tea.Batch(cmds...)
	case appliedMsg:
		m.busy = false
		if msg.err != nil {
			m.status = "✗ " + firstLine(m.describe(msg.err))
		} else {
			m.status = "applied"
		}
		m.screen = screenDashboard
		return m, m.readStatus()
	case statusTickMsg:
		m.tickArmed = false
		if m.phase != phaseJoined {
			return m, nil
		}
		return m, m.readStatus()
	case statusMsg:
		m.now = msg.now
		if m.phase != phaseJoined {
			return m, nil
		}
		m.cert = msg.st
		m.joined = msg.st.Services
		m.statusErr = ""
		if msg.err != nil {
			m.statusErr = msg.err.Error()
		}
		m.dashCursor = min(m.dashCursor, max(len(m.joined)-1, 0))
		if m.tickArmed {
			return m, nil
		}
		m.tickArmed = true
		return m, statusTick()
	case logsMsg:
		m.logLines = msg.lines
		return m, nil
	case proxyDoneMsg:
		if m.phase == phaseJoined {
			m.status = "✗ the local Envoy exited (Docker stopped?): leaving"
			m.phase = phaseLeaving
			m.quitting = true
			return m, tea.Batch(m.leave(true), m.spinner())
		}
		return m, nil
	case leftMsg:
		if msg.err != nil {
			m.exitErr = msg.err
		}
		return m, tea.Quit
	}
	return m, nil
}

// spinner arms the spinner's tick unless one is pending.
func (m *Model) spinner() tea.Cmd {
	if m.spinArmed {
		return nil
	}
	m.spinArmed = true
	return spinTick()
}

func (m *Model) describe(err error) string {
	s := "Error: " + err.Error()
	if h := m.opts.Hint(err); h != "" {
		s += "\nNext: " + h
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (m *Model) progress(e session.Event) {
	i := slices.IndexFunc(m.steps, func(s step) bool { return s.name == e.Step })
	if i < 0 {
		m.steps = append(m.steps, step{name: e.Step})
		i = len(m.steps) - 1
	}
	s := &m.steps[i]
	if !e.Done {
		s.running, s.done, s.err = true, false, nil
		return
	}
	s.running, s.done, s.duration, s.err, s.detail = false, true, e.Duration, e.Err, e.Detail
}

func (m *Model) quit() tea.Cmd {
	if m.quitting {
		return nil
	}
	m.quitting = true
	m.showHelp = false
	if m.phase == phaseJoined {
		m.phase = phaseLeaving
		return tea.Batch(m.leave(true), m.spinner())
	}
	if m.busy {
		// A connection, join or apply is running: cancel it, and leave when it returns.
		m.pendingQuit = true
		m.status = "stopping the current step, then leaving …"
		if m.cancelOp != nil && m.phase != phaseJoined {
			m.cancelOp()
		}
		return m.spinner()
	}
	m.phase = phaseLeaving
	return tea.Batch(m.leave(false), m.spinner())
}

// key handles a key press.
func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	s := k.String()
	if s == "ctrl+c" {
		return m.quit()
	}
	if m.quitting {
		return nil
	}
	if m.showHelp {
		m.showHelp = false
		return nil
	}
	switch m.screen {
	case screenIdentity:
		return m.identityKey(k)
	case screenPicker:
		if !m.busy && strings.HasPrefix(m.status, "✗") {
			m.status = "" // a refusal is news for one key
		}
		if m.filtering {
			return m.filterKey(k)
		}
		return m.pickerKey(s)
	case screenProgress:
		return m.progressKey(s)
	case screenDashboard:
		return m.dashboardKey(s)
	}
	return nil
}

func (m *Model) identityKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "esc":
		if m.idInput == "" {
			return m.quit()
		}
		m.idInput = ""
	case "up":
		m.idCursor = max(m.idCursor-1, 0)
	case "down":
		m.idCursor = min(m.idCursor+1, max(len(m.accounts)-1, 0))
	case "backspace":
		m.idInput = dropLast(m.idInput)
	case "enter":
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
	default:
		if k.Text != "" {
			m.idInput += k.Text
		} else if s := k.String(); s == "q" {
			return m.quit()
		}
	}
	return nil
}

func dropLast(s string) string {
	r := []rune(s)
	if len(r) == 0 {
		return s
	}
	return string(r[:len(r)-1])
}

func (m *Model) filterKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "enter", "esc":
		m.filtering = false
		if k.String() == "esc" {
			m.filter = ""
			m.rebuild()
		}
	case "backspace":
		m.filter = dropLast(m.filter)
		m.refilter()
	case "up", "down", "pgup", "pgdown":
		m.move(k.String())
	default:
		if k.Text != "" && k.Text != " " {
			m.filter += k.Text
			m.refilter()
		} else if k.Text == " " {
			m.toggle()
		}
	}
	return nil
}

func (m *Model) pickerKey(s string) tea.Cmd {
	switch s {
	case "q":
		if m.phase == phaseJoined && m.busy {
			return nil
		}
		return m.quit()
	case "?":
		m.showHelp = true
	case "/":
		m.filtering = true
	case "esc":
		if m.filter != "" {
			m.filter = ""
			m.rebuild()
		} else if m.phase == phaseJoined {
			m.screen = screenDashboard
		}
	case "up", "k", "down", "j", "pgup", "pgdown", "home", "end", "g", "G":
		m.move(s)
	case "space", " ":
		m.toggle()
	case "a":
		m.toggleNamespace()
	case "enter":
		return m.join()
	}
	return nil
}

func (m *Model) progressKey(s string) tea.Cmd {
	switch s {
	case "q":
		return m.quit()
	case "?":
		m.showHelp = true
	case "enter", "esc":
		if m.busy || m.failed == "" {
			return nil
		}
		// Back to the picker: the failed Start closed the session, so connect again.
		m.screen = screenPicker
		m.failed = ""
		m.busy = true
		m.steps = nil
		return tea.Batch(m.open(m.opts.Identity), m.spinner())
	}
	return nil
}

// attachedHint tells the keys of an attached dashboard.
const attachedHint = "background session: q detaches (it keeps running), x ends it"

func (m *Model) dashboardKey(s string) tea.Cmd {
	switch s {
	case "q":
		return m.quit()
	case "x":
		return m.end()
	case "?":
		m.showHelp = true
	case "l":
		m.showLogs = !m.showLogs
	case "up", "k":
		m.dashCursor = max(m.dashCursor-1, 0)
	case "down", "j":
		m.dashCursor = min(m.dashCursor+1, max(len(m.joined)-1, 0))
	case "+":
		if m.busy {
			return nil
		}
		m.selected = map[string]bool{}
		for _, js := range m.joined {
			m.selected[js.Key] = true
		}
		m.screen = screenPicker
		m.status = "space toggles, enter applies, esc goes back"
	case "d":
		if m.busy || m.dashCursor >= len(m.joined) {
			return nil
		}
		gone := m.joined[m.dashCursor].Key
		var keys []string
		for _, js := range m.joined {
			if js.Key != gone {
				keys = append(keys, js.Key)
			}
		}
		delete(m.selected, gone)
		m.busy = true
		m.status = "removing " + gone + " …"
		return tea.Batch(m.apply(keys), m.spinner())
	case "c":
		if m.dashCursor >= len(m.joined) {
			return nil
		}
		c := m.joined[m.dashCursor].TryCommand()
		if c == "" {
			return nil
		}
		m.status = "copied: " + c
		return tea.SetClipboard(c)
	}
	return nil
}

// end ends an attached background session (q only detaches).
func (m *Model) end() tea.Cmd {
	e, ok := m.opts.Backend.(Ender)
	if !ok || !m.opts.Attached || m.busy || m.quitting {
		return nil
	}
	m.quitting, m.phase = true, phaseLeaving
	m.status = "ending the background session …"
	return tea.Batch(func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		return leftMsg{err: e.End(ctx)}
	}, m.spinner())
}

// join starts the session with the selection, or applies it when already joined.
func (m *Model) join() tea.Cmd {
	if m.busy || !m.loaded {
		return nil
	}
	keys := m.selectedKeys()
	if m.failed != "" && m.phase == phaseNotJoined {
		m.failed = ""
		m.busy = true
		return tea.Batch(m.open(m.opts.Identity), m.spinner())
	}
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

func (m *Model) selectedKeys() []string {
	var keys []string
	for _, s := range m.services {
		if m.selected[s.Key()] {
			keys = append(keys, s.Key())
		}
	}
	// Joined services that vanished from the catalogue stay selected until removed.
	return keys
}

// Picker list.

func (m *Model) setServices(svcs []mesh.Service) {
	m.services = svcs
	m.rebuild()
}

// match reports whether every rune of pattern appears in s in order (case-insensitive).
func match(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	p := []rune(strings.ToLower(pattern))
	i := 0
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		if r == p[i] {
			i++
			if i == len(p) {
				return true
			}
		}
	}
	return false
}

// score ranks a filter match: a name starting with the pattern, then the pattern anywhere
// in name.namespace, then letters in order.
func score(pattern string, s *mesh.Service) int {
	p := strings.ToLower(pattern)
	switch {
	case strings.HasPrefix(strings.ToLower(s.Name), p):
		return 3
	case strings.Contains(strings.ToLower(s.Key()), p):
		return 2
	}
	return 1
}

// refilter applies a changed filter and puts the cursor on the best match.
func (m *Model) refilter() {
	m.rebuild()
	best, at := 0, -1
	for i, it := range m.items {
		if it.svc < 0 {
			continue
		}
		if sc := score(m.filter, &m.services[it.svc]); sc > best {
			best, at = sc, i
		}
	}
	if at >= 0 {
		m.cursor = at
		m.clampOffset()
	}
}

// rebuild recomputes the visible rows from the services and the filter, keeping the cursor
// on the same service when it is still shown.
func (m *Model) rebuild() {
	var keep string
	if m.cursor < len(m.items) {
		if it := m.items[m.cursor]; it.svc >= 0 && it.svc < len(m.services) {
			keep = m.services[it.svc].Key()
		}
	}
	m.items = m.items[:0]
	lastNS := ""
	for i := range m.services {
		s := &m.services[i]
		if !match(m.filter, s.Name+"."+s.Namespace) {
			continue
		}
		if s.Namespace != lastNS || len(m.items) == 0 {
			m.items = append(m.items, item{ns: s.Namespace, svc: -1})
			lastNS = s.Namespace
		}
		m.items = append(m.items, item{ns: s.Namespace, svc: i})
	}
	m.cursor = 0
	for i, it := range m.items {
		if it.svc >= 0 {
			if keep == "" || m.services[it.svc].Key() == keep {
				m.cursor = i
				break
			}
		}
	}
	if keep != "" && (m.cursor >= len(m.items) || m.items[m.cursor].svc < 0 || m.services[m.items[m.cursor].svc].Key() != keep) {
		m.cursor = min(1, max(len(m.items)-1, 0))
	}
	m.clampOffset()
}

func (m *Model) move(s string) {
	n := len(m.items)
	if n == 0 {
		return
	}
	page := max(m.listHeight()-1, 1)
	switch s {
	case "up", "k":
		m.cursor--
	case "down", "j":
		m.cursor++
	case "pgup":
		m.cursor -= page
	case "pgdown":
		m.cursor += page
	case "home", "g":
		m.cursor = 0
	case "end", "G":
		m.cursor = n - 1
	}
	m.cursor = min(max(m.cursor, 0), n-1)
	m.clampOffset()
}

func (m *Model) clampOffset() {
	h := m.listHeight()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+h {
		m.offset = m.cursor - h + 1
	}
	m.offset = max(0, min(m.offset, max(len(m.items)-h, 0)))
}

func (m *Model) toggle() {
	if m.cursor >= len(m.items) {
		return
	}
	it := m.items[m.cursor]
	if it.svc < 0 {
		m.toggleNamespace()
		return
	}
	s := m.services[it.svc]
	k := s.Key()
	if !m.selected[k] && !s.Reachable {
		m.status = "✗ " + k + " cannot be joined: " + s.Reason
		return
	}
	m.selected[k] = !m.selected[k]
	if !m.selected[k] {
		delete(m.selected, k)
	}
	m.status = ""
}

// toggleNamespace selects every reachable shown service of the cursor's namespace, or
// clears them when all are selected.
func (m *Model) toggleNamespace() {
	if m.cursor >= len(m.items) {
		return
	}
	ns := m.items[m.cursor].ns
	var keys []string
	all := true
	for _, it := range m.items {
		if it.ns != ns || it.svc < 0 || !m.services[it.svc].Reachable {
			continue
		}
		k := m.services[it.svc].Key()
		keys = append(keys, k)
		all = all && m.selected[k]
	}
	for _, k := range keys {
		if all {
			delete(m.selected, k)
		} else {
			m.selected[k] = true
		}
	}
}
