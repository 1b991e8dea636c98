package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

var spinFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

type styles struct {
	title, dim, bad, good, cursor, key lipgloss.Style
}

func newStyles(color bool) styles {
	if !color {
		p := lipgloss.NewStyle()
		return styles{p, p, p, p, p, p}
	}
	return styles{
		title:  lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12")),
		dim:    lipgloss.NewStyle().Foreground(lipgloss.Color("8")),
		bad:    lipgloss.NewStyle().Foreground(lipgloss.Color("9")),
		good:   lipgloss.NewStyle().Foreground(lipgloss.Color("10")),
		cursor: lipgloss.NewStyle().Reverse(true),
		key:    lipgloss.NewStyle().Bold(true),
	}
}

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
	lines = append(lines, m.statusLine(st), m.keysLine(st))
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
		return spinFrames[m.spin%len(spinFrames)] + " leaving: removing the hosts entries and stopping Envoy …"
	case strings.HasPrefix(m.status, "✗"):
		return st.bad.Render(m.status)
	case m.busy && m.status != "":
		return spinFrames[m.spin%len(spinFrames)] + " " + m.status
	}
	return m.status
}

func (m *Model) keysLine(st styles) string {
	var keys [][2]string
	switch {
	case m.showHelp:
		keys = [][2]string{{"any key", "close help"}}
	case m.screen == screenIdentity:
		keys = [][2]string{{"↑↓", "choose"}, {"type", "ns/name"}, {"enter", "use"}, {"esc", "quit"}}
	case m.screen == screenPicker && m.filtering:
		keys = [][2]string{{"type", "filter"}, {"space", "toggle"}, {"enter", "done"}, {"esc", "clear"}}
	case m.screen == screenPicker:
		act := "join"
		if m.phase == phaseJoined {
			act = "apply"
		}
		keys = [][2]string{{"/", "filter"}, {"space", "toggle"}, {"a", "namespace"}, {"enter", act}, {"?", "help"}, {"q", "quit"}}
	case m.screen == screenProgress:
		keys = [][2]string{{"q", "quit"}}
		if m.failed != "" {
			keys = [][2]string{{"enter", "back to the picker"}, {"q", "quit"}}
		}
	case m.screen == screenDashboard:
		keys = [][2]string{{"+", "add"}, {"d", "remove"}, {"c", "copy cmd"}, {"l", "logs"}, {"?", "help"}, {"q", "leave"}}
	}
	var parts []string
	for _, k := range keys {
		parts = append(parts, st.key.Render(k[0])+" "+k[1])
	}
	return st.dim.Render(strings.Join(parts, " · "))
}

func (m *Model) help(st styles) []string {
	rows := [][2]string{
		{"Picker", ""},
		{"/", "filter as you type (fuzzy); enter keeps it, esc clears"},
		{"space", "select or unselect the service (a namespace row: all of it)"},
		{"a", "select or unselect every reachable service of the namespace"},
		{"enter", "join the selection (when joined: apply it live)"},
		{"↑↓ pgup pgdn g G", "move"},
		{"Dashboard", ""},
		{"+", "add or remove services (back to the picker)"},
		{"d", "remove the selected service"},
		{"c", "copy a curl/grpcurl command for it (OSC 52), also shown below"},
		{"l", "show or hide the log pane"},
		{"Everywhere", ""},
		{"?", "this help"},
		{"q, ctrl+c", "leave (hosts entries and Envoy removed), then exit"},
	}
	out := []string{st.title.Render("Keys")}
	for _, r := range rows {
		if r[1] == "" {
			out = append(out, st.key.Render(r[0]))
			continue
		}
		out = append(out, fmt.Sprintf("  %-18s %s", r[0], r[1]))
	}
	return out
}

func (m *Model) identityView(st styles) []string {
	out := []string{st.title.Render("Identity") + "  which service account should this machine act as?"}
	switch {
	case !m.accountsDone:
		out = append(out, "  "+spinFrames[m.spin%len(spinFrames)]+" checking which service accounts you may create tokens for …")
	case m.accountsErr != "":
		out = append(out, st.bad.Render("  cannot list service accounts: "+m.accountsErr))
	case len(m.accounts) == 0:
		out = append(out, "  no service account found that you may create tokens for: type one below")
	}
	room := m.bodyHeight() - 4
	start := max(0, m.idCursor-room+1)
	for i := start; i < len(m.accounts) && i < start+room; i++ {
		mark := "  "
		line := m.accounts[i]
		if i == m.idCursor && m.idInput == "" {
			mark = "› "
			line = st.cursor.Render(line)
		}
		out = append(out, "  "+mark+line)
	}
	out = append(out, "", "  or type namespace/serviceaccount: "+m.idInput+"▏")
	return out
}

