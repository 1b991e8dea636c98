// Over 500 lines: the CA client against an in-process CA, one case per refusal and failure the mesh CA can give.

package certs_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"

	"github.com/meshjoin/meshjoin/certs"
)

// testToken is distinctive so that a leak into an error string is certain to
// be seen. It is shaped like a JWT: the redaction also covers its parts.
const testToken = "hdr-7f3a9c1e.SECRET-PAYLOAD-5b2d8e4f.sig-0a9b8c7d6e"

var me = certs.Identity{TrustDomain: "cluster.local", Namespace: "dev", ServiceAccount: "me"}

// fakeCA is istiod's IstioCertificateService as far as a client can tell:
// Bearer token and ClusterID checked from metadata, TTL checked against a
// maximum, the SAN taken from the caller (never from the CSR), NotBefore
// backdated two minutes, chain leaf → intermediate → root.
type fakeCA struct {
	securityv1alpha1.UnimplementedIstioCertificateServiceServer

	t         *testing.T
	pki       *testPKI // signs workload certificates
	token     string   // the only token accepted
	clusterID string   // istiod's own cluster name
	identity  string   // SPIFFE ID of the token's owner
	maxTTL    time.Duration
	echoToken string // "all" or "payload": put (part of) the token in the Unauthenticated message, as a careless CA might

	// sign replaces the normal signing when set.
	sign func(csr *x509.CertificateRequest, ttl time.Duration) []*x509.Certificate

	mu    sync.Mutex
	csrs  []*x509.CertificateRequest
	mds   []metadata.MD
	ttls  []int64
	calls int
}

func newFakeCA(t *testing.T, pki *testPKI) *fakeCA {
	return &fakeCA{t: t, pki: pki, token: testToken, clusterID: "Kubernetes", identity: me.SPIFFEID(), maxTTL: 24 * time.Hour}
}

func (f *fakeCA) CreateCertificate(ctx context.Context, req *securityv1alpha1.IstioCertificateRequest) (*securityv1alpha1.IstioCertificateResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.calls++
	f.mds = append(f.mds, md)
	f.ttls = append(f.ttls, req.GetValidityDuration())
	f.mu.Unlock()

	if cl := md.Get("clusterid"); len(cl) > 0 && cl[0] != f.clusterID {
		return nil, status.Errorf(codes.Unauthenticated, "client claims to be in cluster %q, but we only know about local cluster %q", cl[0], f.clusterID)
	}
	auth := md.Get("authorization")
	if len(auth) != 1 || auth[0] != "Bearer "+f.token {
		if len(auth) > 0 {
			sent := strings.TrimPrefix(auth[0], "Bearer ")
			switch f.echoToken {
			case "all":
				return nil, status.Errorf(codes.Unauthenticated, "authenticate failed: token %q rejected (%s)", sent, auth[0])
			case "payload":
				return nil, status.Errorf(codes.Unauthenticated, "authenticate failed: claims %s not valid", strings.Split(sent, ".")[1])
			}
		}
		return nil, status.Error(codes.Unauthenticated, "request authenticate failure")
	}
	ttl := time.Duration(req.GetValidityDuration()) * time.Second
	if ttl > f.maxTTL {
		return nil, status.Errorf(codes.InvalidArgument, "requested TTL %s is greater than the max allowed TTL %s", ttl, f.maxTTL)
	}
	block, _ := pem.Decode([]byte(req.GetCsr()))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, status.Error(codes.InvalidArgument, "CSR is not PEM")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid CSR: %v", err)
	}
	f.mu.Lock()
	f.csrs = append(f.csrs, csr)
	f.mu.Unlock()

	var chain []*x509.Certificate
	if f.sign != nil {
		chain = f.sign(csr, ttl)
	} else {
		now := time.Now()
		chain = f.pki.workload(f.t, csr.PublicKey, f.identity, now.Add(-2*time.Minute), now.Add(ttl))
	}
	resp := &securityv1alpha1.IstioCertificateResponse{}
	for _, c := range chain {
		resp.CertChain = append(resp.CertChain, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	return resp, nil
}

func (f *fakeCA) lastCSR() *x509.CertificateRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.csrs) == 0 {
		f.t.Fatal("the CA received no CSR")
	}
	return f.csrs[len(f.csrs)-1]
}

