package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// binding is one key of the key map: its keys and short help (the key line), the longer
// explanation (help screen and docs/tui.md), when it acts and what it does. Keys reach the
// model only through these, so the help cannot list a key that does nothing or miss one that
// acts (keys_test.go checks both).
type binding struct {
	key.Binding
	long    string               // the help screen's and docs/tui.md's explanation
	inLine  bool                 // also in the key line at the bottom
	enabled func(*Model) bool    // nil: always
	act     func(*Model) tea.Cmd // nil: typing (the text goes to the input)
}

// keyGroup is the keys of one place of the TUI.
type keyGroup struct {
	where string
	keys  []*binding
	typed func(m *Model, text string) // nil: typed text does nothing
}

func bind(keys []string, helpKey, helpDesc, long string, inLine bool, enabled func(*Model) bool, act func(*Model) tea.Cmd) *binding {
	return &binding{Binding: key.NewBinding(key.WithKeys(keys...), key.WithHelp(helpKey, helpDesc)), long: long, inLine: inLine, enabled: enabled, act: act}
}

// typing is the pseudo-binding that says typed text goes into an input.
func typing(desc, long string) *binding {
	return &binding{Binding: key.NewBinding(key.WithHelp("type", desc)), long: long, inLine: true}
}

var (
	// forceQuit works everywhere, also while leaving (a second one does nothing more).
	forceQuit = bind([]string{"ctrl+c"}, "ctrl+c", "quit", "leave (hosts entries removed, Envoy stopped), then exit", false, nil, (*Model).quit)
	closeHelp = &binding{Binding: key.NewBinding(key.WithHelp("any key", "close help")), long: "close this help", inLine: true}
)

// keyGroups is the key map, in the order of the help screen and docs/tui.md.
func keyGroups() []keyGroup {
	return []keyGroup{
		{where: "identity", typed: (*Model).typeIdentity, keys: []*binding{
			bind([]string{"up"}, "↑", "choose", "choose a listed account", true, (*Model).canIDUp, (*Model).idUp),
			bind([]string{"down"}, "↓", "choose", "choose a listed account", true, (*Model).canIDDown, (*Model).idDown),
			typing("ns/name", "type an identity as namespace/serviceaccount"),
			bind([]string{"backspace"}, "backspace", "delete", "delete the last typed character", false, (*Model).hasIDInput, (*Model).idBackspace),
			bind([]string{"enter"}, "enter", "use", "act as the typed or chosen service account", true, nil, (*Model).idUse),
			bind([]string{"esc"}, "esc", "clear", "clear what was typed", true, (*Model).hasIDInput, (*Model).idClear),
			bind([]string{"esc"}, "esc", "quit", "quit", true, (*Model).noIDInput, (*Model).quit),
		}},
		{where: "picker", keys: []*binding{
			bind([]string{"/"}, "/", "filter", "filter as you type (fuzzy: the letters in order); the cursor goes to the best match", true, (*Model).listShown, (*Model).startFilter),
			bind([]string{"space"}, "space", "toggle", "select or unselect the service (on a namespace row: the namespace)", true, (*Model).onRow, (*Model).toggle),
			bind([]string{"a"}, "a", "namespace", "select or unselect every reachable service of the namespace", true, (*Model).namespaceSelectable, (*Model).toggleNamespace),
			bind([]string{"enter"}, "enter", "join", "join the selection", true, (*Model).canJoin, (*Model).join),
			bind([]string{"enter"}, "enter", "apply", "apply the selection to the running session", true, (*Model).canApply, (*Model).join),
			bind([]string{"enter"}, "enter", "retry", "connect again", true, (*Model).canRetryOpen, (*Model).retryOpen),
			bind([]string{"up", "k"}, "↑/k", "up", "move up", false, (*Model).canUp, (*Model).up),
			bind([]string{"down", "j"}, "↓/j", "down", "move down", false, (*Model).canDown, (*Model).down),
			bind([]string{"pgup"}, "pgup", "page up", "move a page up", false, (*Model).canUp, (*Model).pageUp),
			bind([]string{"pgdown"}, "pgdown", "page down", "move a page down", false, (*Model).canDown, (*Model).pageDown),
			bind([]string{"home", "g"}, "g/home", "top", "go to the first row", false, (*Model).canUp, (*Model).top),
			bind([]string{"end", "G"}, "G/end", "bottom", "go to the last row", false, (*Model).canDown, (*Model).bottom),
			bind([]string{"esc"}, "esc", "clear filter", "clear the filter", true, (*Model).hasFilter, (*Model).clearFilter),
			bind([]string{"esc"}, "esc", "back", "back to the dashboard", true, (*Model).canBackToDashboard, (*Model).backToDashboard),
			bind([]string{"?"}, "?", "help", "this help", true, nil, (*Model).openHelp),
			bind([]string{"q"}, "q", "quit", "leave (hosts entries removed, Envoy stopped), then exit", true, (*Model).canQuitPicker, (*Model).quit),
		}},
		{where: "filter", typed: (*Model).typeFilter, keys: []*binding{
			typing("filter", "type to filter (fuzzy)"),
			bind([]string{"backspace"}, "backspace", "delete", "delete the last filter character", false, (*Model).hasFilter, (*Model).filterBackspace),
			bind([]string{"space"}, "space", "toggle", "select or unselect the service under the cursor", true, (*Model).onRow, (*Model).toggle),
			bind([]string{"up"}, "↑", "up", "move up", false, (*Model).canUp, (*Model).up),
			bind([]string{"down"}, "↓", "down", "move down", false, (*Model).canDown, (*Model).down),
			bind([]string{"pgup"}, "pgup", "page up", "move a page up", false, (*Model).canUp, (*Model).pageUp),
			bind([]string{"pgdown"}, "pgdown", "page down", "move a page down", false, (*Model).canDown, (*Model).pageDown),
			bind([]string{"enter"}, "enter", "done", "keep the filter and leave it", true, nil, (*Model).endFilter),
			bind([]string{"esc"}, "esc", "clear", "clear the filter and leave it", true, nil, (*Model).dropFilter),
		}},
		{where: "progress", keys: []*binding{
			bind([]string{"enter", "esc"}, "enter", "back to the picker", "after a failure: back to the picker (connects again)", true, (*Model).joinFailed, (*Model).backToPicker),
			bind([]string{"?"}, "?", "help", "this help", false, nil, (*Model).openHelp),
			bind([]string{"q"}, "q", "quit", "stop the join (it is cancelled and waited for), then exit", true, nil, (*Model).quit),
		}},
		{where: "dashboard", keys: []*binding{
			bind([]string{"+"}, "+", "add", "add or remove services (back to the picker with the joined ones selected)", true, (*Model).idle, (*Model).addServices),
			bind([]string{"d"}, "d", "remove", "remove the selected service", true, (*Model).idleOnRow, (*Model).removeService),
			bind([]string{"c"}, "c", "copy cmd", "copy a curl / grpcurl / nc command for it (OSC 52 clipboard); also shown in the status line", true, (*Model).hasTry, (*Model).copyTry),
			bind([]string{"l"}, "l", "logs", "show or hide the log pane", true, nil, (*Model).toggleLogs),
			bind([]string{"up", "k"}, "↑/k", "up", "select the service above", false, (*Model).canDashUp, (*Model).dashUp),
			bind([]string{"down", "j"}, "↓/j", "down", "select the service below", false, (*Model).canDashDown, (*Model).dashDown),
			bind([]string{"?"}, "?", "help", "this help", true, nil, (*Model).openHelp),
			bind([]string{"b"}, "b", "background", "move the session to the background (`meshjoin up` with the same services), then exit", true, (*Model).canBackground, (*Model).background),
			bind([]string{"x"}, "x", "end", "end the background session, then exit", true, (*Model).canEnd, (*Model).end),
			bind([]string{"q"}, "q", "detach", "detach: exit, the background session keeps running", true, (*Model).attached, (*Model).quit),
			bind([]string{"q"}, "q", "leave", "leave (hosts entries removed, Envoy stopped), then exit", true, (*Model).notAttached, (*Model).quit),
		}},
		{where: "help", keys: []*binding{closeHelp}},
		{where: "everywhere", keys: []*binding{forceQuit}},
	}
}

