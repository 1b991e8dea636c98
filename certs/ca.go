package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	securityv1alpha1 "istio.io/api/security/v1alpha1"
)

// DefaultCAServerName is the TLS server name of istiod without a revision.
// A revisioned control plane uses istiod-<rev>.istio-system.svc.
const DefaultCAServerName = "istiod.istio-system.svc"

// reconnectWait bounds the fresh connection attempt Sign makes when the last
// one failed.
const reconnectWait = 3 * time.Second

// CAConfig says where the mesh CA is and how to trust it.
type CAConfig struct {
	// Address is host:port, e.g. the east-west gateway's address with port
	// 15012.
	Address string
	// ServerName is the name the CA's certificate must be valid for (and the
	// SNI sent). Empty means DefaultCAServerName.
	ServerName string
	// RootsPEM is the mesh root bundle (ConfigMap istio-ca-root-cert, key
	// root-cert.pem). The CA's TLS certificate is verified against it.
	RootsPEM []byte
	// ClusterID is sent as gRPC metadata "ClusterID": the name istiod knows
	// the cluster of the service account by. Empty sends nothing, which
	// istiod reads as its own cluster (whose default name is "Kubernetes");
	// that is right for a single-cluster mesh whatever the cluster is named,
	// whereas a wrong name is refused ("client claims to be in cluster ...").
	ClusterID string

	// What meshjoin knows of the cluster, to explain a refusal istiod does not explain (it only
	// says "request authenticate failure"). Empty means unknown.
	//
	// ClusterName is the name istiod knows this cluster by
	// (values.global.multiCluster.clusterName of the sidecar injector).
	ClusterName string
	// ClusterCAAddress is the istiod this cluster's east-west gateway exposes (host:15012).
	ClusterCAAddress string
}

// CAClient calls the mesh CA's IstioCertificateService. It is safe for
// concurrent use.
type CAClient struct {
	cfg    CAConfig
	conn   *grpc.ClientConn
	client securityv1alpha1.IstioCertificateServiceClient
	creds  *recordingCreds
}

// DialCA prepares a client for the mesh CA. It does not connect: the first
// Sign does, so an unreachable CA shows up there as [ErrCAUnreachable]. TLS is
// 1.2 or later and verified against cfg.RootsPEM for cfg.ServerName.
func DialCA(ctx context.Context, cfg CAConfig) (*CAClient, error) {
	if cfg.ServerName == "" {
		cfg.ServerName = DefaultCAServerName
	}
	if _, port, err := net.SplitHostPort(cfg.Address); err != nil || port == "" {
		return nil, fmt.Errorf("mesh CA address %s: want host:port, e.g. istio-eastwestgateway.example.com:15012", quoteShort(cfg.Address))
	}
	roots, err := ParseRoots(cfg.RootsPEM)
	if err != nil {
		return nil, err
	}
	creds := &recordingCreds{
		TransportCredentials: credentials.NewTLS(&tls.Config{
			RootCAs:    roots,
			ServerName: cfg.ServerName,
			MinVersion: tls.VersionTLS12,
		}),
		last: &handshakeRecord{},
	}
	conn, err := grpc.NewClient(cfg.Address,
		grpc.WithTransportCredentials(creds),
		grpc.WithAuthority(cfg.ServerName),
	)
	if err != nil {
		return nil, fmt.Errorf("mesh CA client for %s: %w", cfg.Address, err)
	}
	return &CAClient{
		cfg:    cfg,
		conn:   conn,
		client: securityv1alpha1.NewIstioCertificateServiceClient(conn),
		creds:  creds,
	}, nil
}