func (f *fakeCA) lastMD() metadata.MD {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.mds) == 0 {
		f.t.Fatal("the CA received no call")
	}
	return f.mds[len(f.mds)-1]
}

// serve runs f over TLS with a serving certificate from servingPKI for the
// given names and returns its address.
func serve(t *testing.T, f *fakeCA, servingPKI *testPKI, names ...string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{servingPKI.serving(t, names...)}, MinVersion: tls.VersionTLS12})
	s := grpc.NewServer(grpc.Creds(creds))
	securityv1alpha1.RegisterIstioCertificateServiceServer(s, f)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

// setup is a fake CA served with istiod's name and an Issuer for "me" that
// trusts its root.
func setup(t *testing.T) (*fakeCA, *testPKI, string) {
	t.Helper()
	pki := newTestPKI(t, "mesh")
	ca := newFakeCA(t, pki)
	addr := serve(t, ca, pki, certs.DefaultCAServerName)
	return ca, pki, addr
}

func dial(t *testing.T, cfg certs.CAConfig) *certs.CAClient {
	t.Helper()
	c, err := certs.DialCA(context.Background(), cfg)
	if err != nil {
		t.Fatalf("DialCA: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func issuer(t *testing.T, client certs.CA, roots []byte) *certs.Issuer {
	t.Helper()
	pool, err := certs.ParseRoots(roots)
	if err != nil {
		t.Fatal(err)
	}
	return &certs.Issuer{
		CA:       client,
		Tokens:   certs.TokenSourceFunc(func(context.Context) (string, error) { return testToken, nil }),
		Identity: me,
		Roots:    pool,
		TTL:      time.Hour,
	}
}

// noToken fails the test if err's text holds the token or any part of it.
func noToken(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range append([]string{testToken}, strings.Split(testToken, ".")...) {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error contains (part of) the token %q: %v", s, err)
		}
	}
}

func TestIssue(t *testing.T) {
	t.Parallel()
	ca, pki, addr := setup(t)
	client := dial(t, certs.CAConfig{Address: addr, RootsPEM: pki.rootPEM(), ClusterID: "Kubernetes"})
	b, err := issuer(t, client, pki.rootPEM()).Issue(context.Background())
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}

	if b.Identity != me {
		t.Errorf("Identity = %+v, want %+v", b.Identity, me)
	}
	if len(b.Chain) != 3 || !b.Chain[1].Equal(pki.inter) || !b.Chain[2].Equal(pki.root) {
		t.Errorf("chain is not leaf, intermediate, root: %d certificates", len(b.Chain))
	}
	if got := b.Leaf().URIs; len(got) != 1 || got[0].String() != me.SPIFFEID() {
		t.Errorf("leaf URIs = %v, want [%s]", got, me.SPIFFEID())
	}
	if !b.NotAfter.Equal(b.Leaf().NotAfter) || !b.NotBefore.Equal(b.Leaf().NotBefore) {
		t.Errorf("NotBefore/NotAfter %s/%s differ from the leaf's", b.NotBefore, b.NotAfter)
	}
	// The CA backdates NotBefore; half-life counts from arrival, not from NotBefore.
	if b.Issued.IsZero() || !b.Issued.After(b.NotBefore) {
		t.Errorf("Issued = %s, want the arrival time (after the backdated NotBefore %s)", b.Issued, b.NotBefore)
	}
	if want := b.Issued.Add(b.NotAfter.Sub(b.Issued) / 2); !b.RenewAt().Equal(want) {
		t.Errorf("RenewAt = %s, want %s", b.RenewAt(), want)
	}

	// What the CA saw.
	md := ca.lastMD()
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+testToken {
		t.Errorf("authorization metadata is not the bearer token (%d values)", len(got))
	}
	if got := md.Get("clusterid"); len(got) != 1 || got[0] != "Kubernetes" {
		t.Errorf("ClusterID metadata = %v, want [Kubernetes]", got)
	}
	if ca.ttls[0] != 3600 {
		t.Errorf("validity_duration = %d, want 3600", ca.ttls[0])
	}

	// The PEM forms make a TLS key pair, as Envoy will load them.
	pair, err := tls.X509KeyPair(b.CertChainPEM(), b.KeyPEM())
	if err != nil {
		t.Fatalf("CertChainPEM and KeyPEM do not make a key pair: %v", err)
	}
	if len(pair.Certificate) != 3 {
		t.Errorf("CertChainPEM holds %d certificates, want 3", len(pair.Certificate))
	}
	if block, _ := pem.Decode(b.KeyPEM()); block == nil || block.Type != "PRIVATE KEY" {
		t.Errorf("KeyPEM is not PKCS #8 PEM")
	}
}