func (m *Model) pickerView(st styles) []string {
	title := st.title.Render("Services")
	switch {
	case m.filtering:
		title += "  filter: /" + m.filter + "▏"
	case m.filter != "":
		title += "  filter: /" + m.filter
	}
	shown := 0
	for _, it := range m.items {
		if it.svc >= 0 {
			shown++
		}
	}
	title += fmt.Sprintf("   %d selected · %d of %d shown", len(m.selected), shown, len(m.services))
	out := []string{title}
	if m.failed != "" {
		out = append(out, m.wrapped(st.bad, m.failed)...)
		out = append(out, "", "enter tries again · q quits")
		return out
	}
	if !m.loaded || m.busy && len(m.services) == 0 {
		return append(out, "  "+spinFrames[m.spin%len(spinFrames)]+" reading the mesh settings and the catalogue …")
	}
	if len(m.items) == 0 {
		out = append(out, "  no service matches")
	}
	h := m.listHeight()
	nsCount := map[string][2]int{}
	if len(m.items) <= 5000 { // counts per namespace for headers (visible ones only otherwise)
		for _, it := range m.items {
			if it.svc >= 0 {
				c := nsCount[it.ns]
				c[1]++
				if m.selected[m.services[it.svc].Key()] {
					c[0]++
				}
				nsCount[it.ns] = c
			}
		}
	}
	nameW := min(max(m.width-44, 20), 48)
	for i := m.offset; i < len(m.items) && i < m.offset+h; i++ {
		it := m.items[i]
		cur := i == m.cursor
		var line string
		if it.svc < 0 {
			line = "▾ " + it.ns
			if c, ok := nsCount[it.ns]; ok {
				line += st.dim.Render(fmt.Sprintf("  (%d/%d)", c[0], c[1]))
			}
			line = st.key.Render(line)
		} else {
			s := m.services[it.svc]
			box := "[ ]"
			if m.selected[s.Key()] {
				box = "[x]"
			}
			reach := " "
			if !s.Reachable {
				reach = st.bad.Render("✗")
			}
			var ports []string
			for _, p := range s.Ports {
				ports = append(ports, mesh.PortLabel(p.Number, string(p.Protocol)))
			}
			ps := strings.Join(ports, ",")
			if ansi.StringWidth(ps) > 18 {
				ps = ansi.Truncate(ps, 18, "…")
			}
			line = fmt.Sprintf("  %s %s %-*s %-18s %3d ep", box, reach, nameW, ansi.Truncate(s.Key(), nameW, "…"), ps, s.Endpoints)
		}
		if cur {
			line = "›" + strings.TrimPrefix(line, " ")
			if it.svc >= 0 {
				line = st.cursor.Render(line)
			}
		}
		out = append(out, line)
	}
	for len(out) < h+1 {
		out = append(out, "")
	}
	out = append(out, m.pickerDetail(st))
	return out
}

func (m *Model) pickerDetail(st styles) string {
	if m.cursor >= len(m.items) {
		return ""
	}
	it := m.items[m.cursor]
	if it.svc < 0 {
		return st.dim.Render("namespace " + it.ns + ": space or a selects its reachable services")
	}
	s := m.services[it.svc]
	if !s.Reachable {
		return st.bad.Render("✗ not reachable: " + s.Reason)
	}
	host := ""
	if len(s.Hosts) > 0 {
		host = s.Hosts[0]
	}
	d := fmt.Sprintf("%s %s · %s", s.Kind, s.Key(), host)
	if len(s.Warnings) > 0 {
		d += " · ⚠ " + s.Warnings[0]
	}
	return st.dim.Render(d)
}

var stepTitles = map[string]string{
	session.StepDiscover:    "mesh settings and catalogue",
	session.StepToken:       "token",
	session.StepCertificate: "certificate",
	session.StepEnvoyStart:  "Envoy image and start",
	session.StepConfig:      "config (listeners ready)",
	session.StepHosts:       "hosts file",
}

