package testbed

import (
	"bufio"
	"context"
	"encoding/json"
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
		registerEchoJSON(srv, app)
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
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		a.serveUpgrade(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(EchoReply{
		Service: a.service, Port: a.port, Protocol: ProtocolHTTP, Path: r.URL.Path,
		Caller: CallerFromXFCC(r.Header.Get("X-Forwarded-Client-Cert")), HTTPVer: r.Proto,
	})
}

// serveUpgrade accepts a websocket upgrade: 101, one line saying who called over what, then
// every byte echoed (the framing is the client's business: the mesh carries bytes).
func (a *echoApp) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "upgrade over "+r.Proto, http.StatusBadRequest)
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nservice=%s caller=%s proto=%s\n",
		a.service, CallerFromXFCC(r.Header.Get("X-Forwarded-Client-Cert")), r.Proto)
	rw.Flush()
	_, _ = io.Copy(conn, rw)
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

// callerHeader carries the peer's URI SAN on the sidecar's CONNECT tunnel for opaque TCP.
const callerHeader = "x-meshjoin-peer-uri"

// serveTCP accepts the sidecar's CONNECT tunnel, then answers every line with an EchoReply line.
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
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			r := bufio.NewReader(conn)
			req, err := http.ReadRequest(r)
			if err != nil || req.Method != http.MethodConnect {
				fmt.Fprint(conn, "HTTP/1.1 400 Bad Request\r\n\r\nexpected a CONNECT tunnel from the sidecar\n")
				return
			}
			caller := req.Header.Get(callerHeader)
			if caller == "-" { // Envoy's format string for "no value": a plaintext client
				caller = ""
			}
			fmt.Fprint(conn, "HTTP/1.1 200 OK\r\n\r\n")
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

// WebsocketEcho upgrades conn (to host, path /chat) to a websocket as a client would, reads the
// server's first line, sends line (ending in "\n") and checks that it comes back. hello is the
// first line: who answered, over what.
func WebsocketEcho(conn net.Conn, host, line string) (hello string, err error) {
	fmt.Fprintf(conn, "GET /chat HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", host)
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return "", fmt.Errorf("upgrade answered %s, want 101", resp.Status)
	}
	if hello, err = rd.ReadString('\n'); err != nil {
		return hello, err
	}
	fmt.Fprint(conn, line)
	if echo, err := rd.ReadString('\n'); err != nil || echo != line {
		return hello, fmt.Errorf("echo %q (%v), want %q", echo, err, line)
	}
	return hello, nil
}