func TestIssueNewKeyEachTime(t *testing.T) {
	t.Parallel()
	_, pki, addr := setup(t)
	iss := issuer(t, dial(t, certs.CAConfig{Address: addr, RootsPEM: pki.rootPEM()}), pki.rootPEM())
	a, err := iss.Issue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := iss.Issue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a.Leaf().PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(b.Leaf().PublicKey) {
		t.Error("two issues used the same key")
	}
}

// The CSR the CA receives carries the SPIFFE ID as its only URI SAN and
// nothing else: no subject, DNS name, e-mail or IP, no other extension.
func TestCSROnlySPIFFEID(t *testing.T) {
	t.Parallel()
	ca, pki, addr := setup(t)
	if _, err := issuer(t, dial(t, certs.CAConfig{Address: addr, RootsPEM: pki.rootPEM()}), pki.rootPEM()).Issue(context.Background()); err != nil {
		t.Fatal(err)
	}
	sent := ca.lastCSR()

	direct, err := certs.NewCSR(newKey(t), me)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(direct)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("NewCSR is not a PEM CERTIFICATE REQUEST")
	}
	parsed, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	for name, csr := range map[string]*x509.CertificateRequest{"sent to the CA": sent, "NewCSR": parsed} {
		if err := csr.CheckSignature(); err != nil {
			t.Errorf("%s: bad signature: %v", name, err)
		}
		if len(csr.URIs) != 1 || csr.URIs[0].String() != "spiffe://cluster.local/ns/dev/sa/me" {
			t.Errorf("%s: URIs = %v, want exactly [spiffe://cluster.local/ns/dev/sa/me]", name, csr.URIs)
		}
		if len(csr.DNSNames)+len(csr.EmailAddresses)+len(csr.IPAddresses) != 0 {
			t.Errorf("%s: extra SANs: DNS %v, e-mail %v, IP %v", name, csr.DNSNames, csr.EmailAddresses, csr.IPAddresses)
		}
		if len(csr.Subject.Names) != 0 || csr.Subject.CommonName != "" {
			t.Errorf("%s: subject is not empty: %q", name, csr.Subject)
		}
		if len(csr.Extensions) != 1 || !csr.Extensions[0].Id.Equal([]int{2, 5, 29, 17}) {
			t.Errorf("%s: extensions other than subjectAltName: %v", name, csr.Extensions)
		}
		if csr.PublicKeyAlgorithm != x509.ECDSA {
			t.Errorf("%s: key algorithm %s, want ECDSA", name, csr.PublicKeyAlgorithm)
		}
	}
}

func TestClusterIDEmptySendsNothing(t *testing.T) {
	t.Parallel()
	ca, pki, addr := setup(t)
	if _, err := issuer(t, dial(t, certs.CAConfig{Address: addr, RootsPEM: pki.rootPEM()}), pki.rootPEM()).Issue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ca.lastMD().Get("clusterid"); len(got) != 0 {
		t.Errorf("ClusterID metadata sent: %v", got)
	}
}

