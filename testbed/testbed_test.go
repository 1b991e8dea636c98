// Over 500 lines: the test mesh's contract, one test per behaviour its gateway, sidecars and CA
// must show, refusals included (each asserts its own refusal).

package testbed

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func TestMain(m *testing.M) { Main(m) }

// The whole path by hand, for each kind of service: token → CSR → CreateCertificate through
// 15012 → mTLS through 15443 with the right SNI and ALPN → the echo names the caller.
func TestWholePathByHand(t *testing.T) {
	tb := Shared(t)
	checkWholePath(t, tb)
}

// The same against a mesh whose trust domain is not cluster.local.
func TestWholePathOtherTrustDomain(t *testing.T) {
	if os.Getenv("MESHJOIN_SKIP_E2E") == "1" {
		t.Skip("MESHJOIN_SKIP_E2E=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tb, err := Start(ctx, Options{TrustDomain: "acme.example", TrustDomainAliases: []string{"old.acme.example"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Stop()
	checkWholePath(t, tb)
	// A certificate of an alias trust domain is accepted by the sidecars too.
	alias := tlsCertFromPair(t, tb, "spiffe://old.acme.example/ns/dev/sa/alice")
	conn, err := dialGateway(tb, tb.Workload("ratings.bookinfo").SNI(9080), alpnHTTP1, []tls.Certificate{alias}, SPIFFEID(tb.TrustDomain, NamespaceBookinfo, "bookinfo-ratings"))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := httpGet(conn, "ratings", "/"); err != nil || r.Caller != "spiffe://old.acme.example/ns/dev/sa/alice" {
		t.Fatalf("alias trust domain: %+v, %v", r, err)
	}
}

func checkWholePath(t *testing.T, tb *Testbed) {
	noPeerExchange(t, alpnHTTP1, alpnHTTP2, alpnTCP)
	c := newMeshClient(t, tb)
	me := SPIFFEID(tb.TrustDomain, "dev", "alice")
	cases := []struct {
		name     string
		workload string
		port     uint32
		call     func(Workload, uint32) (EchoReply, error)
		protocol string
	}{
		{"HTTP", "ratings.bookinfo", 9080, func(w Workload, p uint32) (EchoReply, error) { return c.getHTTP(w, p, "/ratings/0") }, ProtocolHTTP},
		{"HTTP PERMISSIVE", "productpage.bookinfo", 9080, func(w Workload, p uint32) (EchoReply, error) { return c.getHTTP(w, p, "/productpage") }, ProtocolHTTP},
		{"HTTP second port", "reviews.bookinfo", 9081, func(w Workload, p uint32) (EchoReply, error) { return c.getHTTP(w, p, "/metrics") }, ProtocolHTTP},
		{"HTTP port 80", "web.bookinfo", 80, func(w Workload, p uint32) (EchoReply, error) { return c.getHTTP(w, p, "/") }, ProtocolHTTP},
		{"ServiceEntry", "inventory.payments", 8000, func(w Workload, p uint32) (EchoReply, error) { return c.getHTTP(w, p, "/items") }, ProtocolHTTP},
		{"gRPC over HTTP/2", "ledger.payments", 7070, c.callGRPC, ProtocolGRPC},
		{"opaque TCP", "db.payments", 3306, func(w Workload, p uint32) (EchoReply, error) { return c.roundTripTCP(w, p, "ping") }, ProtocolTCP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tb.Workload(tc.workload)
			r, err := tc.call(w, tc.port)
			if err != nil {
				t.Fatal(err)
			}
			if r.Caller != me || r.Service != tc.workload || r.Port != tc.port || r.Protocol != tc.protocol {
				t.Fatalf("echo = %+v, want caller %s, service %s, port %d, protocol %s", r, me, tc.workload, tc.port, tc.protocol)
			}
		})
	}
}

func tlsCertFromPair(t *testing.T, tb *Testbed, id string) tls.Certificate {
	t.Helper()
	kp, err := tb.CA.NewKeyPair(LeafOptions{URIs: []string{id}, Client: true, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	return kp.TLSCertificate()
}

// requestFails dials ratings with the given client settings and expects no echo back.
func requestFails(t *testing.T, tb *Testbed, sni string, alpn []string, certs []tls.Certificate) error {
	t.Helper()
	conn, err := dialGateway(tb, sni, alpn, certs, SPIFFEID(tb.TrustDomain, NamespaceBookinfo, "bookinfo-ratings"))
	if err != nil {
		return err
	}
	r, err := httpGet(conn, "ratings", "/")
	if err == nil {
		t.Fatalf("request succeeded, want refusal: %+v", r)
	}
	return err
}

func TestRefusedWithoutClientCertificate(t *testing.T) {
	tb := Shared(t)
	refusedWithAlert(t, tb, tb.Workload("ratings.bookinfo").SNI(9080), nil, "tls: certificate required")
}

func TestRefusedCertificateFromAnotherRoot(t *testing.T) {
	tb := Shared(t)
	other, err := NewAuthority("someone-else", true)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := other.NewKeyPair(LeafOptions{URIs: []string{SPIFFEID(tb.TrustDomain, "dev", "alice")}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	refusedWithAlert(t, tb, tb.Workload("ratings.bookinfo").SNI(9080), []tls.Certificate{kp.TLSCertificate()}, "tls: unknown certificate authority")
}

func TestRefusedOtherTrustDomainSameRoot(t *testing.T) {
	tb := Shared(t)
	cert := tlsCertFromPair(t, tb, "spiffe://not-"+tb.TrustDomain+"/ns/dev/sa/alice")
	// The sidecar takes callers of its own trust domain only: the chain is good, the SAN is not.
	refusedWithAlert(t, tb, tb.Workload("ratings.bookinfo").SNI(9080), []tls.Certificate{cert}, "tls: unknown certificate")
}

func TestRefusedWrongSNI(t *testing.T) {
	tb := Shared(t)
	cert := tlsCertFromPair(t, tb, SPIFFEID(tb.TrustDomain, "dev", "alice"))
	for _, sni := range []string{
		"ratings.bookinfo.svc.cluster.local",                    // plain host name
		"outbound_.9999_._.ratings.bookinfo.svc.cluster.local",  // a port the service does not have
		"outbound_.9080_._.nothere.bookinfo.svc.cluster.local",  // no such service
		"outbound_.8080_._.legacy-api.legacy.svc.cluster.local", // outside the mesh
	} {
		err := requestFails(t, tb, sni, alpnHTTP1, []tls.Certificate{cert})
		wantNoFilterChain(t, sni, err)
	}
}

func TestRefusedWithoutIstioALPN(t *testing.T) {
	tb := Shared(t)
	cert := tlsCertFromPair(t, tb, SPIFFEID(tb.TrustDomain, "dev", "alice"))
	for _, alpn := range [][]string{nil, {"http/1.1"}, {"h2"}} {
		err := requestFails(t, tb, tb.Workload("ratings.bookinfo").SNI(9080), alpn, []tls.Certificate{cert})
		wantNoFilterChain(t, fmt.Sprintf("ALPN %v", alpn), err)
	}
}

// wantRefused checks a refusal is the TLS alert expected, not some other failure.
// refusedWithAlert sends an HTTP/1.1 request with certs up to three times and wants the TLS alert
// each time it reads one: under TLS 1.3 the server checks the client's certificate after the
// client's handshake is done, and its alert can lose the race with the close (the client then
// reads an EOF). A request that succeeds fails the test at once.
func refusedWithAlert(t *testing.T, tb *Testbed, sni string, certs []tls.Certificate, alert string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		err := requestFails(t, tb, sni, alpnHTTP1, certs)
		if attempt < 3 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
			t.Logf("attempt %d: %v (the alert lost the race with the close): again", attempt, err)
			continue
		}
		wantRefused(t, err, alert)
		return
	}
}

func wantRefused(t *testing.T, err error, alert string) {
	t.Helper()
	if err == nil || !strings.HasSuffix(err.Error(), "remote error: "+alert) {
		t.Fatalf("refused with %v, want the alert %q", err, alert)
	}
	t.Logf("refused: %v", err)
}

// wantNoFilterChain checks the gateway refused as it does when no filter chain matches (SNI
// and ALPN together choose one): the connection is reset before any TLS answer.
func wantNoFilterChain(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Fatalf("%s: refused with %v, want the connection closed (no filter chain)", what, err)
	}
	t.Logf("%s refused: %v", what, err)
}

// A PERMISSIVE HTTP port resets TLS without an Istio ALPN, and serves plaintext.
func TestPermissiveChoosesMTLSByALPN(t *testing.T) {
	tb := Shared(t)
	w := tb.Workload("productpage.bookinfo")
	// Straight to the sidecar (not through the gateway): plaintext reaches the app with no caller.
	conn, err := (&netDialer).Dial("tcp", hostPort(w.Addr, 9080))
	if err != nil {
		t.Fatal(err)
	}
	r, err := httpGet(conn, "productpage", "/plain")
	if err != nil || r.Caller != "" {
		t.Fatalf("plaintext to PERMISSIVE: %+v, %v", r, err)
	}
	// TLS without Istio ALPN is not the mTLS chain: refused.
	cert := tlsCertFromPair(t, tb, SPIFFEID(tb.TrustDomain, "dev", "alice"))
	tconn, err := tls.Dial("tcp", hostPort(w.Addr, 9080), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}, Certificates: []tls.Certificate{cert}})
	if err == nil {
		_, err = httpGet(tconn, "productpage", "/")
	}
	if err == nil {
		t.Fatal("TLS without Istio ALPN to a PERMISSIVE HTTP port succeeded")
	}
}

