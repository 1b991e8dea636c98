package envoy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// meshEnv is one local Envoy wired to a fake gateway: CA, workload credentials, ADS server.
type meshEnv struct {
	t     testing.TB
	ca    *testCA
	gw    *fakeGateway
	srv   *Server
	plan  Plan
	creds Credentials
	proxy Proxy
	// adminSocket is where Envoy's own admin interface listens (see withAdmin).
	adminSocket string
}

// gwService is a service plus the certificate the fake gateway presents for it.
type gwService struct {
	svc  Service
	cert tls.Certificate
}

// newMeshEnv starts the fake gateway and the ADS server and publishes services; startProxy
// then runs an Envoy on a runtime.
func newMeshEnv(t testing.TB, ca *testCA, extraRoots []byte, services ...gwService) *meshEnv {
	t.Helper()
	me := ca.issue(t, "spiffe://cluster.local/ns/dev/sa/meshjoin")
	certs := map[string]tls.Certificate{}
	var plan Plan
	for _, s := range services {
		plan.Services = append(plan.Services, s.svc)
		for _, p := range s.svc.Ports {
			certs[SNI(s.svc.Host, p.Number)] = s.cert
		}
	}
	gwIP := nextLoopback(t)
	gw := newFakeGateway(t, gwIP.String()+":0", ca, certs)
	plan.Gateway = Gateway{Host: gwIP.String(), Port: uint32(gw.addr().Port)}
	plan.TrustDomains = []string{"cluster.local"}
	env := &meshEnv{
		t: t, ca: ca, gw: gw, plan: plan,
		creds: Credentials{CertChainPEM: me.chainPEM, KeyPEM: me.keyPEM, RootsPEM: append(append([]byte(nil), ca.certPEM...), extraRoots...)},
	}
	srv, err := NewServer("meshjoin-test-" + t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	env.srv = srv
	if err := srv.Update(plan, env.creds); err != nil {
		t.Fatal(err)
	}
	return env
}

// addGatewayCert lets the fake gateway serve one more service.
func (e *meshEnv) addGatewayCert(s gwService) {
	e.gw.mu.Lock()
	defer e.gw.mu.Unlock()
	for _, p := range s.svc.Ports {
		e.gw.certs[SNI(s.svc.Host, p.Number)] = s.cert
	}
}

// startProxy starts Envoy on rt and returns the time from Start to WaitReady's success.
func (e *meshEnv) startProxy(rt Runtime, image string, logs io.Writer) time.Duration {
	e.t.Helper()
	admin := freePort(e.t, netip.MustParseAddr("127.0.0.1"))
	opts := withAdmin(e.t, BootstrapOptions{NodeID: "meshjoin-test-" + e.t.Name(), XDSAddr: e.srv.Addr(), Secret: e.srv.Secret(), AdminPort: admin}, rt)
	e.adminSocket = opts.AdminSocket
	boot, err := Bootstrap(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := ctxTimeout(e.t, 60*time.Second)
	start := time.Now()
	p, err := rt.Start(ctx, ProxySpec{
		SessionID: sessionID(e.t), Bootstrap: boot, AdminPort: admin, AdminToken: opts.AdminToken, Image: image, Logs: logs,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = p.Stop(context.Background()) })
	e.proxy = p
	if err := WaitReady(ctx, p.Admin(), ListenerNames(e.plan)); err != nil {
		e.t.Fatal(err)
	}
	return time.Since(start)
}

func sessionID(t testing.TB) string {
	return fmt.Sprintf("test-%d-%s", time.Now().UnixNano()%1e9, strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
}

// get does one HTTP/1.1 request through the local Envoy.
func get(client *http.Client, url string, header ...string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func listenURL(s Service, port uint32) string {
	return "http://" + net.JoinHostPort(s.ListenIP.String(), strconv.Itoa(int(port)))
}

// tcpExchange connects to a TCP listener, reads the fake gateway's greeting, and checks the echo.
func tcpExchange(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	greeting, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("tcp through envoy: %v", err)
	}
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		t.Fatal(err)
	}
	echo, err := r.ReadString('\n')
	if err != nil || echo != "ping\n" {
		t.Fatalf("echo %q, %v", echo, err)
	}
	return strings.TrimSpace(greeting)
}

// stat reads one counter or gauge from Envoy's admin /stats.
func stat(t *testing.T, admin AdminEndpoint, name string) int {
	t.Helper()
	b, err := admin.Get(context.Background(), http.DefaultClient, "/stats?filter=^"+strings.ReplaceAll(name, ".", `\.`)+"$")
	body := string(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("stat %s not found in %q", name, body)
	return 0
}

// sumStats adds every counter whose name contains part.
func sumStats(t *testing.T, admin AdminEndpoint, part string) int {
	t.Helper()
	b, err := admin.Get(context.Background(), http.DefaultClient, "/stats?filter="+part)
	body := string(b)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(body, "\n") {
		if _, v, ok := strings.Cut(line, ": "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			total += n
		}
	}
	return total
}

// grpcHealth calls grpc.health.v1 through the local Envoy (plaintext h2c to Envoy).
func grpcHealth(t *testing.T, addr string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("grpc health through envoy: %v", err)
	}
	return resp.GetStatus()
}

// newGRPCHealthServer is the gRPC service the fake gateway serves on h2.
func newGRPCHealthServer() *grpc.Server {
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	return s
}
