// Over 500 lines: the native-runtime tests against a real Envoy, one scenario each, sharing one mesh environment.

package envoy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/meshjoin/meshjoin/testbed"
)

// svc is a one-port service "<name>.<ns>"; the caller sets ListenIP.
func svc(key string, proto Protocol, port uint32, identities ...string) Service {
	return Service{Key: key, Host: key + ".svc.cluster.local", Ports: []Port{{Number: port, Protocol: proto}}, Identities: identities}
}

// TestNativeEndToEnd runs the real Envoy as a child process against a fake gateway and checks
// every protocol path, the exact SNI and ALPN on the wire, our client certificate, and that a
// destination presenting an unexpected identity is refused.
func TestNativeEndToEnd(t *testing.T) {
	ca := newTestCA(t, "mesh")
	ca2 := newTestCA(t, "mesh, second root")
	rogue := newTestCA(t, "not the mesh")
	id := func(sa string) string { return "spiffe://cluster.local/ns/bookinfo/sa/" + sa }
	mk := func(key string, proto Protocol, port uint32, identities ...string) Service {
		s := svc(key, proto, port, identities...)
		s.ListenIP = nextLoopback(t)
		return s
	}
	ratings := mk("ratings.bookinfo", HTTP, 9080, id("ratings"))
	reviews := mk("reviews.bookinfo", HTTP2, 9080, id("reviews"))
	db := mk("db.bookinfo", TCP, 3306) // trust-domain prefix fallback
	legacy := mk("legacy.bookinfo", HTTP, 9080, id("legacy"))
	impostor := mk("evil.bookinfo", HTTP, 9080, id("evil"))
	foreign := mk("foreign.bookinfo", HTTP, 9080) // fallback, but the server is of another trust domain
	untrusted := mk("untrusted.bookinfo", HTTP, 9080, id("untrusted"))

	env := newMeshEnv(t, ca, ca2.certPEM, // root bundle of two certificates
		gwService{ratings, ca.issue(t, id("ratings")).tls},
		gwService{reviews, ca.issue(t, id("reviews")).tls},
		gwService{db, ca.issue(t, id("mysql")).tls},
		gwService{legacy, ca2.issue(t, id("legacy")).tls},
		gwService{impostor, ca.issue(t, id("impostor")).tls},
		gwService{foreign, ca.issue(t, "spiffe://other.example/ns/bookinfo/sa/foreign").tls},
		gwService{untrusted, rogue.issue(t, id("untrusted")).tls},
	)
	rt := NewNativeRuntime(envoyBinary(t))
	rt.tmpRoot = t.TempDir()
	took := env.startProxy(rt, "", testLogs{t})
	t.Logf("native envoy: start to ready in %v", took)
	admin := env.proxy.Admin()

	t.Run("admin needs the token; its socket is the user's alone", func(t *testing.T) {
		assertAdminNeedsToken(t, env.proxy)
		fi, err := os.Stat(env.adminSocket)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Errorf("admin socket %s: mode %v, want a 0600 socket", env.adminSocket, fi.Mode())
		}
	})

	t.Run("bootstrap secret stays off disk and command line", func(t *testing.T) {
		if entries, _ := os.ReadDir(rt.tmpRoot); len(entries) != 0 {
			t.Errorf("bootstrap temp files left behind: %v", entries)
		}
		pid := env.proxy.(*nativeProxy).PID()
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(cmdline), env.srv.Secret()) {
			t.Error("the ADS secret is on Envoy's command line")
		}
		if !strings.Contains(string(cmdline), "--disable-hot-restart") {
			t.Errorf("command line %q lacks --disable-hot-restart", cmdline)
		}
	})

	client := &http.Client{Timeout: 10 * time.Second}
	last := func(sni string) handshake {
		t.Helper()
		var found *handshake
		for _, h := range env.gw.handshakes() {
			if h.SNI == sni {
				found = &h
			}
		}
		if found == nil {
			t.Fatalf("the gateway saw no handshake with SNI %s", sni)
		}
		return *found
	}
	wantPeer := "spiffe://cluster.local/ns/dev/sa/meshjoin"

	t.Run("http/1.1", func(t *testing.T) {
		code, body, err := get(client, listenURL(ratings, 9080)+"/ratings/1")
		if err != nil || code != 200 {
			t.Fatalf("GET: %d %q %v", code, body, err)
		}
		// HTTP/1.1 in, HTTP/2 to the sidecar (UpgradeClusterName says why).
		if !strings.Contains(body, "proto=HTTP/2.0") || !strings.Contains(body, "path=/ratings/1") {
			t.Errorf("body %q", body)
		}
		h := last("outbound_.9080_._.ratings.bookinfo.svc.cluster.local")
		if !slices.Equal(h.ALPN, []string{"istio-h2", "istio", "h2"}) || h.Negotiated != "h2" || h.PeerURI != wantPeer {
			t.Errorf("handshake %+v", h)
		}
	})

	t.Run("websocket upgrade keeps http/1.1", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ratings.ListenIP.String(), "9080"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		hello, err := testbed.WebsocketEcho(conn, "ratings.bookinfo:9080", "hello over the upgrade\n")
		if err != nil || !strings.Contains(hello, "proto=HTTP/1.1 alpn=http/1.1") {
			t.Fatalf("first line %q (%v)", hello, err)
		}
		if h := last("outbound_.9080_._.ratings.bookinfo.svc.cluster.local"); !slices.Equal(h.ALPN, []string{"istio-http/1.1", "istio", "http/1.1"}) || h.PeerURI != wantPeer {
			t.Errorf("handshake %+v", h)
		}
	})

	t.Run("http2 and grpc", func(t *testing.T) {
		h2c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: new(http.Protocols)}}
		h2c.Transport.(*http.Transport).Protocols.SetUnencryptedHTTP2(true)
		code, body, err := get(h2c, listenURL(reviews, 9080)+"/reviews")
		if err != nil || code != 200 || !strings.Contains(body, "proto=HTTP/2.0") {
			t.Fatalf("h2c GET: %d %q %v", code, body, err)
		}
		// An HTTP/1.1 client on an HTTP2 port works too (codec AUTO), upstream stays h2.
		code, body, err = get(client, listenURL(reviews, 9080)+"/reviews")
		if err != nil || code != 200 || !strings.Contains(body, "proto=HTTP/2.0") {
			t.Fatalf("http/1.1 GET on h2 port: %d %q %v", code, body, err)
		}
		if s := grpcHealth(t, net.JoinHostPort(reviews.ListenIP.String(), "9080")); s != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("grpc health %v", s)
		}
		h := last("outbound_.9080_._.reviews.bookinfo.svc.cluster.local")
		if !slices.Equal(h.ALPN, []string{"istio-h2", "istio", "h2"}) || h.Negotiated != "h2" || h.PeerURI != wantPeer {
			t.Errorf("handshake %+v", h)
		}
	})

	t.Run("tcp", func(t *testing.T) {
		greeting := tcpExchange(t, net.JoinHostPort(db.ListenIP.String(), "3306"))
		if greeting != "sni=outbound_.3306_._.db.bookinfo.svc.cluster.local peer="+wantPeer {
			t.Errorf("greeting %q", greeting)
		}
		h := last("outbound_.3306_._.db.bookinfo.svc.cluster.local")
		if !slices.Equal(h.ALPN, []string{"istio"}) {
			t.Errorf("ALPN %q, want [istio]", h.ALPN)
		}
	})

	t.Run("second root of the bundle is trusted", func(t *testing.T) {
		code, body, err := get(client, listenURL(legacy, 9080))
		if err != nil || code != 200 {
			t.Fatalf("GET: %d %q %v", code, body, err)
		}
	})

	for _, bad := range []struct {
		name string
		svc  Service
	}{
		{"SAN not among identities", impostor},
		{"other trust domain on prefix fallback", foreign},
		{"server not signed by the mesh roots", untrusted},
	} {
		t.Run("refused: "+bad.name, func(t *testing.T) {
			code, body, err := get(client, listenURL(bad.svc, 9080))
			if err != nil || code != http.StatusServiceUnavailable {
				t.Fatalf("GET: %d %q %v, want 503 from Envoy", code, body, err)
			}
			if strings.Contains(body, "proto=") {
				t.Fatalf("the request reached the destination: %q", body)
			}
		})
	}
	if n := sumStats(t, admin, "fail_verify_san"); n < 2 {
		t.Errorf("ssl.fail_verify_san = %d, want the two SAN refusals counted", n)
	}
	if n := sumStats(t, admin, "fail_verify_error"); n < 1 {
		t.Errorf("ssl.fail_verify_error = %d, want the untrusted chain counted", n)
	}
}