// ParseRoots reads a PEM bundle of one or more root certificates. Every
// certificate in it is trusted.
func ParseRoots(bundle []byte) (*x509.CertPool, error) {
	certs, err := ParseCertificatesPEM(bundle)
	if errors.Is(err, ErrNoCertificate) {
		return nil, fmt.Errorf("mesh root bundle: %w (expected the content of root-cert.pem from ConfigMap istio-ca-root-cert)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("mesh root bundle: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// Sign sends csrPEM with the bearer token and asks for a certificate valid
// for ttl (whole seconds). It returns the chain as DER, leaf first, exactly
// as the CA sent it; it does not check it (the [Issuer] does). Errors are
// [*CAError] and never contain the token.
func (c *CAClient) Sign(ctx context.Context, csrPEM []byte, ttl time.Duration, token string) ([][]byte, error) {
	if token == "" {
		return nil, errors.New("sign: empty token")
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("%w: certificate TTL %s is below one second", ErrCAInvalidRequest, ttl)
	}
	kv := []string{"authorization", "Bearer " + token}
	if c.cfg.ClusterID != "" {
		kv = append(kv, "ClusterID", c.cfg.ClusterID)
	}
	if c.conn.GetState() == connectivity.TransientFailure {
		// A connection that failed before is in gRPC's back-off, and a call now would fail
		// with its old error: try to connect afresh first (the call reports the failure).
		wait, cancel := context.WithTimeout(ctx, reconnectWait)
		_ = c.Reachable(wait)
		cancel()
	}
	ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	resp, err := c.client.CreateCertificate(ctx, &securityv1alpha1.IstioCertificateRequest{
		Csr:              string(csrPEM),
		ValidityDuration: int64(ttl / time.Second),
	})
	if err != nil {
		return nil, c.classify(ctx, err, ttl, token)
	}
	var chain [][]byte
	for _, p := range resp.GetCertChain() {
		parsed, err := ParseCertificatesPEM([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("%w: certificate chain from the mesh CA at %s: %w", ErrBadCertificate, c.cfg.Address, err)
		}
		for _, cert := range parsed {
			chain = append(chain, cert.Raw)
		}
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: the mesh CA at %s returned no certificate", ErrBadCertificate, c.cfg.Address)
	}
	return chain, nil
}

// Reachable says whether the CA completes a TLS handshake now, without a token
// or a CSR (nil: it does; the next Sign then goes out on that connection). It
// connects at once, cutting short gRPC's own reconnect back-off, which grows
// to two minutes during an outage and would otherwise hold every Sign to its
// schedule, and waits until ctx ends for the connection to be ready.
func (c *CAClient) Reachable(ctx context.Context) error {
	c.conn.ResetConnectBackoff()
	c.conn.Connect()
	for {
		s := c.conn.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if !c.conn.WaitForStateChange(ctx, s) {
			return fmt.Errorf("%w: the mesh CA at %s does not answer (connection %s)", ErrCAUnreachable, c.cfg.Address, strings.ToLower(s.String()))
		}
	}
}

// Close releases the connection.
func (c *CAClient) Close() error { return c.conn.Close() }

// classify turns a failed call into a *CAError with a message that says what
// to do.
func (c *CAClient) classify(ctx context.Context, err error, ttl time.Duration, token string) error {
	st := status.Convert(err)
	e := &CAError{
		Code:       st.Code(),
		Message:    redact(st.Message(), token),
		Address:    c.cfg.Address,
		ServerName: c.cfg.ServerName,
	}
	where := fmt.Sprintf("the mesh CA at %s (server name %s)", e.Address, e.ServerName)
	switch e.Code {
	case codes.Unauthenticated, codes.PermissionDenied:
		e.kind = ErrCARefused
		e.text = "the mesh CA refused the token: " + e.Message
		if strings.Contains(e.Message, istiodOpaqueRefusal) {
			reason, hint := c.explainRefusal(token, time.Now())
			e.text += "; likely reason: " + reason
			e.Hint = hint
		} else if strings.Contains(e.Message, "claims to be in cluster") {
			e.text += "; set the cluster ID to the name istiod knows this cluster by (values.global.multiCluster.clusterName), or leave it empty for istiod's own cluster"
		} else {
			e.text += "; check that the CA at " + e.Address + " is the istiod of the cluster the kube context points at"
		}
	case codes.InvalidArgument:
		e.kind = ErrCAInvalidRequest
		e.text = fmt.Sprintf("the mesh CA rejected the request for a %s certificate: %s; if the TTL is above the CA's maximum, ask for a shorter one with --cert-ttl", ttl, e.Message)
	case codes.Unavailable, codes.DeadlineExceeded:
		if tlsErr := c.creds.last.get(); tlsErr != nil && strings.Contains(e.Message, "handshake") {
			e.kind, e.cause = ErrCAUntrusted, tlsErr
			e.text = untrustedText(where, tlsErr)
			var host x509.HostnameError
			if errors.As(tlsErr, &host) {
				e.Hint = "leave --ca-server-name out (meshjoin then uses istiod.istio-system.svc, or istiod-<revision>.istio-system.svc with --revision), or give one of the names above"
			}
			break
		}
		e.kind = ErrCAUnreachable
		e.cause = ctx.Err()
		e.text = fmt.Sprintf("cannot reach %s: %s", where, e.Message)
		if closedDuringHandshake(e.Message) {
			// Something accepted the connection and closed it: a gateway whose istiod is gone.
			e.text += fmt.Sprintf("; %s accepted the connection but closed it before TLS completed: "+
				"the gateway forwards port %s, but istiod behind it is not answering (stopped, restarting, or not reachable from the gateway)",
				e.Address, portOf(e.Address))
			e.Hint = "check that istiod runs (kubectl -n istio-system get pods -l app=istiod) and retry once it is ready"
		}
	case codes.Canceled:
		e.cause = ctx.Err()
		e.text = fmt.Sprintf("call to %s canceled: %s", where, e.Message)
	default:
		e.text = fmt.Sprintf("%s failed (%s): %s", where, e.Code, e.Message)
	}
	return e
}

// closedDuringHandshake tells a peer that accepted and then closed the connection from one
// that refused it, in gRPC's text of an Unavailable call.
func closedDuringHandshake(msg string) bool {
	return strings.Contains(msg, "handshake") &&
		(strings.Contains(msg, "EOF") || strings.Contains(msg, "connection reset"))
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func untrustedText(where string, tlsErr error) string {
	var host x509.HostnameError
	if errors.As(tlsErr, &host) {
		return fmt.Sprintf("%s is not trusted: its certificate is for %v, not for that server name; "+
			"with a revisioned control plane the name is istiod-<revision>.istio-system.svc", where, host.Certificate.DNSNames)
	}
	var invalid x509.CertificateInvalidError
	if errors.As(tlsErr, &invalid) && invalid.Reason == x509.Expired {
		return fmt.Sprintf("the certificate of %s is expired or not yet valid: %v; check this computer's clock", where, tlsErr)
	}
	return fmt.Sprintf("the certificate of %s does not chain to the mesh root (ConfigMap istio-ca-root-cert): %v; "+
		"check that the address really leads to istiod and the root bundle is this mesh's", where, tlsErr)
}

// recordingCreds remembers whether the last TLS handshake failed certificate
// verification, so that an Unavailable call can be told apart from a CA that
// is not trusted (gRPC reports both as Unavailable, as text).
type recordingCreds struct {
	credentials.TransportCredentials
	last *handshakeRecord
}

type handshakeRecord struct {
	mu  sync.Mutex
	err error // *tls.CertificateVerificationError of the last handshake, or nil
}

func (r *handshakeRecord) set(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

func (r *handshakeRecord) get() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *recordingCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := r.TransportCredentials.ClientHandshake(ctx, authority, raw)
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		r.last.set(verr)
	} else if err == nil {
		r.last.set(nil)
	}
	return conn, info, err
}

func (r *recordingCreds) Clone() credentials.TransportCredentials {
	return &recordingCreds{TransportCredentials: r.TransportCredentials.Clone(), last: r.last}
}