// The CA's TLS certificate is checked: wrong server name, foreign root.
func TestCAUntrusted(t *testing.T) {
	t.Parallel()
	_, pki, addr := setup(t)
	other := newTestPKI(t, "elsewhere")

	for _, tc := range []struct {
		name string
		cfg  certs.CAConfig
		want string
	}{
		{"wrong server name", certs.CAConfig{Address: addr, RootsPEM: pki.rootPEM(), ServerName: "istiod-canary.istio-system.svc"},
			"(server name istiod-canary.istio-system.svc) is not trusted: its certificate is for [istiod.istio-system.svc]"},
		{"foreign root", certs.CAConfig{Address: addr, RootsPEM: other.rootPEM()},
			"does not chain to the mesh root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := issuer(t, dial(t, tc.cfg), pki.rootPEM()).Issue(context.Background())
			if !errors.Is(err, certs.ErrCAUntrusted) {
				t.Fatalf("err = %v, want ErrCAUntrusted", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
			var verr *tls.CertificateVerificationError
			if !errors.As(err, &verr) {
				t.Errorf("err does not unwrap to *tls.CertificateVerificationError: %v", err)
			}
			noToken(t, err)
		})
	}
}

// A revisioned istiod is reached when the server name says so.
func TestRevisionServerName(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, "mesh")
	ca := newFakeCA(t, pki)
	addr := serve(t, ca, pki, "istiod-canary.istio-system.svc")
	cfg := certs.CAConfig{Address: addr, RootsPEM: pki.rootPEM(), ServerName: "istiod-canary.istio-system.svc"}
	if _, err := issuer(t, dial(t, cfg), pki.rootPEM()).Issue(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// What the CA returns is checked before use.
func TestIssueRefusesBadAnswers(t *testing.T) {
	t.Parallel()
	rogue := newTestPKI(t, "rogue")
	for _, tc := range []struct {
		name string
		sign func(t *testing.T, p *testPKI, csr *x509.CertificateRequest, ttl time.Duration) []*x509.Certificate
		want string
	}{
		{"another identity", func(t *testing.T, p *testPKI, csr *x509.CertificateRequest, ttl time.Duration) []*x509.Certificate {
			return p.workload(t, csr.PublicKey, "spiffe://cluster.local/ns/prod/sa/admin", time.Now().Add(-time.Minute), time.Now().Add(ttl))
		}, "CA returned a certificate for spiffe://cluster.local/ns/prod/sa/admin, asked for spiffe://cluster.local/ns/dev/sa/me"},
		{"another trust domain", func(t *testing.T, p *testPKI, csr *x509.CertificateRequest, ttl time.Duration) []*x509.Certificate {
			return p.workload(t, csr.PublicKey, "spiffe://corp.example/ns/dev/sa/me", time.Now().Add(-time.Minute), time.Now().Add(ttl))
		}, `the mesh trust domain is "corp.example"`},
		{"chain to another root", func(t *testing.T, p *testPKI, csr *x509.CertificateRequest, ttl time.Duration) []*x509.Certificate {
			return rogue.workload(t, csr.PublicKey, me.SPIFFEID(), time.Now().Add(-time.Minute), time.Now().Add(ttl))
		}, "does not verify against the mesh root bundle"},
		{"intermediate missing", func(t *testing.T, p *testPKI, csr *x509.CertificateRequest, ttl time.Duration) []*x509.Certificate {
			return p.workload(t, csr.PublicKey, me.SPIFFEID(), time.Now().Add(-time.Minute), time.Now().Add(ttl))[:1]
		}, "does not verify against the mesh root bundle"},
		{"another key", func(t *testing.T, p *testPKI, csr *x509.CertificateRequest, ttl time.Duration) []*x509.Certificate {
			return p.workload(t, newKey(t).Public(), me.SPIFFEID(), time.Now().Add(-time.Minute), time.Now().Add(ttl))
		}, "not for the key sent in the CSR"},
		{"expired", func(t *testing.T, p *testPKI, csr *x509.CertificateRequest, ttl time.Duration) []*x509.Certificate {
			return p.workload(t, csr.PublicKey, me.SPIFFEID(), time.Now().Add(-time.Hour), time.Now().Add(-time.Minute))
		}, "the certificate expired at"},
		{"not yet valid", func(t *testing.T, p *testPKI, csr *x509.CertificateRequest, ttl time.Duration) []*x509.Certificate {
			return p.workload(t, csr.PublicKey, me.SPIFFEID(), time.Now().Add(time.Hour), time.Now().Add(2*time.Hour))
		}, "check the clock"},
		{"no SAN", func(t *testing.T, p *testPKI, csr *x509.CertificateRequest, ttl time.Duration) []*x509.Certificate {
			c := p.workload(t, csr.PublicKey, me.SPIFFEID(), time.Now().Add(-time.Minute), time.Now().Add(ttl))
			c[0] = signCert(t, &x509.Certificate{NotBefore: c[0].NotBefore, NotAfter: c[0].NotAfter}, p.inter, csr.PublicKey, p.interKey)
			return c
		}, "CA returned a certificate for no SPIFFE ID"},
		{"two SANs", func(t *testing.T, p *testPKI, csr *x509.CertificateRequest, ttl time.Duration) []*x509.Certificate {
			c := p.workload(t, csr.PublicKey, me.SPIFFEID(), time.Now().Add(-time.Minute), time.Now().Add(ttl))
			c[0] = signCert(t, &x509.Certificate{NotBefore: c[0].NotBefore, NotAfter: c[0].NotAfter,
				URIs: append(c[0].URIs, c[0].URIs[0].JoinPath("x"))}, p.inter, csr.PublicKey, p.interKey)
			return c
		}, "CA returned a certificate for 2 URIs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pki := newTestPKI(t, "mesh")
			ca := newFakeCA(t, pki)
			ca.sign = func(csr *x509.CertificateRequest, ttl time.Duration) []*x509.Certificate {
				return tc.sign(t, pki, csr, ttl)
			}
			addr := serve(t, ca, pki, certs.DefaultCAServerName)
			b, err := issuer(t, dial(t, certs.CAConfig{Address: addr, RootsPEM: pki.rootPEM()}), pki.rootPEM()).Issue(context.Background())
			if err == nil {
				t.Fatalf("Issue accepted the certificate (URIs %v)", b.Leaf().URIs)
			}
			if !errors.Is(err, certs.ErrBadCertificate) {
				t.Errorf("err = %v, want ErrBadCertificate", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q\nwant it to say %q", err, tc.want)
			}
			noToken(t, err)
		})
	}
}

// Each refusal of the CA maps to a sentinel and a message that says what
// to do, without the token.
func TestCAErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		setup     func(ca *fakeCA, cfg *certs.CAConfig, iss *certs.Issuer)
		sentinel  error
		code      codes.Code
		wantTexts []string
	}{
		{"token refused", func(ca *fakeCA, _ *certs.CAConfig, _ *certs.Issuer) { ca.token = "another" },
			certs.ErrCARefused, codes.Unauthenticated,
			[]string{"the mesh CA refused the token: request authenticate failure"}},
		{"token echoed by the CA", func(ca *fakeCA, _ *certs.CAConfig, _ *certs.Issuer) { ca.token, ca.echoToken = "another", "all" },
			certs.ErrCARefused, codes.Unauthenticated,
			[]string{"the mesh CA refused the token", `token "[token]" rejected (Bearer [token])`}},
		{"token claims echoed by the CA", func(ca *fakeCA, _ *certs.CAConfig, _ *certs.Issuer) { ca.token, ca.echoToken = "another", "payload" },
			certs.ErrCARefused, codes.Unauthenticated,
			[]string{"claims [token] not valid"}},
		{"wrong cluster ID", func(_ *fakeCA, cfg *certs.CAConfig, _ *certs.Issuer) { cfg.ClusterID = "laptop" },
			certs.ErrCARefused, codes.Unauthenticated,
			[]string{`client claims to be in cluster "laptop"`, "leave it empty"}},
		{"TTL above maximum", func(_ *fakeCA, _ *certs.CAConfig, iss *certs.Issuer) { iss.TTL = 90 * 24 * time.Hour },
			certs.ErrCAInvalidRequest, codes.InvalidArgument,
			[]string{"2160h0m0s", "greater than the max allowed TTL", "--cert-ttl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pki := newTestPKI(t, "mesh")
			ca := newFakeCA(t, pki)
			addr := serve(t, ca, pki, certs.DefaultCAServerName)
			cfg := certs.CAConfig{Address: addr, RootsPEM: pki.rootPEM()}
			iss := issuer(t, nil, pki.rootPEM())
			tc.setup(ca, &cfg, iss)
			iss.CA = dial(t, cfg)

			_, err := iss.Issue(context.Background())
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want %v", err, tc.sentinel)
			}
			var caErr *certs.CAError
			if !errors.As(err, &caErr) || caErr.Code != tc.code {
				t.Errorf("err = %v, want a *CAError with code %s", err, tc.code)
			}
			for _, w := range tc.wantTexts {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q\nwant it to say %q", err, w)
				}
			}
			noToken(t, err)
			if caErr != nil && strings.Contains(caErr.Message, "SECRET") {
				t.Errorf("CAError.Message holds the token: %q", caErr.Message)
			}
		})
	}
}