var groups = keyGroups()

// place is where the keys go now ("" while leaving: only ctrl+c).
func (m *Model) place() string {
	switch {
	case m.quitting:
		return ""
	case m.showHelp:
		return "help"
	case m.screen == screenIdentity:
		return "identity"
	case m.screen == screenPicker && m.pick.filtering:
		return "filter"
	case m.screen == screenPicker:
		return "picker"
	case m.screen == screenProgress:
		return "progress"
	}
	return "dashboard"
}

func groupOf(where string) keyGroup {
	for _, g := range groups {
		if g.where == where {
			return g
		}
	}
	return keyGroup{}
}

// active is the bindings that act now, in help order (ctrl+c last).
func (m *Model) active() []*binding {
	var out []*binding
	for _, b := range groupOf(m.place()).keys {
		if b.enabled == nil || b.enabled(m) {
			out = append(out, b)
		}
	}
	return append(out, forceQuit)
}

// key handles a key press: the first active binding that matches acts; unmatched text goes
// to the input of the place, if it has one.
func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	if m.showHelp && !m.quitting && !key.Matches(k, forceQuit.Binding) {
		m.showHelp = false // any key closes the help
		return nil
	}
	if m.place() == "picker" && !m.busy && strings.HasPrefix(m.status, "✗") {
		m.status = "" // a refusal is news for one key
	}
	for _, b := range m.active() {
		if b.act != nil && key.Matches(k, b.Binding) {
			return b.act(m)
		}
	}
	if g := groupOf(m.place()); g.typed != nil && k.Text != "" {
		g.typed(m, k.Text)
	}
	return nil
}

// keyLine is the bottom line: the active bindings marked for it.
func (m *Model) keyLine(st styles) string {
	var parts []string
	for _, b := range m.active() {
		if b.inLine {
			h := b.Help()
			parts = append(parts, st.key.Render(h.Key)+" "+h.Desc)
		}
	}
	return st.dim.Render(strings.Join(parts, " · "))
}

// helpRows are the help screen's rows: every active binding, with its explanation.
func (m *Model) helpRows() [][2]string {
	saved := m.showHelp
	m.showHelp = false // the help explains the place under it
	defer func() { m.showHelp = saved }()
	var rows [][2]string
	for _, b := range m.active() {
		rows = append(rows, [2]string{b.Help().Key, b.long})
	}
	return rows
}
