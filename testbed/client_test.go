package testbed

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	securityapi "istio.io/api/security/v1alpha1"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// ALPN lists a plain Envoy offers upstream (istio-join-protocol.md section 3).
var (
	alpnHTTP1 = []string{"istio-http/1.1", "istio", "http/1.1"}
	alpnHTTP2 = []string{"istio-h2", "istio", "h2"}
	alpnTCP   = []string{"istio"}
)

// meshClient does by hand what meshjoin automates: token, key, CSR, CreateCertificate through
// the gateway's 15012, then mTLS through 15443.
type meshClient struct {
	tb   *Testbed
	cert tls.Certificate
}

func developerClientset(t *testing.T, tb *Testbed) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(tb.RESTConfig(DeveloperUser))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// developerToken is what meshjoin does: the developer user asks for a token of dev/alice.
func developerToken(t *testing.T, tb *Testbed, audience string) string {
	t.Helper()
	tr, err := developerClientset(t, tb).CoreV1().ServiceAccounts(DeveloperIdentity.Namespace).CreateToken(context.Background(),
		DeveloperIdentity.ServiceAccount, &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{
			Audiences: []string{audience}, ExpirationSeconds: ptr.To[int64](600),
		}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("developer TokenRequest: %v", err)
	}
	return tr.Status.Token
}

// csrFor makes a key and a CSR with exactly one URI SAN.
func csrFor(t *testing.T, spiffeID string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(spiffeID)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// createCertificate calls the mesh CA through the gateway, verifying it against the mesh root.
func createCertificate(tb *Testbed, token, csr string, ttl time.Duration, md ...string) ([]*x509.Certificate, error) {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(tb.RootPEM)
	conn, err := grpc.NewClient(tb.CAAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		ServerName: CAServerName, RootCAs: roots, MinVersion: tls.VersionTLS12,
	})))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if len(md) == 0 {
		md = []string{"ClusterID", DefaultClusterID}
	}
	ctx = metadata.AppendToOutgoingContext(ctx, append([]string{"authorization", "Bearer " + token}, md...)...)
	resp, err := securityapi.NewIstioCertificateServiceClient(conn).CreateCertificate(ctx, &securityapi.IstioCertificateRequest{
		Csr: csr, ValidityDuration: int64(ttl / time.Second),
	})
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	for _, p := range resp.CertChain {
		block, _ := pem.Decode([]byte(p))
		if block == nil {
			return nil, fmt.Errorf("cert chain element is not PEM")
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
	}
	return chain, nil
}

func newMeshClient(t *testing.T, tb *Testbed) *meshClient {
	t.Helper()
	id := SPIFFEID(tb.TrustDomain, DeveloperIdentity.Namespace, DeveloperIdentity.ServiceAccount)
	key, csr := csrFor(t, id)
	chain, err := createCertificate(tb, developerToken(t, tb, CAAudience), csr, time.Hour)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	if got := chain[0].URIs; len(got) != 1 || got[0].String() != id {
		t.Fatalf("leaf SAN = %v, want %s", got, id)
	}
	if !chain[len(chain)-1].Equal(tb.CA.Root) {
		t.Fatalf("chain does not end with the mesh root")
	}
	return &meshClient{tb: tb, cert: tlsCert(key, chain)}
}

func tlsCert(key *ecdsa.PrivateKey, chain []*x509.Certificate) tls.Certificate {
	c := tls.Certificate{PrivateKey: key}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// dial opens mTLS through the gateway to a workload's port and verifies the sidecar is the
// workload's service account (what meshjoin's Envoy checks).
func (c *meshClient) dial(w Workload, port uint32, alpn []string) (*tls.Conn, error) {
	return dialGateway(c.tb, w.SNI(port), alpn, []tls.Certificate{c.cert}, SPIFFEID(c.tb.TrustDomain, w.Namespace, w.ServiceAccount))
}

func dialGateway(tb *Testbed, sni string, alpn []string, certs []tls.Certificate, wantPeer string) (*tls.Conn, error) {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(tb.RootPEM)
	cfg := &tls.Config{
		ServerName: sni,
		NextProtos: alpn,
		MinVersion: tls.VersionTLS12,
		// Workload certificates carry a SPIFFE URI, not the SNI: verify chain and URI ourselves.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			leaf := cs.PeerCertificates[0]
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return err
			}
			if len(leaf.URIs) != 1 || leaf.URIs[0].String() != wantPeer {
				return fmt.Errorf("peer is %v, want %s", leaf.URIs, wantPeer)
			}
			return nil
		},
	}
	if len(certs) > 0 {
		// Present the certificate whatever CAs the server names, as Envoy does: Go would
		// otherwise keep back one the server's list does not cover, and a certificate from
		// another root would be refused as missing, not as unknown.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", tb.GatewayAddr(), cfg)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn, nil
}

// httpGet sends one HTTP/1.1 request over an established connection.
func httpGet(conn net.Conn, host, path string) (EchoReply, error) {
	defer conn.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
	if err := req.Write(conn); err != nil {
		return EchoReply{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return EchoReply{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return EchoReply{}, fmt.Errorf("HTTP %s: %s", resp.Status, body)
	}
	var r EchoReply
	return r, json.Unmarshal(body, &r)
}

func (c *meshClient) getHTTP(w Workload, port uint32, path string) (EchoReply, error) {
	conn, err := c.dial(w, port, alpnHTTP1)
	if err != nil {
		return EchoReply{}, err
	}
	return httpGet(conn, w.Host(), path)
}

// callGRPC makes a unary gRPC call over HTTP/2 inside the mTLS connection.
func (c *meshClient) callGRPC(w Workload, port uint32) (EchoReply, error) {
	conn, err := grpc.NewClient("passthrough:///"+w.Host(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), // the mTLS is the dialed connection
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			c, err := c.dial(w, port, alpnHTTP2)
			if err == nil {
				c.SetDeadline(time.Time{})
				if c.ConnectionState().NegotiatedProtocol != "h2" {
					return nil, fmt.Errorf("negotiated %q, want h2", c.ConnectionState().NegotiatedProtocol)
				}
			}
			return c, err
		}))
	if err != nil {
		return EchoReply{}, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := testgrpc.NewTestServiceClient(conn).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if err != nil {
		return EchoReply{}, err
	}
	var r EchoReply
	return r, json.Unmarshal(resp.GetPayload().GetBody(), &r)
}

func (c *meshClient) roundTripTCP(w Workload, port uint32, line string) (EchoReply, error) {
	conn, err := c.dial(w, port, alpnTCP)
	if err != nil {
		return EchoReply{}, err
	}
	defer conn.Close()
	if _, err := fmt.Fprintln(conn, line); err != nil {
		return EchoReply{}, err
	}
	reply, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return EchoReply{}, err
	}
	var r EchoReply
	return r, json.Unmarshal(reply, &r)
}

func noPeerExchange(t *testing.T, alpns ...[]string) {
	for _, l := range alpns {
		if slices.Contains(l, "istio-peer-exchange") {
			t.Fatalf("client ALPN %v offers istio-peer-exchange", l)
		}
	}
}

var netDialer = net.Dialer{Timeout: 5 * time.Second}
