package testbed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
)

// EchoReply is what every echo app answers: who was called, and who called.
type EchoReply struct {
	Service  string `json:"service"`               // name.namespace
	Port     uint32 `json:"port"`                  // service port
	Protocol string `json:"protocol"`              // http, grpc or tcp
	Path     string `json:"path,omitempty"`        // HTTP path or gRPC method
	Caller   string `json:"caller"`                // the client's SPIFFE ID, as the sidecar saw it
	Echo     string `json:"echo,omitempty"`        // TCP: the line sent
	HTTPVer  string `json:"httpVersion,omitempty"` // what the app received from its sidecar
}

// proxyTLVCaller is the PROXY protocol v2 TLV type in which TCP sidecars pass the peer's URI SAN.
const proxyTLVCaller = 0xF0

// echoApp is one port of a workload's application, listening on 127.0.0.1 behind its sidecar.
type echoApp struct {
	service  string
	port     uint32
	protocol string
	listener net.Listener
	stopFn   func()
}

func startEcho(service string, port uint32, protocol string) (*echoApp, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	app := &echoApp{service: service, port: port, protocol: protocol, listener: l}
	switch protocol {
	case ProtocolGRPC:
		srv := grpc.NewServer()
		testgrpc.RegisterTestServiceServer(srv, &grpcEcho{app: app})
		go srv.Serve(l)
		app.stopFn = srv.Stop
	case ProtocolTCP:
		ctx, cancel := context.WithCancel(context.Background())
		go app.serveTCP(ctx)
		app.stopFn = func() { cancel(); l.Close() }
	default:
		srv := &http.Server{Handler: http.HandlerFunc(app.serveHTTP), Protocols: new(http.Protocols)}
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
		go srv.Serve(l)
		app.stopFn = func() { srv.Close() }
	}
	return app, nil
}

func (a *echoApp) addr() string { return a.listener.Addr().String() }
func (a *echoApp) stop()        { a.stopFn() }

func (a *echoApp) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(EchoReply{
		Service: a.service, Port: a.port, Protocol: ProtocolHTTP, Path: r.URL.Path,
		Caller: CallerFromXFCC(r.Header.Get("X-Forwarded-Client-Cert")), HTTPVer: r.Proto,
	})
}

type grpcEcho struct {
	testgrpc.UnimplementedTestServiceServer
	app *echoApp
}

// UnaryCall answers with an EchoReply as JSON in the payload body.
func (g *grpcEcho) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	caller := CallerFromXFCC(first(md.Get("x-forwarded-client-cert")))
	method, _ := grpc.Method(ctx)
	body, _ := json.Marshal(EchoReply{Service: g.app.service, Port: g.app.port, Protocol: ProtocolGRPC, Path: method, Caller: caller})
	return &testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: body}, Username: caller, Hostname: g.app.service}, nil
}

// serveTCP reads the sidecar's PROXY v2 header, then answers every line with an EchoReply line.
func (a *echoApp) serveTCP(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := a.listener.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			context.AfterFunc(ctx, func() { conn.Close() })
			r := bufio.NewReader(conn)
			caller, err := readProxyV2Caller(r)
			if err != nil {
				fmt.Fprintf(conn, "{\"error\":%q}\n", err.Error())
				return
			}
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				b, _ := json.Marshal(EchoReply{Service: a.service, Port: a.port, Protocol: ProtocolTCP, Caller: caller, Echo: strings.TrimRight(line, "\r\n")})
				if _, err := conn.Write(append(b, '\n')); err != nil {
					return
				}
			}
		}()
	}
}

var proxyV2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// readProxyV2Caller parses a PROXY protocol v2 header and returns the caller TLV, if any.
func readProxyV2Caller(r io.Reader) (string, error) {
	head := make([]byte, 16)
	if _, err := io.ReadFull(r, head); err != nil {
		return "", fmt.Errorf("read PROXY header: %w", err)
	}
	if !bytes.Equal(head[:12], proxyV2Signature) {
		return "", errors.New("no PROXY v2 header from the sidecar")
	}
	body := make([]byte, binary.BigEndian.Uint16(head[14:16]))
	if _, err := io.ReadFull(r, body); err != nil {
		return "", fmt.Errorf("read PROXY body: %w", err)
	}
	var addrLen int
	switch head[13] >> 4 {
	case 1:
		addrLen = 12
	case 2:
		addrLen = 36
	case 3:
		addrLen = 216
	}
	if addrLen > len(body) {
		return "", errors.New("short PROXY header")
	}
	tlvs := body[addrLen:]
	for len(tlvs) >= 3 {
		typ, n := tlvs[0], int(binary.BigEndian.Uint16(tlvs[1:3]))
		if 3+n > len(tlvs) {
			break
		}
		if typ == proxyTLVCaller {
			v := string(tlvs[3 : 3+n])
			if v == "-" { // Envoy's format string for "no value"
				v = ""
			}
			return v, nil
		}
		tlvs = tlvs[3+n:]
	}
	return "", nil
}

// CallerFromXFCC returns the URI of the client certificate from an x-forwarded-client-cert header
// (the element a sidecar appends last).
func CallerFromXFCC(xfcc string) string {
	if xfcc == "" {
		return ""
	}
	elems := strings.Split(xfcc, ",")
	for _, kv := range strings.Split(elems[len(elems)-1], ";") {
		if v, ok := strings.CutPrefix(kv, "URI="); ok {
			return strings.Trim(v, "\"")
		}
	}
	return ""
}
