package helper

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/meshjoin/meshjoin/hosts"
)

// Limits of one request, far above what a session asks for.
const (
	maxEntries       = 4096
	maxNamesPerEntry = 64
	maxAliases       = 4096
)

// sessionPattern is what a session id may look like: meshjoin's are 12 hex digits; the
// helper accepts any short plain word, which keeps the owner tag one word.
var sessionPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// OwnerTag is the owner written in the BEGIN marker of a block the helper writes: the
// caller's uid and session, so that the helper can tell whose block it is.
func OwnerTag(uid int, session string) string { return fmt.Sprintf("uid%d:%s", uid, session) }

// ParseOwnerTag splits an owner written by OwnerTag; ok is false for a block written without
// the helper (by root or through sudo).
func ParseOwnerTag(owner string) (uid int, session string, ok bool) {
	head, session, found := strings.Cut(owner, ":")
	digits, isUID := strings.CutPrefix(head, "uid")
	if !found || !isUID || !sessionPattern.MatchString(session) {
		return 0, "", false
	}
	uid, err := strconv.Atoi(digits)
	if err != nil || uid < 0 || strconv.Itoa(uid) != digits {
		return 0, "", false
	}
	return uid, session, true
}

func checkSession(id string) error {
	if !sessionPattern.MatchString(id) {
		return refusal(KindUsage, "", "session id %q refused: use 1 to 64 letters, digits, '.', '_' or '-'", truncate(id))
	}
	return nil
}

// checkEntries refuses the whole request when any entry breaks a rule: an address outside
// the range, or a name the hosts rules refuse (syntax, or reserved for this machine). A
// session never sends such entries (the catalogue leaves them out), so one that does is
// refused rather than partly carried out.
func checkEntries(r netip.Prefix, entries []hosts.Entry) error {
	if len(entries) > maxEntries {
		return refusal(KindRefused, "", "%d entries refused: at most %d per request", len(entries), maxEntries)
	}
	for _, e := range entries {
		if err := checkAddr(r, e.IP); err != nil {
			return err
		}
		if len(e.Names) == 0 || len(e.Names) > maxNamesPerEntry {
			return refusal(KindRefused, "", "entry for %s refused: it has %d names (1 to %d allowed)", e.IP, len(e.Names), maxNamesPerEntry)
		}
		for _, n := range e.Names {
			if p := hosts.NameProblem(n); p != "" {
				return refusal(KindRefused, "", "name %q refused: it %s", truncate(n), p)
			}
		}
	}
	return nil
}

// checkAddr refuses an address outside the configured range.
func checkAddr(r netip.Prefix, a netip.Addr) error {
	if !a.IsValid() || a.Zone() != "" || !r.Contains(a.Unmap()) {
		return refusal(KindRefused, "use addresses inside "+r.String()+" (meshjoin's --address-range), or reinstall the helper with another --range",
			"address %s refused: outside the helper's range %s", a, r)
	}
	return nil
}

// checkListen refuses a listening address outside the range, or without a port.
func checkListen(r netip.Prefix, a netip.AddrPort) error {
	if a.Port() == 0 {
		return refusal(KindUsage, "", "listen on %s refused: name a port", a)
	}
	return checkAddr(r, a.Addr())
}

func checkAliases(r netip.Prefix, req AliasRequest) error {
	if n := len(req.Add) + len(req.Remove); n > maxAliases {
		return refusal(KindRefused, "", "%d aliases refused: at most %d per request", n, maxAliases)
	}
	for _, a := range append(append([]netip.Addr{}, req.Add...), req.Remove...) {
		if err := checkAddr(r, a); err != nil {
			return err
		}
	}
	return nil
}

// truncate keeps hostile input short in messages and logs.
func truncate(s string) string {
	const show = 64
	if len(s) <= show {
		return s
	}
	return s[:show] + "..."
}
