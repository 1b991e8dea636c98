package mesh

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshjoin/meshjoin/hosts"
)

// checkHost tells why a host name taken from the cluster cannot be used in a hosts file, an
// SNI or an Envoy config, or returns "". Case is kept (SNI must match the gateway's chain as
// declared) but judged case-insensitively, as DNS does.
func checkHost(h string) string {
	switch {
	case h == "":
		return "empty"
	case len(h) > validation.DNS1123SubdomainMaxLength:
		return fmt.Sprintf("longer than %d characters", validation.DNS1123SubdomainMaxLength)
	case strings.HasPrefix(h, "*"):
		return "wildcard hosts cannot be joined"
	case len(validation.IsDNS1123Subdomain(strings.ToLower(h))) > 0:
		return "not a valid DNS name (RFC 1123)"
	}
	if why := hosts.ReservedProblem(h); why != "" {
		return why + "; never written to the hosts file"
	}
	return ""
}

// checkServiceAccount tells why a service-account name cannot be part of a SPIFFE ID, or "".
func checkServiceAccount(sa string) string {
	if len(validation.IsDNS1123Subdomain(sa)) > 0 {
		return "not a valid service account name"
	}
	return ""
}

// checkSPIFFE tells why s is not a SPIFFE ID usable as an exact URI SAN, or returns "".
func checkSPIFFE(s string) string {
	if len(s) > 2048 {
		return "too long"
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII {
			return "contains spaces, control or non-ASCII characters"
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "spiffe" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
		return "not a SPIFFE ID (spiffe://trust-domain/path)"
	}
	if !validTrustDomain(u.Host) {
		return "not a valid SPIFFE trust domain"
	}
	return ""
}

// checkPortName tells why a ServiceEntry port name is unfit for display, or "".
func checkPortName(n string) string {
	if len(n) > 63 {
		return "longer than 63 characters"
	}
	for _, r := range n {
		if !(r == '-' || r == '_' || r == '.' || r <= unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return "contains characters other than letters, digits, '-', '_' and '.'"
		}
	}
	return ""
}

func spiffeID(trustDomain, ns, sa string) string {
	return "spiffe://" + trustDomain + "/ns/" + ns + "/sa/" + sa
}

// expandTrustDomains adds, for each SPIFFE ID of the trust domain, the same ID under each
// alias, as Istio's own sidecars accept (spiffe.ExpandWithTrustDomains). Order is kept and
// duplicates removed.
func expandTrustDomains(ids []string, td string, aliases []string) []string {
	out := make([]string, 0, len(ids)*(1+len(aliases)))
	seen := make(map[string]bool, cap(out))
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	prefix := "spiffe://" + td + "/"
	for _, id := range ids {
		add(id)
		if rest, ok := strings.CutPrefix(id, prefix); ok {
			for _, a := range aliases {
				add("spiffe://" + a + "/" + rest)
			}
		}
	}
	return out
}

// quoteShort quotes a value from the cluster for a message, cut to a readable length, with
// control characters escaped.
func quoteShort(s string) string {
	const max = 80
	if len(s) > max {
		return strconv.Quote(s[:max]) + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
