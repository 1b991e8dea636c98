package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

// The dashboard: the joined services with their traffic, the certificate, the log pane.

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
	if c := m.cert.Stale; c != nil {
		out = append(out, st.bad.Render(ansi.Truncate("catalogue stale since "+c.Since.Local().Format(time.TimeOnly)+" ("+c.Cause+")", max(m.width-1, 20), "…")))
	}
	switch {
	case m.cert.Renewal != nil && !m.now.IsZero():
		out = append(out, renewalLines(m.cert.Renewal, m.now, max(m.width-1, 20), st)...)
	case m.cert.LastError != "":
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
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, mesh.PortLabel(p.Number, p.Protocol))
		}
		ps := ansi.Truncate(strings.Join(ports, ","), 14, "…")
		// The first column marks the cursor row (›, the whole row reversed) or a row with
		// problems (!, red); styles go on whole plain pieces, never cut.
		row := fmt.Sprintf(" %-*s %-15s %-14s %6d %5d %8s", nameW, ansi.Truncate(s.CallName(), nameW, "…"), s.Where(), ps, s.Requests, s.Errors, fmtP50(s.P50, s.P50Known))
		var line string
		switch {
		case i == m.dashCursor:
			line = st.cursor.Render("›" + row)
		case s.Problem != "" || s.Errors > 0:
			line = st.bad.Render("!") + row
		default:
			line = " " + row
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

// renewalLines say, while renewal fails, since when, how long the certificate lasts, when
// the next retry is, and why (on a line of its own: the cause is long).
func renewalLines(r *session.RenewalTrouble, now time.Time, width int, st styles) []string {
	cert := "certificate expires at " + r.CertNotAfter.Local().Format(time.TimeOnly)
	switch {
	case r.CertNotAfter.IsZero():
		cert = "no certificate yet"
	case !now.Before(r.CertNotAfter):
		cert = "certificate EXPIRED at " + r.CertNotAfter.Local().Format(time.TimeOnly)
	}
	head := fmt.Sprintf("renewal failing since %s · %s · retry in %s",
		r.Since.Local().Format(time.TimeOnly), cert, max(r.NextAttempt.Sub(now), 0).Round(time.Second))
	return []string{st.bad.Render(ansi.Truncate(head, width, "…")), st.bad.Render(ansi.Truncate("  "+r.Cause, width, "…"))}
}
