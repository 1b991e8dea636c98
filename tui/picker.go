package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/meshjoin/meshjoin/mesh"
)

// picker is the service list: the catalogue grouped by namespace, a fuzzy filter, a cursor
// that scrolls, and the selection. The root model owns one and feeds it keys' effects; the
// picker does no I/O.
type picker struct {
	services  []mesh.Service
	filter    string
	filtering bool // typing into the filter
	items     []item
	cursor    int
	offset    int
	height    int // rows of the list on screen
	selected  map[string]bool
}

// item is one row of the picker: a namespace header (svc < 0) or a service.
type item struct {
	ns  string
	svc int
}

func newPicker() picker { return picker{selected: map[string]bool{}, height: 1} }

// setServices replaces the catalogue, keeping the cursor on the same service.
func (p *picker) setServices(svcs []mesh.Service) {
	p.services = svcs
	p.rebuild()
}

// setHeight sets the rows the list may use.
func (p *picker) setHeight(h int) {
	p.height = max(h, 1)
	p.clampOffset()
}

// current is the service under the cursor (nil on a namespace row or an empty list).
func (p *picker) current() *mesh.Service {
	if p.cursor >= len(p.items) || p.items[p.cursor].svc < 0 {
		return nil
	}
	return &p.services[p.items[p.cursor].svc]
}

// selectedKeys lists the selected services in catalogue order.
func (p *picker) selectedKeys() []string {
	var keys []string
	for _, s := range p.services {
		if p.selected[s.Key()] {
			keys = append(keys, s.Key())
		}
	}
	return keys
}

