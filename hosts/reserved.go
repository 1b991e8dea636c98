package hosts

import (
	"os"
	"strings"
	"sync"
)

// Names that belong to the machine itself: resolving one to a mesh service would break the
// machine (localhost) or hijack it. A cluster object (anyone who may create a ServiceEntry)
// must never get them into the hosts file.
var reservedNames = map[string]bool{
	"localhost":             true,
	"localhost.localdomain": true,
	"broadcasthost":         true, // macOS
}

// machineNames are this machine's host name and its first label, lower-cased, read once.
var machineNames = sync.OnceValue(func() []string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return nil
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	short, _, _ := strings.Cut(h, ".")
	if short == h {
		return []string{h}
	}
	return []string{h, short}
})

// ReservedProblem says why name (any case) is reserved for this machine, or "": localhost
// and every name under .localhost (RFC 6761), localhost.localdomain, the ip6-* names Debian
// gives the IPv6 loopback and multicast addresses, broadcasthost, and the machine's own host
// name (with and without its domain).
func ReservedProblem(name string) string {
	return reservedFor(name, machineNames())
}

func reservedFor(name string, machine []string) string {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	switch {
	case reservedNames[n] || strings.HasSuffix(n, ".localhost"):
		return "is reserved for this machine's loopback"
	case strings.HasPrefix(n, "ip6-"):
		return "is reserved for the machine's IPv6 names (ip6-*)"
	}
	for _, m := range machine {
		if n == m {
			return "is this machine's own host name"
		}
	}
	return ""
}