// TestNativeRotationAndNewService rotates the certificate while requests flow (each on a new
// upstream connection, so each handshake uses whatever certificate Envoy has then), then adds
// a service. Neither may fail a request, restart Envoy or touch existing listeners. Last, a
// service is removed again.
func TestNativeRotationAndNewService(t *testing.T) {
	ca := newTestCA(t, "mesh")
	ratings := svc("ratings.bookinfo", HTTP, 9080, "spiffe://cluster.local/ns/bookinfo/sa/ratings")
	ratings.ListenIP = nextLoopback(t)
	reviews := svc("reviews.bookinfo", HTTP, 9080, "spiffe://cluster.local/ns/bookinfo/sa/reviews")
	reviews.ListenIP = nextLoopback(t)
	env := newMeshEnv(t, ca, nil, gwService{ratings, ca.issue(t, ratings.Identities[0]).tls}, gwService{reviews, ca.issue(t, reviews.Identities[0]).tls})
	env.startProxy(NewNativeRuntime(envoyBinary(t)), "", testLogs{t})
	admin := env.proxy.Admin()
	pid := env.proxy.(*nativeProxy).PID()
	added := stat(t, admin, "listener_manager.listener_added")

	var ok, failed atomic.Int64
	var failMu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Two clients, each on one keep-alive downstream connection to a service of its own: the
	// fake gateway ends its HTTP/2 connection after every response (GOAWAY), and two clients
	// sharing it would have their streams refused over and over, which no sidecar does.
	for _, target := range []Service{ratings, reviews} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := get(client, listenURL(target, 9080), "X-Close", "1")
				if err != nil || code != 200 {
					failed.Add(1)
					failMu.Lock()
					failures = append(failures, strconv.Itoa(code)+" "+body+" "+errString(err))
					failMu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("requests before rotation", func() bool { return ok.Load() > 20 })

	rotated := ca.issue(t, "spiffe://cluster.local/ns/dev/sa/meshjoin")
	env.creds.CertChainPEM, env.creds.KeyPEM = rotated.chainPEM, rotated.keyPEM
	if err := env.srv.Update(env.plan, env.creds); err != nil {
		t.Fatal(err)
	}
	if err := env.srv.WaitApplied(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor("a handshake with the rotated certificate", func() bool {
		return slices.ContainsFunc(env.gw.handshakes(), func(h handshake) bool { return h.PeerSerial == rotated.serial.String() })
	})
	before := ok.Load()
	waitFor("requests after rotation", func() bool { return ok.Load() > before+20 })

	// A new service while traffic flows.
	details := svc("details.bookinfo", HTTP, 9080, "spiffe://cluster.local/ns/bookinfo/sa/details")
	details.ListenIP = nextLoopback(t)
	env.addGatewayCert(gwService{details, ca.issue(t, details.Identities[0]).tls})
	env.plan.Services = append(env.plan.Services, details)
	if err := env.srv.Update(env.plan, env.creds); err != nil {
		t.Fatal(err)
	}
	if err := WaitReady(ctxTimeout(t, 20*time.Second), admin, ListenerNames(env.plan)); err != nil {
		t.Fatal(err)
	}
	code, body, err := get(&http.Client{Timeout: 10 * time.Second}, listenURL(details, 9080))
	if err != nil || code != 200 {
		t.Fatalf("new service: %d %q %v", code, body, err)
	}
	before = ok.Load()
	waitFor("requests after adding a service", func() bool { return ok.Load() > before+20 })
	close(stop)
	wg.Wait()

	t.Logf("%d requests, %d failed", ok.Load()+failed.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d requests failed, e.g. %q", failed.Load(), failures[:min(3, len(failures))])
	}
	if got := env.proxy.(*nativeProxy).PID(); got != pid {
		t.Errorf("envoy pid %d, was %d", got, pid)
	}
	select {
	case <-env.proxy.Done():
		t.Fatal("envoy exited")
	default:
	}
	if n := stat(t, admin, "listener_manager.listener_modified"); n != 0 {
		t.Errorf("listener_modified = %d: a listener was rebuilt", n)
	}
	if n := stat(t, admin, "cluster_manager.cluster_modified"); n != 0 {
		t.Errorf("cluster_modified = %d: a cluster was rebuilt (its connection pools drained)", n)
	}
	if n := stat(t, admin, "listener_manager.listener_removed"); n != 0 {
		t.Errorf("listener_removed = %d", n)
	}
	if n := stat(t, admin, "listener_manager.listener_added"); n != added+1 {
		t.Errorf("listener_added = %d, want %d (the new service only)", n, added+1)
	}

	// Leaving a service removes its listener and frees its address.
	env.plan.Services = env.plan.Services[:1]
	if err := env.srv.Update(env.plan, env.creds); err != nil {
		t.Fatal(err)
	}
	if err := env.srv.WaitApplied(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor("the removed service's address to be free", func() bool {
		ln, err := net.Listen("tcp", net.JoinHostPort(details.ListenIP.String(), "9080"))
		if err != nil {
			return false
		}
		_ = ln.Close()
		return true
	})
	if code, _, err := get(&http.Client{Timeout: 10 * time.Second}, listenURL(ratings, 9080)); err != nil || code != 200 {
		t.Errorf("remaining service after a removal: %d %v", code, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestNativePortInUse: a listener whose address is taken makes WaitReady fail at once with the
// address; the server neither loops on Envoy's rejection nor blocks the other listeners; once
// the address is free, the next Update brings the listener up.
func TestNativePortInUse(t *testing.T) {
	ca := newTestCA(t, "mesh")
	free := svc("ratings.bookinfo", HTTP, 9080, "spiffe://cluster.local/ns/bookinfo/sa/ratings")
	free.ListenIP = nextLoopback(t)
	taken := svc("details.bookinfo", HTTP, 9080, "spiffe://cluster.local/ns/bookinfo/sa/details")
	taken.ListenIP = nextLoopback(t)
	busy, err := net.Listen("tcp", net.JoinHostPort(taken.ListenIP.String(), "9080"))
	if err != nil {
		t.Fatal(err)
	}
	env := newMeshEnv(t, ca, nil,
		gwService{free, ca.issue(t, free.Identities[0]).tls},
		gwService{taken, ca.issue(t, taken.Identities[0]).tls})

	admin := freePort(t, netip.MustParseAddr("127.0.0.1"))
	rt := NewNativeRuntime(envoyBinary(t))
	opts := withAdmin(t, BootstrapOptions{NodeID: "meshjoin-test-" + t.Name(), XDSAddr: env.srv.Addr(), Secret: env.srv.Secret(), AdminPort: admin}, rt)
	boot, err := Bootstrap(opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := rt.Start(ctxTimeout(t, 30*time.Second), ProxySpec{SessionID: "port-in-use", Bootstrap: boot, AdminPort: admin, AdminToken: opts.AdminToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })

	err = WaitReady(ctxTimeout(t, 30*time.Second), p.Admin(), ListenerNames(env.plan))
	want := "address " + taken.ListenIP.String() + ":9080 already in use"
	if !errors.Is(err, ErrAddressInUse) || !strings.Contains(err.Error(), want) {
		t.Fatalf("WaitReady: %v, want %q", err, want)
	}
	var inUse *AddressInUseError
	if !errors.As(err, &inUse) || inUse.Listener != "details.bookinfo:9080" {
		t.Errorf("error %#v does not name the listener", inUse)
	}
	if err := env.srv.WaitApplied(ctxTimeout(t, 10*time.Second)); !errContains(err, "envoy rejected", "Address already in use") {
		t.Errorf("WaitApplied: %v, want Envoy's rejection", err)
	}
	// The other listener serves meanwhile.
	if err := WaitReady(ctxTimeout(t, 10*time.Second), p.Admin(), []string{"ratings.bookinfo:9080"}); err != nil {
		t.Fatal(err)
	}
	// No resend loop: the rejected version is not pushed again and again.
	time.Sleep(500 * time.Millisecond)
	if n := stat(t, p.Admin(), "listener_manager.lds.update_rejected"); n != 1 {
		t.Errorf("lds.update_rejected = %d after 0.5 s, want 1 (the server resends a rejected config)", n)
	}

	_ = busy.Close()
	if err := env.srv.Update(env.plan, env.creds); err != nil {
		t.Fatal(err)
	}
	// Envoy's ACK of the resent version first: until then its admin may still report the
	// rejection of the previous one.
	if err := env.srv.WaitApplied(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := WaitReady(ctxTimeout(t, 20*time.Second), p.Admin(), ListenerNames(env.plan)); err != nil {
		t.Fatalf("after freeing the address: %v", err)
	}
}

// TestNativeStop: Stop ends Envoy and frees its addresses; a bad bootstrap fails Start with
// Envoy's own words.
func TestNativeStop(t *testing.T) {
	ca := newTestCA(t, "mesh")
	s := svc("ratings.bookinfo", TCP, 9080)
	s.ListenIP = nextLoopback(t)
	env := newMeshEnv(t, ca, nil, gwService{s, ca.issue(t, "spiffe://cluster.local/ns/bookinfo/sa/ratings").tls})
	env.startProxy(NewNativeRuntime(envoyBinary(t)), "", nil)
	if err := env.proxy.Stop(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-env.proxy.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.ListenIP.String(), "9080"))
	if err != nil {
		t.Fatalf("the listener's address is still taken after Stop: %v", err)
	}
	_ = ln.Close()
	if err := env.proxy.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	admin := freePort(t, netip.MustParseAddr("127.0.0.1"))
	_, err = NewNativeRuntime(envoyBinary(t)).Start(ctxTimeout(t, 20*time.Second), ProxySpec{SessionID: "bad", Bootstrap: []byte(`{"node": {"id": 5}}`), AdminPort: admin, AdminToken: "t"})
	if !errContains(err, "envoy exited during start-up", "node") {
		t.Errorf("Start with a broken bootstrap: %v", err)
	}
	// The admin port is taken by another program: Start must not take that program's answers
	// for Envoy's, and reports Envoy's exit.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	go func() {
		_ = http.Serve(taken, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"node":{"id":"someone-else"}}`)) }))
	}()
	rt := NewNativeRuntime(envoyBinary(t))
	opts := withAdmin(t, BootstrapOptions{NodeID: "mine", XDSAddr: "127.0.0.1:1", Secret: "x", AdminPort: taken.Addr().(*net.TCPAddr).Port}, rt)
	boot, err := Bootstrap(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rt.Start(ctxTimeout(t, 20*time.Second), ProxySpec{SessionID: "admin-taken", Bootstrap: boot, AdminPort: opts.AdminPort, AdminToken: opts.AdminToken})
	if !errContains(err, "envoy exited during start-up", "Address already in use") {
		t.Errorf("Start with the admin port taken: %v", err)
	}

	_, err = NewNativeRuntime(filepath.Join(t.TempDir(), "no-envoy")).Start(ctxTimeout(t, 5*time.Second), ProxySpec{SessionID: "x", Bootstrap: []byte("{}"), AdminPort: admin, AdminToken: "t"})
	if !errContains(err, "no-envoy", "--envoy-path") {
		t.Errorf("Start with a missing binary: %v", err)
	}
}

const helperEnv = "MESHJOIN_ENVOY_TEST_CHILD"

// TestNativeEnvoyDiesWithMeshjoin kills (SIGKILL) a process that started Envoy through
// NativeRuntime, as a crash would, and checks that Envoy goes too.
func TestNativeEnvoyDiesWithMeshjoin(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		runEnvoyChild()
		return
	}
	// A real ADS server: Envoy answers on its admin listener only once it has its config.
	ca := newTestCA(t, "mesh")
	ratings := svc("ratings.bookinfo", HTTP, 9080, "spiffe://cluster.local/ns/bookinfo/sa/ratings")
	ratings.ListenIP = nextLoopback(t)
	env := newMeshEnv(t, ca, nil, gwService{ratings, ca.issue(t, ratings.Identities[0]).tls})
	admin := freePort(t, netip.MustParseAddr("127.0.0.1"))
	opts := withAdmin(t, BootstrapOptions{NodeID: "meshjoin-test-" + t.Name(), XDSAddr: env.srv.Addr(), Secret: env.srv.Secret(), AdminPort: admin}, &NativeRuntime{})
	boot, err := Bootstrap(opts)
	if err != nil {
		t.Fatal(err)
	}
	bootFile := filepath.Join(t.TempDir(), "boot.json")
	if err := os.WriteFile(bootFile, boot, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNativeEnvoyDiesWithMeshjoin$")
	cmd.Env = append(os.Environ(), helperEnv+"="+bootFile, "MESHJOIN_ENVOY_TEST_ADMIN="+strconv.Itoa(admin),
		"MESHJOIN_ENVOY_TEST_TOKEN="+opts.AdminToken, "MESHJOIN_ENVOY_TEST_BIN="+envoyBinary(t))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var pid int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ENVOY_PID "); ok {
			pid, _ = strconv.Atoi(v)
			break
		}
	}
	if pid == 0 {
		t.Fatal("the helper did not start Envoy")
	}
	t.Cleanup(func() {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	})
	if !processAlive(pid) {
		t.Fatal("envoy not running under the helper")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("envoy (pid %d) outlived the process that started it", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runEnvoyChild is the helper process: start Envoy, print its pid, wait to be killed.
func runEnvoyChild() {
	boot, err := os.ReadFile(os.Getenv(helperEnv))
	if err != nil {
		panic(err)
	}
	admin, _ := strconv.Atoi(os.Getenv("MESHJOIN_ENVOY_TEST_ADMIN"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := NewNativeRuntime(os.Getenv("MESHJOIN_ENVOY_TEST_BIN")).Start(ctx, ProxySpec{SessionID: "child", Bootstrap: boot, AdminPort: admin, AdminToken: os.Getenv("MESHJOIN_ENVOY_TEST_TOKEN")})
	if err != nil {
		panic(err)
	}
	os.Stdout.WriteString("ENVOY_PID " + strconv.Itoa(p.(*nativeProxy).PID()) + "\n")
	time.Sleep(time.Minute)
}

// processAlive: the process exists and is not a zombie waiting for a reaper.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) STATE ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}
