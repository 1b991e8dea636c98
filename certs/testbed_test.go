package certs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/meshjoin/meshjoin/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

func developer(t *testing.T, tb *testbed.Testbed) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(tb.RESTConfig(testbed.DeveloperUser))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testbedIssuer(t *testing.T, tb *testbed.Testbed, sa string, cfg CAConfig) *Issuer {
	t.Helper()
	if cfg.Address == "" {
		cfg = CAConfig{Address: tb.CAAddr(), ServerName: DefaultCAServerName, RootsPEM: tb.RootPEM}
	}
	ca, err := DialCA(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ca.Close() })
	roots, err := ParseRoots(tb.RootPEM)
	if err != nil {
		t.Fatal(err)
	}
	id := Identity{TrustDomain: tb.TrustDomain, Namespace: "dev", ServiceAccount: sa}
	return &Issuer{CA: ca, Tokens: NewServiceAccountTokenSource(developer(t, tb), id), Identity: id, Roots: roots, TTL: 10 * time.Minute}
}

// The real path: the developer's TokenRequest, the mesh CA through the gateway's 15012.
func TestIssueAgainstTestbed(t *testing.T) {
	tb := testbed.Shared(t)
	before := tb.CASigned()
	b, err := testbedIssuer(t, tb, "alice", CAConfig{}).Issue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Leaf().URIs[0].String(); got != testbed.SPIFFEID(tb.TrustDomain, "dev", "alice") || len(b.Chain) != 3 {
		t.Fatalf("leaf %s, chain of %d", got, len(b.Chain))
	}
	if tb.CASigned() != before+1 {
		t.Fatal("the testbed CA did not sign")
	}
	if !b.RenewAt().After(time.Now().Add(4*time.Minute)) || !b.RenewAt().Before(b.NotAfter) {
		t.Fatalf("renew at %s for a certificate until %s", b.RenewAt(), b.NotAfter)
	}
}

func TestIssueForbiddenIdentityAgainstTestbed(t *testing.T) {
	tb := testbed.Shared(t)
	_, err := testbedIssuer(t, tb, "bob", CAConfig{}).Issue(context.Background())
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "kubectl auth can-i create serviceaccounts/bob --subresource=token -n dev") {
		t.Fatalf("bob: %v", err)
	}
}

func TestIssueWrongServerNameAgainstTestbed(t *testing.T) {
	tb := testbed.Shared(t)
	_, err := testbedIssuer(t, tb, "alice", CAConfig{Address: tb.CAAddr(), ServerName: "not-istiod.example", RootsPEM: tb.RootPEM}).Issue(context.Background())
	if !errors.Is(err, ErrCAUntrusted) {
		t.Fatalf("wrong server name: %v", err)
	}
}

func TestIssueTTLAboveMaximumAgainstTestbed(t *testing.T) {
	tb := testbed.Shared(t)
	iss := testbedIssuer(t, tb, "alice", CAConfig{})
	iss.TTL = tb.MaxCertTTL + time.Hour
	_, err := iss.Issue(context.Background())
	if !errors.Is(err, ErrCAInvalidRequest) || !strings.Contains(err.Error(), "--cert-ttl") {
		t.Fatalf("TTL above maximum: %v", err)
	}
}
