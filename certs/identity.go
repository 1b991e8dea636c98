package certs

import (
	"fmt"
	"strings"
)

// Identity is a mesh workload identity: a Kubernetes service account in a
// trust domain. Its certificate carries spiffe://<td>/ns/<ns>/sa/<sa>.
type Identity struct {
	TrustDomain    string // e.g. "cluster.local"; empty until read from the mesh config
	Namespace      string
	ServiceAccount string
}

const spiffeScheme = "spiffe://"

// identityForms is the help shown with every malformed identity.
const identityForms = `expected "<namespace>/<serviceaccount>" (e.g. "bookinfo/productpage") or "spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>"`

// ParseIdentity reads "<namespace>/<serviceaccount>" (the trust domain is left
// empty, to be filled from the mesh config) or a full Istio SPIFFE ID
// "spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>". The namespace
// must be a DNS-1123 label, the service account a DNS-1123 subdomain (the
// rules Kubernetes applies to their names). Errors wrap [ErrInvalidIdentity].
func ParseIdentity(s string) (Identity, error) {
	fail := func(why string, args ...any) (Identity, error) {
		return Identity{}, fmt.Errorf("%w %s: %s; %s", ErrInvalidIdentity, quoteShort(s), fmt.Sprintf(why, args...), identityForms)
	}
	if s == "" {
		return fail("it is empty")
	}
	var id Identity
	if rest, ok := strings.CutPrefix(s, spiffeScheme); ok {
		parts := strings.Split(rest, "/")
		if len(parts) != 5 || parts[1] != "ns" || parts[3] != "sa" {
			return fail("a SPIFFE ID must have exactly the path /ns/<namespace>/sa/<serviceaccount>")
		}
		id = Identity{TrustDomain: parts[0], Namespace: parts[2], ServiceAccount: parts[4]}
		if id.TrustDomain == "" {
			return fail("the trust domain is empty")
		}
	} else {
		if strings.Contains(s, "://") {
			return fail("only the spiffe:// scheme is accepted")
		}
		ns, sa, ok := strings.Cut(s, "/")
		if !ok {
			return fail("there is no '/' between namespace and service account")
		}
		if strings.Contains(sa, "/") {
			return fail("there is more than one '/'")
		}
		id = Identity{Namespace: ns, ServiceAccount: sa}
	}
	if err := id.validate(); err != nil {
		return fail("%s", err)
	}
	return id, nil
}

// SPIFFEID is the identity as Istio writes it in certificates:
// spiffe://<td>/ns/<ns>/sa/<sa>. The trust domain must have been set.
func (i Identity) SPIFFEID() string {
	return spiffeScheme + i.TrustDomain + "/ns/" + i.Namespace + "/sa/" + i.ServiceAccount
}

// String is the SPIFFE ID when the trust domain is known, else "<ns>/<sa>".
func (i Identity) String() string {
	if i.TrustDomain == "" {
		return i.Namespace + "/" + i.ServiceAccount
	}
	return i.SPIFFEID()
}

// Validate checks every part, the trust domain included: an identity must
// pass it before a certificate is requested for it.
func (i Identity) Validate() error {
	if i.TrustDomain == "" {
		return fmt.Errorf("%w %s: the trust domain is not set (it comes from the mesh config, field trustDomain)", ErrInvalidIdentity, quoteShort(i.String()))
	}
	if err := i.validate(); err != nil {
		return fmt.Errorf("%w %s: %s", ErrInvalidIdentity, quoteShort(i.String()), err)
	}
	return nil
}

// validate checks the parts that are set; an empty trust domain is allowed.
func (i Identity) validate() error {
	if why := dns1123Label(i.Namespace); why != "" {
		return fmt.Errorf("namespace %s %s", quoteShort(i.Namespace), why)
	}
	if why := dns1123Subdomain(i.ServiceAccount); why != "" {
		return fmt.Errorf("service account %s %s", quoteShort(i.ServiceAccount), why)
	}
	if i.TrustDomain != "" {
		if why := trustDomain(i.TrustDomain); why != "" {
			return fmt.Errorf("trust domain %s %s", quoteShort(i.TrustDomain), why)
		}
	}
	return nil
}

const labelRules = "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"

// dns1123Label returns why s is not a DNS-1123 label, or "".
func dns1123Label(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > 63:
		return "is longer than 63 characters; a DNS-1123 label has " + labelRules
	}
	for j := 0; j < len(s); j++ {
		c := s[j]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || j == 0 || j == len(s)-1) {
			return "is not a DNS-1123 label: " + labelRules
		}
	}
	return ""
}

// dns1123Subdomain returns why s is not a DNS-1123 subdomain, or "".
func dns1123Subdomain(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > 253:
		return "is longer than 253 characters"
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || dns1123Label(label) != "" {
			return "is not a DNS-1123 subdomain: dot-separated parts of " + labelRules
		}
	}
	return ""
}

// trustDomain returns why s is not a SPIFFE trust domain name, or "".
func trustDomain(s string) string {
	if len(s) > 255 {
		return "is longer than 255 characters"
	}
	for j := 0; j < len(s); j++ {
		c := s[j]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return "may hold only lowercase letters, digits, '.', '-' and '_'"
		}
	}
	return ""
}

// quoteShort quotes user input for an error message: control characters are
// escaped by %q and very long input is cut.
func quoteShort(s string) string {
	const limit = 80
	if len(s) > limit {
		return fmt.Sprintf("%q...", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}
