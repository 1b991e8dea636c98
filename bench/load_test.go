//go:build linux

package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/meshjoin/meshjoin/testbed"
)

// A target is one protocol on one path: how to open one connection's worth of client.
type target struct {
	path, protocol string
	url            string                                      // HTTP and gRPC; TCP sends lines
	dial           func(ctx context.Context) (net.Conn, error) // a connection to the path's entry
}

// grpcUnaryBody is an empty grpc.testing.SimpleRequest in gRPC's length-prefixed frame.
var grpcUnaryBody = []byte{0, 0, 0, 0, 0}

const grpcMethod = "/grpc.testing.TestService/UnaryCall"

// roundTripper returns a client holding one connection of the target: HTTP/1.1 with one
// keep-alive connection, HTTP/2 (h2c, or h2 inside the mTLS) on one connection, or one TCP
// connection whose "request" is a line and "response" the echo's line.
func (t target) roundTripper() http.RoundTripper {
	switch t.protocol {
	case testbed.ProtocolGRPC:
		// HTTP/2 with prior knowledge on whatever the dial returns: plain TCP to a local
		// Envoy, or the mTLS connection whose ALPN negotiated h2.
		tr := &http.Transport{Protocols: new(http.Protocols), DisableCompression: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return t.dial(ctx) }}
		tr.Protocols.SetUnencryptedHTTP2(true)
		return tr
	case testbed.ProtocolTCP:
		return &lineConn{dial: t.dial}
	}
	return &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return t.dial(ctx) }}
}

func (t target) vegetaTarget() vegeta.Target {
	switch t.protocol {
	case testbed.ProtocolGRPC:
		return vegeta.Target{Method: http.MethodPost, URL: t.url + grpcMethod, Body: grpcUnaryBody,
			Header: http.Header{"Content-Type": {"application/grpc"}, "Te": {"trailers"}}}
	case testbed.ProtocolTCP:
		return vegeta.Target{Method: http.MethodGet, URL: "tcp://line/"}
	}
	return vegeta.Target{Method: http.MethodGet, URL: t.url + "/"}
}

// pool lends each request a connection's client that no other request is using: with as many
// vegeta workers as clients, every worker has its own connection, as a client process would.
type pool chan http.RoundTripper

func newPool(t target, conns int) pool {
	p := make(pool, conns)
	for range conns {
		p <- t.roundTripper()
	}
	return p
}

func (p pool) RoundTrip(r *http.Request) (*http.Response, error) {
	rt := <-p
	defer func() { p <- rt }()
	return rt.RoundTrip(r)
}

func (p pool) close() {
	for range cap(p) {
		closeClient(<-p)
	}
}

func closeClient(rt http.RoundTripper) {
	switch rt := rt.(type) {
	case *http.Transport:
		rt.CloseIdleConnections()
	case *lineConn:
		rt.close()
	}
}

// lineConn is the TCP client as a RoundTripper, so that vegeta paces and measures TCP too:
// each round trip writes one line and reads the echo's line back, on one kept connection.
type lineConn struct {
	dial func(ctx context.Context) (net.Conn, error)
	conn net.Conn
	r    *bufio.Reader
}

func (l *lineConn) RoundTrip(req *http.Request) (*http.Response, error) {
	if l.conn == nil {
		c, err := l.dial(req.Context())
		if err != nil {
			return nil, err
		}
		l.conn, l.r = c, bufio.NewReader(c)
	}
	if _, err := io.WriteString(l.conn, "ping\n"); err != nil {
		l.close()
		return nil, err
	}
	line, err := l.r.ReadString('\n')
	if err != nil {
		l.close()
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(line)), Request: req}, nil
}

func (l *lineConn) close() {
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
}

// run is one vegeta attack: rate requests a second (0: as fast as conns allow) for d.
func run(t target, rate, conns int, d time.Duration) vegeta.Metrics {
	p := newPool(t, conns)
	defer p.close()
	atk := vegeta.NewAttacker(vegeta.Client(&http.Client{Transport: p, Timeout: 10 * time.Second}),
		vegeta.Workers(uint64(conns)), vegeta.MaxWorkers(uint64(conns)), vegeta.MaxBody(-1))
	var m vegeta.Metrics
	for res := range atk.Attack(vegeta.NewStaticTargeter(t.vegetaTarget()), vegeta.Rate{Freq: rate, Per: time.Second}, d, t.path) {
		m.Add(res)
	}
	m.Close()
	return m
}

// check makes one request through t and verifies the answer came from the right echo app
// with the developer's identity: a benchmark of a broken path measures nothing.
func check(t target, wantService, wantCaller string) error {
	rt := t.roundTripper()
	defer closeClient(rt)
	vt := t.vegetaTarget()
	req, err := vt.Request()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("%s %s: %w", t.path, t.protocol, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %v %v: %s", t.path, t.protocol, resp.Status, err, body)
	}
	if t.protocol == testbed.ProtocolGRPC {
		if st := resp.Trailer.Get("Grpc-Status"); st != "0" {
			return fmt.Errorf("%s grpc: grpc-status %q (%s)", t.path, st, resp.Trailer.Get("Grpc-Message"))
		}
		if len(body) < 5 {
			return fmt.Errorf("%s grpc: short reply %q", t.path, body)
		}
		// The reply's payload holds the echo's JSON; find it rather than decode the proto.
		if i := strings.IndexByte(string(body), '{'); i >= 0 {
			body = body[i:]
			if j := strings.LastIndexByte(string(body), '}'); j >= 0 {
				body = body[:j+1]
			}
		}
	}
	var reply testbed.EchoReply
	if err := json.Unmarshal(body, &reply); err != nil {
		return fmt.Errorf("%s %s: reply %q: %w", t.path, t.protocol, body, err)
	}
	if reply.Service != wantService || reply.Caller != wantCaller {
		return fmt.Errorf("%s %s: reached %q as %q, want %q as %q", t.path, t.protocol, reply.Service, reply.Caller, wantService, wantCaller)
	}
	return nil
}

// mtlsDialer dials the east-west gateway as a mesh workload would: the developer's
// certificate, the SNI of the service port, the ALPN meshjoin offers for the protocol, and the
// destination's identity checked against the mesh root.
func mtlsDialer(bed *testbed.Testbed, cert tls.Certificate, w testbed.Workload, port testbed.Port, alpn []string) func(context.Context) (net.Conn, error) {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bed.RootPEM)
	wantSAN := testbed.SPIFFEID(bed.TrustDomain, w.Namespace, w.ServiceAccount)
	cfg := &tls.Config{
		ServerName: w.SNI(port.Number), NextProtos: alpn, Certificates: []tls.Certificate{cert},
		InsecureSkipVerify: true, // verified below: the SAN is a SPIFFE URI, not the SNI
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			leaf, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			inter := x509.NewCertPool()
			for _, r := range raw[1:] {
				if c, err := x509.ParseCertificate(r); err == nil {
					inter.AddCert(c)
				}
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return err
			}
			for _, u := range leaf.URIs {
				if u.String() == wantSAN {
					return nil
				}
			}
			return errors.New("destination is not " + wantSAN)
		},
	}
	return func(ctx context.Context) (net.Conn, error) {
		return (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", bed.GatewayAddr())
	}
}

func plainDialer(addr string) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
}
