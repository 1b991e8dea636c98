package envoy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
)

// fakeGateway plays the east-west gateway and the destination sidecar in one: it terminates
// mTLS (requiring a client certificate from the mesh CA), records what each client hello
// carried, and then serves HTTP/1.1, h2, or a raw echo for the "istio" ALPN (opaque TCP).
// Like the real gateway, it refuses a connection without an Istio ALPN or with an unknown SNI.
type fakeGateway struct {
	t      testing.TB
	ln     net.Listener
	certs  map[string]tls.Certificate // by SNI
	caPool *x509.CertPool

	mu    sync.Mutex
	seen  []handshake
	httpL *connListener
	srv   *http.Server
	grpc  *grpc.Server
}

// handshake is what one TLS connection from the local Envoy looked like.
type handshake struct {
	SNI        string
	ALPN       []string // as offered, in order
	Negotiated string
	PeerURI    string
	PeerSerial string
}

var istioALPNs = []string{"istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"}

func newFakeGateway(t testing.TB, addr string, ca *testCA, certs map[string]tls.Certificate) *fakeGateway {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGateway{t: t, ln: ln, certs: certs, caPool: ca.pool(), httpL: newConnListener(ln.Addr()), grpc: newGRPCHealthServer()}
	g.srv = &http.Server{Handler: http.HandlerFunc(g.serveHTTP)}
	go func() { _ = g.srv.Serve(g.httpL) }()
	go g.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		_ = g.srv.Close()
		g.grpc.Stop()
	})
	return g
}

func (g *fakeGateway) addr() *net.TCPAddr { return g.ln.Addr().(*net.TCPAddr) }

func (g *fakeGateway) handshakes() []handshake {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.seen)
}

func (g *fakeGateway) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			g.mu.Lock()
			cert, ok := g.certs[hello.ServerName]
			g.mu.Unlock()
			if !ok {
				return nil, fmt.Errorf("no filter chain for SNI %q", hello.ServerName)
			}
			if !slices.ContainsFunc(hello.SupportedProtos, func(p string) bool { return slices.Contains(istioALPNs, p) }) {
				return nil, fmt.Errorf("no Istio ALPN in %q", hello.SupportedProtos)
			}
			offered := slices.Clone(hello.SupportedProtos)
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{cert},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    g.caPool,
				// Server preference: h2 and http/1.1 as a sidecar, "istio" for opaque TCP.
				NextProtos: []string{"h2", "http/1.1", "istio"},
				VerifyConnection: func(cs tls.ConnectionState) error {
					h := handshake{SNI: cs.ServerName, ALPN: offered, Negotiated: cs.NegotiatedProtocol}
					if len(cs.PeerCertificates) > 0 {
						leaf := cs.PeerCertificates[0]
						if len(leaf.URIs) > 0 {
							h.PeerURI = leaf.URIs[0].String()
						}
						h.PeerSerial = leaf.SerialNumber.String()
					}
					g.mu.Lock()
					g.seen = append(g.seen, h)
					g.mu.Unlock()
					return nil
				},
			}, nil
		},
	}
}

func (g *fakeGateway) accept() {
	cfg := g.tlsConfig()
	for {
		raw, err := g.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			conn := tls.Server(raw, cfg)
			if err := conn.Handshake(); err != nil {
				_ = conn.Close()
				return
			}
			if conn.ConnectionState().NegotiatedProtocol == "istio" {
				// Opaque TCP: echo, prefixed once with what the handshake showed.
				cs := conn.ConnectionState()
				fmt.Fprintf(conn, "sni=%s peer=%s\n", cs.ServerName, cs.PeerCertificates[0].URIs[0])
				_, _ = io.Copy(conn, conn)
				_ = conn.Close()
				return
			}
			g.httpL.push(conn)
		}()
	}
}

func (g *fakeGateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		g.grpc.ServeHTTP(w, r)
		return
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		g.serveUpgrade(w, r)
		return
	}
	if r.Header.Get("X-Close") != "" {
		// Make Envoy open a new upstream connection (and so a new handshake) per request.
		w.Header().Set("Connection", "close")
	}
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "proto=%s sni=%s alpn=%s peer=%s path=%s body=%s",
		r.Proto, r.TLS.ServerName, r.TLS.NegotiatedProtocol, r.TLS.PeerCertificates[0].URIs[0], r.URL.Path, body)
}

// serveUpgrade accepts a websocket upgrade as a sidecar passes it to its app: 101, one line
// saying what the connection is, then every byte echoed. Only HTTP/1.1 can carry it here.
func (g *fakeGateway) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "upgrade over "+r.Proto, http.StatusBadRequest)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nproto=%s alpn=%s\n", r.Proto, r.TLS.NegotiatedProtocol)
	rw.Flush()
	_, _ = io.Copy(conn, rw)
}

// connListener hands already-handshaken TLS connections to an http.Server, which then picks
// HTTP/1.1 or h2 from the negotiated ALPN.
type connListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		_ = c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// errContains reports whether err's text holds every part.
func errContains(err error, parts ...string) bool {
	if err == nil {
		return false
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			return false
		}
	}
	return true
}
