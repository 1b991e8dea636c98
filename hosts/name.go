package hosts

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Entry is one address and the names that resolve to it. The first name is the canonical one
// (reverse lookups return it).
type Entry struct {
	IP    netip.Addr
	Names []string // e.g. "ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc", "ratings.bookinfo"
}

// Rejected is a name that Apply did not write, and why, so that the caller can warn.
type Rejected struct{ Name, Reason string }

const (
	maxNameLen  = 253
	maxLabelLen = 63
)

// nameProblem returns the reason name is refused, phrased to follow the name, or "".
func nameProblem(name string) string {
	if name == "" {
		return "is empty"
	}
	// Checks that explain the most dangerous characters come first, so the reason is specific.
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == 0:
			return "contains a NUL byte"
		case c == '\n' || c == '\r':
			return "contains a line break"
		case c == ' ' || c == '\t' || c == '\v' || c == '\f':
			return "contains whitespace"
		case c == '#':
			return "contains '#', which starts a comment in a hosts file"
		}
	}
	for _, r := range name {
		// Checked before lower-casing: strings.ToLower maps some non-ASCII runes to ASCII
		// (KELVIN SIGN to 'k'), which would write a different name from the one asked for.
		if r >= 0x80 {
			return fmt.Sprintf("contains the non-ASCII character %q; write internationalised names in their xn-- form", r)
		}
	}
	lower := strings.ToLower(name)
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Sprintf("contains %q; only letters, digits, '-' and '.' are allowed", c)
		}
	}
	if len(name) > maxNameLen {
		return fmt.Sprintf("is %d characters long; the limit is %d", len(name), maxNameLen)
	}
	switch {
	case lower[0] == '.' || lower[0] == '-':
		return fmt.Sprintf("starts with %q", lower[0])
	case lower[len(lower)-1] == '.' || lower[len(lower)-1] == '-':
		return fmt.Sprintf("ends with %q", lower[len(lower)-1])
	}
	for label := range strings.SplitSeq(lower, ".") {
		switch {
		case label == "":
			return "has an empty label (two dots in a row)"
		case len(label) > maxLabelLen:
			return fmt.Sprintf("has a label of %d characters; the limit is %d", len(label), maxLabelLen)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Sprintf("has the label %q, which starts or ends with '-'", label)
		}
	}
	// "10.0.0.1" as a name would shadow address lookups in some resolvers.
	if _, err := netip.ParseAddr(lower); err == nil {
		return "is an IP address, not a name"
	}
	return ""
}

// quoteName quotes a name for a message, shortening hostile lengths.
func quoteName(name string) string {
	const show = 48
	if len(name) <= show {
		return fmt.Sprintf("%q", name)
	}
	return fmt.Sprintf("%q... (%d bytes)", name[:show], len(name))
}

// addrProblem returns why ip cannot be the address of a hosts line, or "".
func addrProblem(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "its entry has no IP address"
	case ip.Zone() != "":
		return fmt.Sprintf("its address %s has an IPv6 zone, which hosts files do not support", ip)
	}
	return ""
}

// normalize turns what the caller asked for into what is written: names lower-cased and
// deduplicated, a name claimed by two addresses kept for the first, entries with the same
// address merged, entries left without names dropped, and the result sorted by address so that
// the same set gives the same bytes whatever order the caller built it in.
func normalize(entries []Entry) (desired []Entry, rejected []Rejected) {
	addrOf := map[string]netip.Addr{}
	index := map[netip.Addr]int{}
	for _, e := range entries {
		ipProblem := addrProblem(e.IP)
		var names []string
		for _, raw := range e.Names {
			if ipProblem != "" {
				rejected = append(rejected, Rejected{Name: raw, Reason: ipProblem})
				continue
			}
			if p := nameProblem(raw); p != "" {
				rejected = append(rejected, Rejected{Name: raw, Reason: p})
				continue
			}
			if p := ReservedProblem(raw); p != "" {
				rejected = append(rejected, Rejected{Name: raw, Reason: p})
				continue
			}
			name := strings.ToLower(raw)
			if prev, ok := addrOf[name]; ok {
				if prev != e.IP {
					rejected = append(rejected, Rejected{Name: raw, Reason: fmt.Sprintf("is already listed for %s", prev)})
				}
				continue
			}
			addrOf[name] = e.IP
			names = append(names, name)
		}
		if len(names) == 0 {
			continue
		}
		if i, ok := index[e.IP]; ok {
			desired[i].Names = append(desired[i].Names, names...)
			continue
		}
		index[e.IP] = len(desired)
		desired = append(desired, Entry{IP: e.IP, Names: names})
	}
	slices.SortFunc(desired, func(a, b Entry) int { return a.IP.Compare(b.IP) })
	return desired, rejected
}

// NameProblem says why name may not be written to a hosts file (its syntax, or a name reserved
// for this machine), or "": the rules Apply uses, for a caller that must refuse a whole request
// rather than leave the name out (the privileged helper).
func NameProblem(name string) string {
	if p := nameProblem(name); p != "" {
		return p
	}
	return ReservedProblem(name)
}
