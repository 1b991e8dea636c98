package tui

import "charm.land/lipgloss/v2"

// The TUI's styles and spinner, in one place.

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

func (m *Model) spinFrame() string { return spinFrames[m.spin%len(spinFrames)] }
