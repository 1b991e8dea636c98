package daemon

import (
	"slices"
	"strings"

	"github.com/meshjoin/meshjoin/session"
)

// Proxy mode's variables: HTTP clients (curl, Go, Python, Node, the JVM through its agents)
// read HTTP_PROXY for http:// URLs, and HTTPS_PROXY for https:// URLs and for gRPC, which
// tunnels through CONNECT. Both spellings, because some clients read only the lower case
// (curl ignores an upper-case HTTP_PROXY) and others only the upper.
var proxyVariables = []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}

// NoProxyVariables carry NO_PROXY, in both spellings for the same reason (`run` appends the
// caller's own NO_PROXY to them).
var NoProxyVariables = []string{"NO_PROXY", "no_proxy"}

// alwaysDirect never goes through the proxy: this machine by name, and every IP address (a
// joined service is reached by name only, so an address is never one). Each address family
// is two halves, because curl and Python's requests ignore a /0 (checked with curl 7.88: the
// IPv4 halves work; its IPv6 ranges do not, Go's do); the literals cover clients without ranges.
var alwaysDirect = []string{"localhost", ".localhost", "127.0.0.1", "::1", "0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1"}

// genericTLDs are the top-level domains most traffic outside the mesh goes to, besides the
// two-letter (country) ones, which directTLDs adds all of.
var genericTLDs = []string{
	"com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "name", "pro", "mobi",
	"app", "dev", "cloud", "tech", "xyz", "online", "site", "page", "run", "build", "zone", "team",
}

// ProxyEnvironment is proxy mode's environment for a session whose services are svcs and whose
// proxy listens at addr: the proxy variables, and a NO_PROXY that sends everything else direct.
//
// NO_PROXY can only list what bypasses the proxy; it cannot say "only these names through
// it". The proxy refuses what is not joined (issue #14: never a silent pass-through to the
// internet), so a name left out of NO_PROXY fails with the proxy's 403. NO_PROXY therefore
// lists the local names, every IP address, and the top-level domains the internet lives under
// (every two-letter one and the common generic ones), each matching its whole subtree — except
// the last label of any joined name (svc, local, a namespace, a ServiceEntry's domain), whose
// subtree must reach the proxy. A name outside the mesh under such a label (or under an
// unlisted top-level domain) gets the 403, whose text says to add it to NO_PROXY.
func ProxyEnvironment(addr string, svcs []session.JoinedService) []EnvVar {
	url := "http://" + addr
	var vars []EnvVar
	for _, name := range proxyVariables {
		vars = append(vars, EnvVar{name, url})
	}
	noProxy := strings.Join(NoProxy(svcs), ",")
	for _, name := range NoProxyVariables {
		vars = append(vars, EnvVar{name, noProxy})
	}
	return vars
}

// NoProxy is the NO_PROXY list for the joined services svcs (see ProxyEnvironment).
func NoProxy(svcs []session.JoinedService) []string {
	meshLabels := map[string]bool{}
	for _, js := range svcs {
		for _, n := range js.Names {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			meshLabels[n[strings.LastIndexByte(n, '.')+1:]] = true
		}
	}
	out := slices.Clone(alwaysDirect)
	for _, tld := range directTLDs() {
		if !meshLabels[tld] {
			out = append(out, "."+tld)
		}
	}
	return out
}

// directTLDs are genericTLDs and every two-letter label aa..zz, sorted.
func directTLDs() []string {
	out := slices.Clone(genericTLDs)
	for a := 'a'; a <= 'z'; a++ {
		for b := 'a'; b <= 'z'; b++ {
			out = append(out, string([]rune{a, b}))
		}
	}
	slices.Sort(out)
	return out
}