func TestCAUnreachable(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, "mesh")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused

	_, err = issuer(t, dial(t, certs.CAConfig{Address: addr, RootsPEM: pki.rootPEM()}), pki.rootPEM()).Issue(context.Background())
	if !errors.Is(err, certs.ErrCAUnreachable) {
		t.Fatalf("err = %v, want ErrCAUnreachable", err)
	}
	want := fmt.Sprintf("cannot reach the mesh CA at %s (server name %s)", addr, certs.DefaultCAServerName)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q\nwant it to say %q", err, want)
	}
	noToken(t, err)
}

func TestCAContextCanceled(t *testing.T) {
	t.Parallel()
	_, pki, addr := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := issuer(t, dial(t, certs.CAConfig{Address: addr, RootsPEM: pki.rootPEM()}), pki.rootPEM()).Issue(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
}

func TestDialCAConfig(t *testing.T) {
	t.Parallel()
	roots := newTestPKI(t, "mesh").rootPEM()
	for _, tc := range []struct {
		name string
		cfg  certs.CAConfig
		want string
	}{
		{"no port", certs.CAConfig{Address: "gateway.example.com", RootsPEM: roots}, "want host:port"},
		{"empty address", certs.CAConfig{RootsPEM: roots}, "want host:port"},
		{"no roots", certs.CAConfig{Address: "gw:15012"}, "no PEM certificate"},
		{"garbage roots", certs.CAConfig{Address: "gw:15012", RootsPEM: []byte("not a certificate")}, "mesh root bundle"},
		{"key instead of roots", certs.CAConfig{Address: "gw:15012", RootsPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})}, "mesh root bundle: no PEM certificate found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := certs.DialCA(context.Background(), tc.cfg)
			if err == nil {
				c.Close()
				t.Fatalf("DialCA accepted %+v", tc.cfg)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
		})
	}
}

