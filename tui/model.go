package tui

import (
	"context"
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
	// OnBackground, when set, makes b on the dashboard of a session of this process leave it
	// and hand its services to the caller, who starts them in the background (`meshjoin up`).
	OnBackground func(services []string)

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
	pick   picker
	loaded bool // the catalogue arrived (or the connection failed)

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
	m := &Model{opts: o, width: 80, height: 24, pick: newPicker()}
	m.pick.setHeight(m.listHeight())
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
		m.pick.setHeight(m.listHeight())
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
		if msg.err != nil { // shown on the identity screen, which still takes a typed identity
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
		m.pick.setServices(msg.services)
		m.loaded = true
		if m.opts.Attached { // already joined: to its dashboard
			return m, tea.Batch(m.listenCatalog(), func() tea.Msg { return startedMsg{} })
		}
		return m, m.listenCatalog()
	case catalogMsg:
		m.pick.setServices(msg.services)
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
	if m.busy {
		// A connection, join or apply is running: cancel it, and leave only when it has
		// returned (Update calls quit again then), never beside it.
		m.pendingQuit = true
		m.status = "stopping the current step, then leaving …"
		if m.cancelOp != nil {
			m.cancelOp()
		}
		return m.spinner()
	}
	if m.phase == phaseJoined {
		m.phase = phaseLeaving
		return tea.Batch(m.leave(true), m.spinner())
	}
	m.phase = phaseLeaving
	return tea.Batch(m.leave(false), m.spinner())
}