// selectOnly makes keys the selection.
func (p *picker) selectOnly(keys []string) {
	p.selected = map[string]bool{}
	for _, k := range keys {
		p.selected[k] = true
	}
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

// setFilter applies a changed filter and puts the cursor on the best match.
func (p *picker) setFilter(f string) {
	p.filter = f
	p.rebuild()
	best, at := 0, -1
	for i, it := range p.items {
		if it.svc < 0 {
			continue
		}
		if sc := score(p.filter, &p.services[it.svc]); sc > best {
			best, at = sc, i
		}
	}
	if at >= 0 {
		p.cursor = at
		p.clampOffset()
	}
}

// clearFilter shows every service again.
func (p *picker) clearFilter() {
	p.filter = ""
	p.rebuild()
}

// rebuild recomputes the visible rows from the services and the filter, keeping the cursor
// on the same service when it is still shown.
func (p *picker) rebuild() {
	var keep string
	if s := p.current(); s != nil {
		keep = s.Key()
	}
	p.items = p.items[:0]
	lastNS := ""
	for i := range p.services {
		s := &p.services[i]
		if !match(p.filter, s.Name+"."+s.Namespace) {
			continue
		}
		if s.Namespace != lastNS || len(p.items) == 0 {
			p.items = append(p.items, item{ns: s.Namespace, svc: -1})
			lastNS = s.Namespace
		}
		p.items = append(p.items, item{ns: s.Namespace, svc: i})
	}
	p.cursor = 0
	for i, it := range p.items {
		if it.svc >= 0 && (keep == "" || p.services[it.svc].Key() == keep) {
			p.cursor = i
			break
		}
	}
	if keep != "" && (p.current() == nil || p.current().Key() != keep) {
		p.cursor = min(1, max(len(p.items)-1, 0))
	}
	p.clampOffset()
}

// moveTo puts the cursor on row i (clamped) and scrolls it into view.
func (p *picker) moveTo(i int) {
	if len(p.items) == 0 {
		return
	}
	p.cursor = min(max(i, 0), len(p.items)-1)
	p.clampOffset()
}

func (p *picker) page() int { return max(p.height-1, 1) }

func (p *picker) clampOffset() {
	h := p.height
	if p.cursor < p.offset {
		p.offset = p.cursor
	}
	if p.cursor >= p.offset+h {
		p.offset = p.cursor - h + 1
	}
	p.offset = max(0, min(p.offset, max(len(p.items)-h, 0)))
}

// toggle selects or unselects the row under the cursor (a namespace row: its namespace). It
// returns why nothing changed, or "".
func (p *picker) toggle() (refused string) {
	if p.cursor >= len(p.items) {
		return ""
	}
	s := p.current()
	if s == nil {
		p.toggleNamespace()
		return ""
	}
	k := s.Key()
	if !p.selected[k] && !s.Reachable {
		return k + " cannot be joined: " + s.Reason
	}
	if p.selected[k] {
		delete(p.selected, k)
	} else {
		p.selected[k] = true
	}
	return ""
}

// namespaceKeys are the reachable shown services of the cursor's namespace.
func (p *picker) namespaceKeys() []string {
	if p.cursor >= len(p.items) {
		return nil
	}
	ns := p.items[p.cursor].ns
	var keys []string
	for _, it := range p.items {
		if it.ns == ns && it.svc >= 0 && p.services[it.svc].Reachable {
			keys = append(keys, p.services[it.svc].Key())
		}
	}
	return keys
}

// toggleNamespace selects every reachable shown service of the cursor's namespace, or
// clears them when all are selected.
func (p *picker) toggleNamespace() {
	keys := p.namespaceKeys()
	all := true
	for _, k := range keys {
		all = all && p.selected[k]
	}
	for _, k := range keys {
		if all {
			delete(p.selected, k)
		} else {
			p.selected[k] = true
		}
	}
}

// shown counts the services the filter lets through.
func (p *picker) shown() int {
	n := 0
	for _, it := range p.items {
		if it.svc >= 0 {
			n++
		}
	}
	return n
}

// rows renders the visible part of the list, width cells wide.
func (p *picker) rows(st styles, width int) []string {
	nsCount := map[string][2]int{}
	if len(p.items) <= 5000 { // counts per namespace for headers (visible ones only otherwise)
		for _, it := range p.items {
			if it.svc >= 0 {
				c := nsCount[it.ns]
				c[1]++
				if p.selected[p.services[it.svc].Key()] {
					c[0]++
				}
				nsCount[it.ns] = c
			}
		}
	}
	nameW := min(max(width-44, 20), 48)
	var out []string
	for i := p.offset; i < len(p.items) && i < p.offset+p.height; i++ {
		it := p.items[i]
		mark := " "
		if i == p.cursor {
			mark = "›"
		}
		if it.svc < 0 {
			line := st.key.Render(strings.TrimSpace(mark) + "▾ " + it.ns)
			if c, ok := nsCount[it.ns]; ok {
				line += st.dim.Render(fmt.Sprintf("  (%d/%d)", c[0], c[1]))
			}
			out = append(out, line)
			continue
		}
		s := p.services[it.svc]
		box := "[ ]"
		if p.selected[s.Key()] {
			box = "[x]"
		}
		reach := " "
		if !s.Reachable {
			reach = "✗"
		}
		var ports []string
		for _, pt := range s.Ports {
			ports = append(ports, mesh.PortLabel(pt.Number, string(pt.Protocol)))
		}
		ps := ansi.Truncate(strings.Join(ports, ","), 18, "…")
		// Styles go on whole plain pieces, never cut: the cursor row is reversed as one.
		head := fmt.Sprintf("%s %s ", mark, box)
		rest := fmt.Sprintf(" %-*s %-18s %3d ep", nameW, ansi.Truncate(s.Key(), nameW, "…"), ps, s.Endpoints)
		switch {
		case i == p.cursor:
			out = append(out, st.cursor.Render(head+reach+rest))
		case !s.Reachable:
			out = append(out, head+st.bad.Render(reach)+rest)
		default:
			out = append(out, head+reach+rest)
		}
	}
	return out
}

// detail is the line under the list about the row under the cursor.
func (p *picker) detail(st styles) string {
	if p.cursor >= len(p.items) {
		return ""
	}
	it := p.items[p.cursor]
	if it.svc < 0 {
		return st.dim.Render("namespace " + it.ns + ": space or a selects its reachable services")
	}
	s := p.services[it.svc]
	if !s.Reachable {
		return st.bad.Render("✗ not reachable: " + s.Reason)
	}
	host := ""
	if len(s.Hosts) > 0 {
		host = s.Hosts[0]
	}
	d := fmt.Sprintf("%s %s · %s", s.Kind, s.Key(), host)
	if len(s.Conflicts) > 0 {
		d += " · ⚠ " + s.Conflicts[0].String()
	} else if len(s.Warnings) > 0 {
		d += " · ⚠ " + s.Warnings[0]
	}
	return st.dim.Render(d)
}
