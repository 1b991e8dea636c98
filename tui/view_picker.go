package tui

import "fmt"

// The service picker screen around the picker component.

func (m *Model) pickerView(st styles) []string {
	p := &m.pick
	title := st.title.Render("Services")
	switch {
	case p.filtering:
		title += "  filter: /" + p.filter + "▏"
	case p.filter != "":
		title += "  filter: /" + p.filter
	}
	title += fmt.Sprintf("   %d selected · %d of %d shown", len(p.selected), p.shown(), len(p.services))
	out := []string{title}
	if m.failed != "" {
		out = append(out, m.wrapped(st.bad, m.failed)...)
		out = append(out, "", "enter tries again · q quits")
		return out
	}
	if !m.loaded || m.busy && len(p.services) == 0 {
		return append(out, "  "+m.spinFrame()+" reading the mesh settings and the catalogue …")
	}
	if len(p.items) == 0 {
		out = append(out, "  no service matches")
	}
	out = append(out, p.rows(st, m.width)...)
	for len(out) < p.height+1 {
		out = append(out, "")
	}
	return append(out, p.detail(st))
}
