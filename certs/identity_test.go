package certs_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/certs"
)

func TestParseIdentity(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want certs.Identity
	}{
		{"bookinfo/productpage", certs.Identity{Namespace: "bookinfo", ServiceAccount: "productpage"}},
		{"default/default", certs.Identity{Namespace: "default", ServiceAccount: "default"}},
		{"a/b", certs.Identity{Namespace: "a", ServiceAccount: "b"}},
		{"ns-1/sa.with.dots", certs.Identity{Namespace: "ns-1", ServiceAccount: "sa.with.dots"}},
		{"0ns/0sa", certs.Identity{Namespace: "0ns", ServiceAccount: "0sa"}},
		{strings.Repeat("n", 63) + "/" + strings.Repeat("s", 63), certs.Identity{Namespace: strings.Repeat("n", 63), ServiceAccount: strings.Repeat("s", 63)}},
		{"spiffe://cluster.local/ns/bookinfo/sa/productpage", certs.Identity{TrustDomain: "cluster.local", Namespace: "bookinfo", ServiceAccount: "productpage"}},
		{"spiffe://corp_mesh-1.example/ns/dev/sa/me", certs.Identity{TrustDomain: "corp_mesh-1.example", Namespace: "dev", ServiceAccount: "me"}},
	}
	for _, tc := range good {
		got, err := certs.ParseIdentity(tc.in)
		if err != nil {
			t.Errorf("ParseIdentity(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseIdentity(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}

	bad := []struct {
		in   string
		want string // part of the reason
	}{
		{"", "it is empty"},
		{"productpage", "no '/'"},
		{"/sa", `namespace "" is empty`},
		{"ns/", `service account "" is empty`},
		{"a/b/c", "more than one '/'"},
		{"Bookinfo/productpage", "not a DNS-1123 label"},
		{"book_info/productpage", "not a DNS-1123 label"},
		{"-ns/sa", "not a DNS-1123 label"},
		{"ns-/sa", "not a DNS-1123 label"},
		{"ns.dots/sa", "not a DNS-1123 label"},
		{strings.Repeat("n", 64) + "/sa", "longer than 63"},
		{"ns/" + strings.Repeat("s", 254), "longer than 253"},
		{"ns/Sa", "not a DNS-1123 subdomain"},
		{"ns/sa..x", "not a DNS-1123 subdomain"},
		{"ns/.sa", "not a DNS-1123 subdomain"},
		{" ns/sa", "not a DNS-1123 label"},
		{"ns/sa\n", "not a DNS-1123 subdomain"},
		{"ns/sa\x1b[31m", "not a DNS-1123 subdomain"},
		{"ns/../../etc", "more than one '/'"},
		{"ns/s%2fa", "not a DNS-1123 subdomain"},
		{"ns/sä", "not a DNS-1123 subdomain"},
		{"spiffe://cluster.local/ns/dev/sa/me/", "exactly the path"},
		{"spiffe://cluster.local/ns/dev", "exactly the path"},
		{"spiffe://cluster.local/sa/me/ns/dev", "exactly the path"},
		{"spiffe:///ns/dev/sa/me", "trust domain is empty"},
		{"spiffe://Cluster.Local/ns/dev/sa/me", "trust domain"},
		{"spiffe://cluster.local:443/ns/dev/sa/me", "trust domain"},
		{"spiffe://user@cluster.local/ns/dev/sa/me", "trust domain"},
		{"spiffe://cluster.local/ns/dev/sa/me?x=1", "not a DNS-1123 subdomain"},
		{"spiffe://cluster.local/ns/Dev/sa/me", "not a DNS-1123 label"},
		{"SPIFFE://cluster.local/ns/dev/sa/me", "only the spiffe:// scheme"},
		{"https://cluster.local/ns/dev/sa/me", "only the spiffe:// scheme"},
	}
	for _, tc := range bad {
		_, err := certs.ParseIdentity(tc.in)
		if err == nil {
			t.Errorf("ParseIdentity(%q) accepted it", tc.in)
			continue
		}
		msg := err.Error()
		if !errors.Is(err, certs.ErrInvalidIdentity) {
			t.Errorf("ParseIdentity(%q): error does not wrap ErrInvalidIdentity: %v", tc.in, err)
		}
		if !strings.Contains(msg, tc.want) {
			t.Errorf("ParseIdentity(%q) = %q\nwant it to say %q", tc.in, msg, tc.want)
		}
		if !strings.Contains(msg, `"<namespace>/<serviceaccount>"`) {
			t.Errorf("ParseIdentity(%q) = %q: does not show the expected form", tc.in, msg)
		}
		// What was given is shown quoted, so control characters are escaped.
		if strings.ContainsAny(msg, "\n\x1b") {
			t.Errorf("ParseIdentity(%q) = %q: control characters reach the message", tc.in, msg)
		}
		if len(msg) > 600 {
			t.Errorf("ParseIdentity(%q): message of %d bytes, input not shortened", tc.in, len(msg))
		}
	}
}

func TestIdentityStrings(t *testing.T) {
	t.Parallel()
	id := certs.Identity{TrustDomain: "cluster.local", Namespace: "dev", ServiceAccount: "me"}
	if got, want := id.SPIFFEID(), "spiffe://cluster.local/ns/dev/sa/me"; got != want {
		t.Errorf("SPIFFEID = %q, want %q", got, want)
	}
	if got, want := id.String(), "spiffe://cluster.local/ns/dev/sa/me"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	id.TrustDomain = ""
	if got, want := id.String(), "dev/me"; got != want {
		t.Errorf("String without trust domain = %q, want %q", got, want)
	}
	back, err := certs.ParseIdentity(certs.Identity{TrustDomain: "td", Namespace: "dev", ServiceAccount: "me"}.SPIFFEID())
	if err != nil || back != (certs.Identity{TrustDomain: "td", Namespace: "dev", ServiceAccount: "me"}) {
		t.Errorf("SPIFFEID does not parse back: %+v, %v", back, err)
	}
}

func TestIdentityValidate(t *testing.T) {
	t.Parallel()
	if err := (certs.Identity{TrustDomain: "cluster.local", Namespace: "dev", ServiceAccount: "me"}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for _, id := range []certs.Identity{
		{Namespace: "dev", ServiceAccount: "me"},
		{TrustDomain: "cluster.local", Namespace: "Dev", ServiceAccount: "me"},
		{TrustDomain: "cluster.local", Namespace: "dev", ServiceAccount: "a/b"},
		{TrustDomain: "cluster/local", Namespace: "dev", ServiceAccount: "me"},
	} {
		if err := id.Validate(); !errors.Is(err, certs.ErrInvalidIdentity) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidIdentity", id, err)
		}
	}
}