// A root bundle with several roots trusts them all.
func TestParseRootsBundle(t *testing.T) {
	t.Parallel()
	a, b := newTestPKI(t, "a"), newTestPKI(t, "b")
	pool, err := certs.ParseRoots(append(a.rootPEM(), b.rootPEM()...))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*testPKI{a, b} {
		if _, err := p.inter.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
			t.Errorf("root %s not trusted: %v", p.root.Subject.CommonName, err)
		}
	}
}

func TestIssueNeedsTrustDomain(t *testing.T) {
	t.Parallel()
	iss := issuer(t, nil, newTestPKI(t, "mesh").rootPEM())
	iss.CA = failingCA{}
	iss.Identity.TrustDomain = ""
	_, err := iss.Issue(context.Background())
	if !errors.Is(err, certs.ErrInvalidIdentity) || !strings.Contains(err.Error(), "trust domain is not set") {
		t.Errorf("err = %v, want ErrInvalidIdentity about the trust domain", err)
	}
}

func TestIssueTokenError(t *testing.T) {
	t.Parallel()
	iss := issuer(t, failingCA{}, newTestPKI(t, "mesh").rootPEM())
	iss.Tokens = certs.TokenSourceFunc(func(context.Context) (string, error) {
		return "", fmt.Errorf("%w: nope", certs.ErrForbidden)
	})
	_, err := iss.Issue(context.Background())
	if !errors.Is(err, certs.ErrForbidden) || !strings.Contains(err.Error(), "get a token for "+me.SPIFFEID()) {
		t.Errorf("err = %v, want ErrForbidden with the identity", err)
	}
}

type failingCA struct{}

func (failingCA) Sign(context.Context, []byte, time.Duration, string) ([][]byte, error) {
	return nil, errors.New("must not be called")
}