func TestCARefusesTokenForAnotherAudience(t *testing.T) {
	tb := Shared(t)
	_, csr := csrFor(t, SPIFFEID(tb.TrustDomain, "dev", "alice"))
	tok, err := tb.Token(context.Background(), "dev", "alice", "some-other-audience")
	if err != nil {
		t.Fatal(err)
	}
	_, err = createCertificate(tb, tok, csr, time.Hour)
	wantRefusal(t, tb, err, "is invalid for the target audiences")
}

func TestCARefusesGarbageToken(t *testing.T) {
	tb := Shared(t)
	_, csr := csrFor(t, SPIFFEID(tb.TrustDomain, "dev", "alice"))
	_, err := createCertificate(tb, "not-a-token", csr, time.Hour)
	wantRefusal(t, tb, err, "failed to validate the JWT")
	_, err = createCertificate(tb, "", csr, time.Hour)
	wantRefusal(t, tb, err, "token is required for TokenReview")
}

// An expired token, signed with the cluster's real service-account key, is refused as expired.
func TestCARefusesExpiredToken(t *testing.T) {
	tb := Shared(t)
	_, csr := csrFor(t, SPIFFEID(tb.TrustDomain, "dev", "alice"))
	sa, err := tb.admin.CoreV1().ServiceAccounts("dev").Get(context.Background(), "alice", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok := signServiceAccountJWT(t, filepath.Join(tb.Dir, "sa.key"), map[string]any{
		"iss": saIssuer, "sub": "system:serviceaccount:dev:alice", "aud": []string{CAAudience},
		"iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix(),
		"kubernetes.io": map[string]any{"namespace": "dev", "serviceaccount": map[string]any{"name": "alice", "uid": string(sa.UID)}},
	})
	_, err = createCertificate(tb, tok, csr, time.Hour)
	wantRefusal(t, tb, err, "has expired")
}

func TestCARefusesTTLAboveMaximum(t *testing.T) {
	tb := Shared(t)
	_, csr := csrFor(t, SPIFFEID(tb.TrustDomain, "dev", "alice"))
	_, err := createCertificate(tb, developerToken(t, tb, CAAudience), csr, tb.MaxCertTTL+time.Hour)
	wantCode(t, err, codes.InvalidArgument, "max allowed TTL")
}

func TestCARefusesUnknownCluster(t *testing.T) {
	tb := Shared(t)
	_, csr := csrFor(t, SPIFFEID(tb.TrustDomain, "dev", "alice"))
	_, err := createCertificate(tb, developerToken(t, tb, CAAudience), csr, time.Hour, "ClusterID", "elsewhere")
	wantRefusal(t, tb, err, `client claims to be in cluster "elsewhere"`)
}

// A token of dev/alice with a CSR that names dev/bob yields a certificate for alice only.
func TestCASignsTheTokenOwnerNotTheCSR(t *testing.T) {
	tb := Shared(t)
	_, csr := csrFor(t, SPIFFEID(tb.TrustDomain, "dev", "bob"))
	chain, err := createCertificate(tb, developerToken(t, tb, CAAudience), csr, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := chain[0].URIs; len(got) != 1 || got[0].String() != SPIFFEID(tb.TrustDomain, "dev", "alice") {
		t.Fatalf("leaf SANs = %v, want only alice", got)
	}
	if len(chain) != 4 || !chain[3].Equal(tb.CA.Root) {
		t.Fatalf("chain has %d certificates, want leaf, intermediate, root, root (istiod repeats the root)", len(chain))
	}
}

// The developer user can do what docs/rbac.yaml grants and nothing more.
func TestDeveloperRBAC(t *testing.T) {
	tb := Shared(t)
	dev := developerClientset(t, tb)
	type check struct {
		verb, group, resource, sub, ns, name string
		allowed                              bool
	}
	checks := []check{
		{"list", "", "services", "", "", "", true},
		{"watch", "", "services", "", "", "", true},
		{"list", "", "pods", "", "", "", true},
		{"list", "", "namespaces", "", "", "", true},
		{"list", "discovery.k8s.io", "endpointslices", "", "", "", true},
		{"watch", "networking.istio.io", "serviceentries", "", "", "", true},
		{"list", "networking.istio.io", "workloadentries", "", "", "", true},
		{"list", "networking.istio.io", "gateways", "", "", "", true},
		{"watch", "networking.istio.io", "gateways", "", "", "", true},
		{"list", "security.istio.io", "peerauthentications", "", "", "", true},
		{"watch", "security.istio.io", "peerauthentications", "", "", "", true},
		{"get", "", "configmaps", "", "bookinfo", "istio-ca-root-cert", true},
		{"get", "", "configmaps", "", "istio-system", "istio", true},
		{"get", "", "configmaps", "", "istio-system", "istio-sidecar-injector", true},
		{"create", "", "serviceaccounts", "token", "dev", "alice", true},
		{"list", "", "serviceaccounts", "", "dev", "", true},
		// and nothing more:
		{"create", "", "serviceaccounts", "token", "dev", "bob", false},
		{"create", "", "serviceaccounts", "token", "bookinfo", "bookinfo-ratings", false},
		{"list", "", "configmaps", "", "istio-system", "", false},
		{"get", "", "configmaps", "", "istio-system", "other", false},
		{"get", "", "secrets", "", "dev", "", false},
		{"create", "", "services", "", "bookinfo", "", false},
		{"delete", "", "pods", "", "bookinfo", "", false},
		{"create", "networking.istio.io", "serviceentries", "", "bookinfo", "", false},
		{"create", "security.istio.io", "peerauthentications", "", "bookinfo", "", false},
		{"create", "networking.istio.io", "workloadentries", "", "bookinfo", "", false},
		{"update", "networking.istio.io", "gateways", "", "istio-system", "", false},
		{"list", "networking.istio.io", "virtualservices", "", "", "", false},
		{"create", "authentication.k8s.io", "tokenreviews", "", "", "", false},
	}
	for _, c := range checks {
		ssar, err := dev.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(), &authzv1.SelfSubjectAccessReview{
			Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{
				Verb: c.verb, Group: c.group, Resource: c.resource, Subresource: c.sub, Namespace: c.ns, Name: c.name,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ssar.Status.Allowed != c.allowed {
			t.Errorf("developer %s %s/%s %s/%s: allowed=%v, want %v", c.verb, c.resource, c.sub, c.ns, c.name, ssar.Status.Allowed, c.allowed)
		}
	}
	// And the real calls behave the same.
	if _, err := dev.CoreV1().Services("").List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Errorf("developer list services: %v", err)
	}
	if _, err := dev.CoreV1().Secrets("dev").List(context.Background(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("developer list secrets: %v, want Forbidden", err)
	}
}

func TestNoPermissionUserRefused(t *testing.T) {
	tb := Shared(t)
	c, err := kubernetes.NewForConfig(tb.RESTConfig(NoPermsUser))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services("").List(context.Background(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("no-permission user listing services: %v, want Forbidden", err)
	}
	if _, err := c.CoreV1().ServiceAccounts("dev").CreateToken(context.Background(), "alice", nil, metav1.CreateOptions{}); err == nil {
		t.Fatal("no-permission user created a token")
	}
}

// What an Istio install leaves behind is where meshjoin will look for it.
func TestIstioObjects(t *testing.T) {
	tb := Shared(t)
	ctx := context.Background()
	gw, err := tb.admin.CoreV1().Services(IstioSystem).Get(ctx, GatewayService, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if gw.Labels[NetworkLabel] == "" || len(gw.Status.LoadBalancer.Ingress) != 1 || gw.Status.LoadBalancer.Ingress[0].IP != tb.GatewayIP {
		t.Fatalf("gateway service: labels %v, status %+v", gw.Labels, gw.Status.LoadBalancer)
	}
	cm, err := tb.admin.CoreV1().ConfigMaps(IstioSystem).Get(ctx, "istio", metav1.GetOptions{})
	if err != nil || !strings.Contains(cm.Data["mesh"], "trustDomain: "+tb.TrustDomain) {
		t.Fatalf("istio configmap: %v %v", cm.Data, err)
	}
	for _, ns := range []string{NamespaceBookinfo, NamespacePayments, NamespaceDev} {
		root, err := tb.admin.CoreV1().ConfigMaps(ns).Get(ctx, "istio-ca-root-cert", metav1.GetOptions{})
		if err != nil || root.Data["root-cert.pem"] != string(tb.RootPEM) {
			t.Fatalf("%s root cert: %v", ns, err)
		}
	}
	se, err := tb.dyn.Resource(ServiceEntryGVR).Namespace(NamespacePayments).Get(ctx, "inventory", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if loc, _, _ := unstructuredString(se.Object, "spec", "location"); loc != "MESH_INTERNAL" {
		t.Fatalf("ServiceEntry location %q", loc)
	}
	pods, err := tb.admin.CoreV1().Pods(NamespaceBookinfo).List(ctx, metav1.ListOptions{LabelSelector: "app=ratings"})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Spec.ServiceAccountName != "bookinfo-ratings" {
		t.Fatalf("ratings pods: %v", err)
	}
}

// The destination whose sidecar is not who the cluster says: the chain is fine, the SAN is not.
func TestImposterPresentsAnotherIdentity(t *testing.T) {
	tb := Shared(t)
	c := newMeshClient(t, tb)
	w := tb.Workload("imposter.bookinfo")
	_, err := c.getHTTP(w, 9080, "/")
	if err == nil || !strings.Contains(err.Error(), "not-imposter") {
		t.Fatalf("imposter: %v, want a SAN mismatch naming not-imposter", err)
	}
}

func TestScaleMode(t *testing.T) {
	tb := Shared(t)
	ctx := context.Background()
	if err := createScale(ctx, tb.admin, 60, 3, tb.RootPEM); err != nil {
		t.Fatal(err)
	}
	svcs, err := tb.admin.CoreV1().Services("scale-001").List(ctx, metav1.ListOptions{})
	if err != nil || len(svcs.Items) != 20 {
		t.Fatalf("scale-001 has %d services (%v), want 20", len(svcs.Items), err)
	}
}

// wantRefusal checks istiod's refusal: it tells the client only "request authenticate failure";
// the reason, which the test names, is in its log.
func wantRefusal(t *testing.T, tb *Testbed, err error, logged string) {
	t.Helper()
	wantCode(t, err, codes.Unauthenticated, "request authenticate failure")
	waitForLog(t, tb.LogFile("istiod"), logged)
}

// waitForLog waits a little for a line a process writes after it answered.
func waitForLog(t *testing.T, path, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), what) {
			return
		}
		if time.Now().After(deadline) {
			var related []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, "authenticate") {
					related = append(related, l)
				}
			}
			t.Fatalf("%s does not say %q (%v); it says:\n%s", filepath.Base(path), what, err, strings.Join(related, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func wantCode(t *testing.T, err error, code codes.Code, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("CA accepted the request, want %s", code)
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() != code || !strings.Contains(st.Message(), substr) {
		t.Fatalf("CA error %v, want %s containing %q", err, code, substr)
	}
	t.Logf("refused: %v", st.Message())
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, errors.New("not an object")
		}
		cur = m[f]
	}
	s, ok := cur.(string)
	return s, ok, nil
}

// signServiceAccountJWT signs claims with the kube-apiserver's service-account key (ES256).
func signServiceAccountJWT(t *testing.T, keyPath string, claims map[string]any) string {
	t.Helper()
	b, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key := k.(*ecdsa.PrivateKey)
	enc := func(v any) string {
		j, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(j)
	}
	signingInput := enc(map[string]string{"alg": "ES256", "typ": "JWT"}) + "." + enc(claims)
	digest := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := append(pad32(r), pad32(s)...)
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func pad32(n *big.Int) []byte {
	b := n.Bytes()
	return append(make([]byte, 32-len(b)), b...)
}

var _ crypto.Signer = (*ecdsa.PrivateKey)(nil)