func (m *Model) progressView(st styles) []string {
	out := []string{st.title.Render("Joining") + " " + strings.Join(m.selectedKeys(), ", "), ""}
	for _, s := range m.steps {
		title := stepTitles[s.name]
		if title == "" {
			title = s.name
		}
		var mark, dur string
		switch {
		case s.done && s.err != nil:
			mark = st.bad.Render("✗")
			dur = s.duration.Round(time.Millisecond).String()
		case s.done:
			mark = st.good.Render("✓")
			dur = s.duration.Round(time.Millisecond).String()
		case s.running:
			mark = spinFrames[m.spin%len(spinFrames)]
		default:
			mark = st.dim.Render("·")
		}
		out = append(out, fmt.Sprintf("  %s %-28s %8s  %s", mark, title, dur, st.dim.Render(s.detail)))
	}
	if m.failed != "" {
		out = append(out, "")
		out = append(out, m.wrapped(st.bad, m.failed)...)
	}
	return out
}

// wrapped breaks text into lines that fit the width, styled.
func (m *Model) wrapped(style lipgloss.Style, text string) []string {
	var out []string
	for _, l := range strings.Split(ansi.Wrap(text, max(m.width-1, 20), " "), "\n") {
		out = append(out, style.Render(l))
	}
	return out
}

func countdown(d time.Duration) string {
	if d <= 0 {
		return "expired"
	}
	d = d.Round(time.Second)
	h, mnt, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, mnt, s)
	}
	return fmt.Sprintf("%dm%02ds", mnt, s)
}

func fmtP50(d time.Duration, known bool) string {
	switch {
	case !known:
		return "–"
	case d == 0:
		return "<1ms"
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	}
	return d.Round(time.Millisecond).String()
}

func (m *Model) dashboardView(st styles) []string {
	exp := "–"
	if !m.cert.CertNotAfter.IsZero() && !m.now.IsZero() {
		exp = countdown(m.cert.CertNotAfter.Sub(m.now))
	}
	out := []string{
		st.title.Render("Joined") + "  certificate " + orDash(m.info.Identity),
		fmt.Sprintf("        expires in %s · renewals %d", exp, m.cert.Renewals),
	}
	if m.cert.LastError != "" {
		out = append(out, st.bad.Render("renewal failing: "+m.cert.LastError))
	}
	nameW := min(max(m.width-56, 18), 44)
	out = append(out, st.dim.Render(fmt.Sprintf("  %-*s %-15s %-14s %6s %5s %8s", nameW, "NAME", "ADDRESS", "PORTS", "REQ", "ERR", "P50")))
	rows := m.bodyHeight() - len(out) - 2
	logRows := 0
	if m.showLogs {
		logRows = max(rows/2, 3)
		rows -= logRows
	}
	start := max(0, m.dashCursor-rows+1)
	for i := start; i < len(m.joined) && i < start+rows; i++ {
		s := m.joined[i]
		name := s.Key
		if len(s.Names) > 0 {
			name = s.Names[len(s.Names)-1]
		}
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, mesh.PortLabel(p.Number, p.Protocol))
		}
		ps := ansi.Truncate(strings.Join(ports, ","), 14, "…")
		mark := " "
		if s.Problem != "" || s.Errors > 0 {
			mark = st.bad.Render("!")
		}
		line := fmt.Sprintf("%s %-*s %-15s %-14s %6d %5d %8s", mark, nameW, ansi.Truncate(name, nameW, "…"), s.Addr, ps, s.Requests, s.Errors, fmtP50(s.P50, s.P50Known))
		if i == m.dashCursor {
			line = st.cursor.Render("›" + line[1:])
		}
		out = append(out, line)
	}
	if len(m.joined) == 0 {
		out = append(out, "  nothing joined: + adds services")
	}
	for len(out) < m.bodyHeight()-2-logRows {
		out = append(out, "")
	}
	if m.dashCursor < len(m.joined) {
		s := m.joined[m.dashCursor]
		if try := s.TryCommand(); try != "" {
			out = append(out, "  try: "+try)
		}
		if s.Problem != "" {
			out = append(out, st.bad.Render("  "+s.Problem))
		} else if m.statusErr != "" {
			out = append(out, st.bad.Render("  "+m.statusErr))
		} else {
			out = append(out, st.dim.Render("  names: "+strings.Join(s.Names, " ")))
		}
	}
	if m.showLogs {
		out = out[:min(len(out), m.bodyHeight()-logRows)]
		for len(out) < m.bodyHeight()-logRows {
			out = append(out, "")
		}
		out = append(out, st.dim.Render("── log "+strings.Repeat("─", max(m.width-7, 0))))
		lines := m.logLines
		if len(lines) > logRows-1 {
			lines = lines[len(lines)-(logRows-1):]
		}
		out = append(out, lines...)
	}
	return out
}
