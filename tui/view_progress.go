package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/meshjoin/meshjoin/session"
)

// The join progress: one row per step.

var stepTitles = map[string]string{
	session.StepDiscover:    "mesh settings and catalogue",
	session.StepToken:       "token",
	session.StepCertificate: "certificate",
	session.StepEnvoyStart:  "Envoy image and start",
	session.StepConfig:      "config (listeners ready)",
	session.StepHosts:       "hosts file",
}

func (m *Model) progressView(st styles) []string {
	out := []string{st.title.Render("Joining") + " " + strings.Join(m.pick.selectedKeys(), ", "), ""}
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
			mark = m.spinFrame()
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
