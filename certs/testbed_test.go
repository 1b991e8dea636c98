package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
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
	// istiod's chain: leaf, intermediate, root, and the root once more.
	if got := b.Leaf().URIs[0].String(); got != testbed.SPIFFEID(tb.TrustDomain, "dev", "alice") || len(b.Chain) != 4 {
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

// istiodRefusal issues for alice with the token source and CA config given, and returns the
// refusal, which must come from the real istiod's "request authenticate failure".
func istiodRefusal(t *testing.T, tb *testbed.Testbed, tokens TokenSource, cfg CAConfig) *CAError {
	t.Helper()
	iss := testbedIssuer(t, tb, "alice", cfg)
	if tokens != nil {
		iss.Tokens = tokens
	}
	before := tb.CASigned()
	_, err := iss.Issue(context.Background())
	var caErr *CAError
	if !errors.As(err, &caErr) || !errors.Is(err, ErrCARefused) || !strings.Contains(caErr.Message, istiodOpaqueRefusal) {
		t.Fatalf("want istiod's refusal, got %v", err)
	}
	if n := tb.CASigned() - before; n != 0 {
		t.Errorf("istiod signed %d certificates", n)
	}
	return caErr
}

func ownCA(tb *testbed.Testbed) CAConfig {
	return CAConfig{Address: tb.CAAddr(), ServerName: DefaultCAServerName, RootsPEM: tb.RootPEM, ClusterCAAddress: tb.CAAddr()}
}

// A token for another audience: istiod says only "request authenticate failure"; meshjoin
// names the audience.
func TestRefusalWrongAudienceAgainstIstiod(t *testing.T) {
	tb := testbed.Shared(t)
	tokens := TokenSourceFunc(func(ctx context.Context) (string, error) {
		return tb.Token(ctx, "dev", "alice", "vault.example.com")
	})
	e := istiodRefusal(t, tb, tokens, ownCA(tb))
	for _, want := range []string{`audience is ["vault.example.com"]`, `"istio-ca"`} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("message does not say %s: %v", want, e)
		}
	}
	if !strings.Contains(e.Hint, "istio-ca") {
		t.Errorf("hint: %q", e.Hint)
	}
}

// An expired token (a JWT only in form: istiod cannot verify it either): meshjoin says expired.
func TestRefusalExpiredTokenAgainstIstiod(t *testing.T) {
	tb := testbed.Shared(t)
	claims := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"aud":["istio-ca"],"exp":%d,"sub":"system:serviceaccount:dev:alice"}`, time.Now().Add(-time.Hour).Unix()))
	expired := "eyJhbGciOiJSUzI1NiJ9." + claims + ".c2lnbmF0dXJl"
	e := istiodRefusal(t, tb, TokenSourceFunc(func(context.Context) (string, error) { return expired, nil }), ownCA(tb))
	if !strings.Contains(e.Error(), "token expired at") || !strings.Contains(e.Hint, "clock") {
		t.Errorf("message %v, hint %q", e, e.Hint)
	}
	if strings.Contains(e.Error(), claims) {
		t.Error("the token is in the message")
	}
}

// A cluster ID istiod does not know, against the cluster name the mesh gives.
func TestRefusalWrongClusterIDAgainstIstiod(t *testing.T) {
	tb := testbed.Shared(t)
	cfg := ownCA(tb)
	cfg.ClusterID, cfg.ClusterName = "cluster-west", testbed.DefaultClusterID
	e := istiodRefusal(t, tb, nil, cfg)
	if !strings.Contains(e.Error(), `cluster ID "cluster-west"`) || !strings.Contains(e.Hint, "--cluster-id "+testbed.DefaultClusterID) {
		t.Errorf("message %v, hint %q", e, e.Hint)
	}
	// Without the name, meshjoin still suspects the cluster ID.
	cfg.ClusterName = ""
	if e := istiodRefusal(t, tb, nil, cfg); !strings.Contains(e.Error(), `"cluster-west", which istiod may not know`) {
		t.Errorf("without the cluster name: %v", e)
	}
}

// The certificate a join gets is istiod's: its CSR counter moves, and the chain is the shape
// only istiod gives (the root repeated at the end).
func TestIssuedByIstiod(t *testing.T) {
	tb := testbed.Shared(t)
	before := tb.CASigned()
	iss := testbedIssuer(t, tb, "alice", CAConfig{})
	ca := iss.CA.(*CAClient)
	der, err := ca.Sign(context.Background(), mustCSR(t, iss.Identity), time.Hour, must(t, iss.Tokens))
	if err != nil {
		t.Fatal(err)
	}
	if n := tb.CASigned() - before; n != 1 {
		t.Fatalf("istiod's success_cert_issuance count moved by %d", n)
	}
	last, err := x509.ParseCertificate(der[len(der)-1])
	if err != nil {
		t.Fatal(err)
	}
	if len(der) != 4 || !last.Equal(tb.CA.Root) {
		t.Fatalf("chain of %d certificates, last %s; istiod sends leaf, intermediate, root, root", len(der), last.Subject)
	}
}

func mustCSR(t *testing.T, id Identity) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := NewCSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func must(t *testing.T, ts TokenSource) string {
	t.Helper()
	tok, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
