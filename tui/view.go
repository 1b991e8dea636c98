package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// The frame around every screen: header, body, status line, key line; and the help screen.

const headerLines, footerLines = 3, 2

func (m *Model) bodyHeight() int { return max(m.height-headerLines-footerLines, 3) }

// listHeight is the picker's rows: the body less its title and detail lines.
func (m *Model) listHeight() int { return max(m.bodyHeight()-2, 1) }

// View renders the whole screen.
func (m *Model) View() tea.View {
	v := tea.NewView(m.Render())
	v.AltScreen = true
	v.WindowTitle = "meshjoin"
	return v
}

// Render is the screen as text, exactly width×height cells (for golden files and the view).
func (m *Model) Render() string {
	st := newStyles(m.opts.Color)
	lines := m.header(st)
	var body []string
	switch {
	case m.showHelp:
		body = m.help(st)
	case m.screen == screenIdentity:
		body = m.identityView(st)
	case m.screen == screenPicker:
		body = m.pickerView(st)
	case m.screen == screenProgress:
		body = m.progressView(st)
	case m.screen == screenDashboard:
		body = m.dashboardView(st)
	}
	h := m.bodyHeight()
	for len(body) < h {
		body = append(body, "")
	}
	lines = append(lines, body[:h]...)
	lines = append(lines, m.statusLine(st), m.keyLine(st))
	for i, l := range lines {
		l = ansi.Truncate(l, m.width, "…")
		if pad := m.width - ansi.StringWidth(l); pad > 0 && !m.opts.Color {
			l += strings.Repeat(" ", pad)
		}
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines[:min(len(lines), m.height)], "\n")
}

func (m *Model) stateText() string {
	switch m.phase {
	case phaseJoining:
		return "joining"
	case phaseJoined:
		return fmt.Sprintf("joined %d", len(m.joinedKeys()))
	case phaseLeaving:
		return "leaving"
	}
	return "not joined"
}

func (m *Model) joinedKeys() []string {
	var out []string
	for _, j := range m.joined {
		out = append(out, j.Key)
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func (m *Model) header(st styles) []string {
	id := m.info.Identity
	if id == "" {
		id = "(choose below)"
	}
	l1 := st.title.Render("meshjoin") + "  context " + orDash(m.opts.KubeContext)
	state := "[" + m.stateText() + "]"
	if gap := m.width - ansi.StringWidth(l1) - len(state); gap > 1 {
		l1 += strings.Repeat(" ", gap) + st.key.Render(state)
	} else {
		l1 = ansi.Truncate(l1, max(m.width-len(state)-2, 10), "…") + "  " + st.key.Render(state)
	}
	l2 := "trust domain " + orDash(m.info.TrustDomain) + " · gateway " + orDash(m.info.Gateway)
	l3 := "identity " + id
	return []string{l1, st.dim.Render(l2), st.dim.Render(l3)}
}

func (m *Model) statusLine(st styles) string {
	switch {
	case m.phase == phaseLeaving:
		return m.spinFrame() + " leaving: removing the hosts entries and stopping Envoy …"
	case strings.HasPrefix(m.status, "✗"):
		return st.bad.Render(m.status)
	case m.busy && m.status != "":
		return m.spinFrame() + " " + m.status
	}
	return m.status
}

// help is the help screen: the keys that act where it was opened, from the key map.
func (m *Model) help(st styles) []string {
	out := []string{st.title.Render("Keys") + st.dim.Render("  ("+m.placeUnderHelp()+")")}
	for _, r := range m.helpRows() {
		out = append(out, fmt.Sprintf("  %-10s %s", r[0], r[1]))
	}
	return out
}

// placeUnderHelp names the screen the help explains.
func (m *Model) placeUnderHelp() string {
	saved := m.showHelp
	m.showHelp = false
	defer func() { m.showHelp = saved }()
	return m.place()
}

// wrapped breaks text into lines that fit the width, styled.
func (m *Model) wrapped(style lipgloss.Style, text string) []string {
	var out []string
	for _, l := range strings.Split(ansi.Wrap(text, max(m.width-1, 20), " "), "\n") {
		out = append(out, style.Render(l))
	}
	return out
}
