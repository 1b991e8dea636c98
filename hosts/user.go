package hosts

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// userNames maps each name that a line outside meshjoin's block resolves (lower-cased) to
// the first such line's 1-based number. Lines whose first field is not an address are
// skipped, as resolvers skip them.
func userNames(content []byte, block Block, found bool) map[string]int {
	out := map[string]int{}
	num := 0
	for line := range bytes.Lines(content) {
		num++
		if found && num >= block.BeginLine && num <= block.EndLine {
			continue
		}
		t := string(line)
		if i := strings.IndexByte(t, '#'); i >= 0 {
			t = t[:i]
		}
		f := strings.Fields(t)
		if len(f) < 2 {
			continue
		}
		if _, err := netip.ParseAddr(f[0]); err != nil {
			continue
		}
		for _, n := range f[1:] {
			n = strings.ToLower(n)
			if _, seen := out[n]; !seen {
				out[n] = num
			}
		}
	}
	return out
}

// withoutUserNames drops from desired (normalised) the names the user's own lines already
// resolve: their entries win, and a second line for the same name would make which address
// answers depend on the resolver.
func withoutUserNames(desired []Entry, users map[string]int, path string) (kept []Entry, rejected []Rejected) {
	for _, e := range desired {
		var names []string
		for _, n := range e.Names {
			if line, ok := users[n]; ok {
				rejected = append(rejected, Rejected{Name: n, Reason: fmt.Sprintf(
					"already resolves through line %d of %s, outside meshjoin's block: your entry wins (remove that line to let meshjoin map the name)", line, path)})
				continue
			}
			names = append(names, n)
		}
		if len(names) > 0 {
			kept = append(kept, Entry{IP: e.IP, Names: names})
		}
	}
	return kept, rejected
}
