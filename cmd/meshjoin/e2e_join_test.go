//go:build !windows

// Over 500 lines: the join scenarios against the shared test mesh, one test each, reading best side by side.

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/docker/docker/api/types/container"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/session"
	"github.com/meshjoin/meshjoin/testbed"
)

// Acceptance 1: HTTP, gRPC, TCP and port-80 services answer through the local Envoy, each
// naming the developer's SPIFFE ID; SIGINT leaves nothing behind.
func TestJoinHTTPGRPCTCPPort80(t *testing.T) {
	e := newEnv(t)
	r := e.startJoin(e.joinArgs(allProtocols...)...)
	if got := e.state().Network; got != "host" {
		t.Errorf("state says network %q, want host (auto on a Linux engine)", got)
	}
	e.assertAllProtocols()
	ratings := e.addr("ratings.bookinfo")
	r.interrupt(t)
	assertNoListener(t, ratings+":9080")
}

// Docker Desktop's mode on this Linux engine (see testbed.EmulateDockerDesktop): Envoy on a
// bridge network of the session's own, its one listener and admin interface published on
// 127.0.0.1, meshjoin's forwarder on the services' loopback addresses, ADS and gateway
// reached through host.docker.internal. Both SIGINT and kill -9 plus leave remove the
// container and the network.
func TestJoinPublishedPorts(t *testing.T) {
	e := newEnv(t)
	e.tb.EmulateDockerDesktop(t)
	args := append(e.joinArgs(allProtocols...), "--envoy-network", "published")
	r := e.startJoin(args...)
	st := e.state()
	if st.Network != "published" {
		t.Fatalf("state says network %q, want published", st.Network)
	}
	c := inspectContainer(t, st.ContainerID)
	if c.HostConfig.NetworkMode != container.NetworkMode("meshjoin-"+st.ID) {
		t.Errorf("container on network %q, want the session's own", c.HostConfig.NetworkMode)
	}
	ratings := e.addr("ratings.bookinfo")
	listener := false
	for port, binds := range c.HostConfig.PortBindings {
		listener = listener || port.Int() == envoy.PublishedContainerPort
		for _, b := range binds {
			// The listener and the admin interface are published on 127.0.0.1 only.
			if b.HostIP != "127.0.0.1" {
				t.Errorf("container port %s published on %q, not 127.0.0.1", port, b.HostIP)
			}
		}
	}
	if admin := netip.MustParseAddrPort(st.AdminAddr); admin.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("admin at %s, want 127.0.0.1", admin)
	}
	if n := len(c.HostConfig.PortBindings); !listener || n != 2 {
		t.Errorf("published %v, want Envoy's listener (container port %d) and admin interface only", c.HostConfig.PortBindings, envoy.PublishedContainerPort)
	}
	e.assertAllProtocols()
	code, out, _ := e.run(e.args("status")...)
	if code != 0 || !strings.Contains(out, "docker, published network") {
		t.Errorf("status (exit %d) does not say the network:\n%s", code, out)
	}
	r.interrupt(t)
	assertNoListener(t, ratings+":9080")
	e.assertClean()

	r = e.startJoin(args...)
	r.cmd.Process.Kill()
	<-r.done
	if code, _, errOut := e.run(e.args("leave")...); code != 0 {
		t.Fatalf("leave after kill -9: exit %d\n%s", code, errOut)
	}
}

// allProtocols are an HTTP, a gRPC, a TCP, a port-80 and a ServiceEntry service.
var allProtocols = []string{"ratings.bookinfo", "ledger.payments", "db.payments", "web.bookinfo", "inventory.payments"}

// assertAllProtocols checks the hosts file and one call per service of allProtocols.
func (e *env) assertAllProtocols() {
	t := e.t
	t.Helper()
	me := "spiffe://" + e.tb.TrustDomain + "/ns/dev/sa/alice"
	hostsBytes, _ := os.ReadFile(e.hostsFile)
	if !bytes.HasPrefix(hostsBytes, []byte(initialHosts)) {
		t.Fatalf("user's bytes changed:\n%q", hostsBytes)
	}
	for _, want := range []string{
		e.addr("ratings.bookinfo") + " ", "ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc ", "ratings.bookinfo",
		"inventory.mesh.internal", "web.bookinfo",
	} {
		if !bytes.Contains(hostsBytes, []byte(want)) {
			t.Errorf("hosts file lacks %q:\n%s", want, hostsBytes)
		}
	}

	if got, err := getHTTP(e.addr("ratings.bookinfo"), 9080, "/ratings/0"); err != nil || got.Caller != me || got.Service != "ratings.bookinfo" {
		t.Errorf("HTTP: %+v, %v", got, err)
	}
	if got, err := getHTTP(e.addr("web.bookinfo"), 80, "/"); err != nil || got.Caller != me || got.Port != 80 {
		t.Errorf("port 80: %+v, %v", got, err)
	}
	if got, err := getHTTP(e.addr("inventory.payments"), 8000, "/items"); err != nil || got.Caller != me {
		t.Errorf("ServiceEntry: %+v, %v", got, err)
	}
	if got, err := callGRPC(e.addr("ledger.payments") + ":7070"); err != nil || got.Caller != me || got.Protocol != "grpc" {
		t.Errorf("gRPC: %+v, %v", got, err)
	}
	if got, err := roundTripTCP(e.addr("db.payments")+":3306", "hello"); err != nil || got.Caller != me || got.Echo != "hello" {
		t.Errorf("TCP: %+v, %v", got, err)
	}
}

// Acceptance 2: the real /etc/hosts and the system resolver, byte-identical afterwards.
func TestJoinRealEtcHosts(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run as root: this test writes the real /etc/hosts")
		}
		t.Skip("needs root to write /etc/hosts (CI runs it)")
	}
	before, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	args := e.args("join", "--identity", "dev/alice", "--envoy-image", "meshjoin.local/envoy:1.40.0", "ratings.bookinfo", "web.bookinfo")
	r := e.startJoin(args...)
	out, err := exec.Command("getent", "hosts", "ratings.bookinfo").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), e.addr("ratings.bookinfo")) {
		t.Fatalf("getent hosts ratings.bookinfo: %q %v", out, err)
	}
	for _, url := range []string{"http://ratings.bookinfo:9080/ratings/0", "http://ratings.bookinfo.svc.cluster.local:9080/", "http://web.bookinfo/"} {
		out, err := exec.Command("curl", "-sS", "--max-time", "10", url).CombinedOutput()
		var got echo
		if err != nil || json.Unmarshal(out, &got) != nil || got.Caller != "spiffe://"+e.tb.TrustDomain+"/ns/dev/sa/alice" {
			t.Errorf("curl %s: %s %v", url, out, err)
		}
	}
	r.interrupt(t)
	after, _ := os.ReadFile("/etc/hosts")
	if !bytes.Equal(before, after) {
		t.Fatalf("/etc/hosts changed:\nbefore %q\nafter  %q", before, after)
	}
}

// Acceptance 3: kill -9, then `meshjoin leave` cleans up; the next join would too.
func TestKillThenLeave(t *testing.T) {
	e := newEnv(t)
	r := e.startJoin(e.joinArgs("ratings.bookinfo")...)
	addr := e.addr("ratings.bookinfo")
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	if len(meshjoinContainers(t)) == 0 {
		t.Fatal("the container should outlive a kill -9 (that is what leave is for)")
	}
	code, out, errOut := e.run(e.args("leave")...)
	if code != 0 || !strings.Contains(out, "Cleaned up session") {
		t.Fatalf("leave: %d %s %s", code, out, errOut)
	}
	assertNoListener(t, addr+":9080")
	// Idempotent: a second leave finds nothing.
	if code, out, _ := e.run(e.args("leave")...); code != 0 || !strings.Contains(out, "No meshjoin session") {
		t.Fatalf("second leave: %d %s", code, out)
	}
}

// `meshjoin join ... | tee log`, then Ctrl-C: the terminal's SIGINT ends tee too, and the
// pipe meshjoin writes its goodbye to is gone. That must not kill meshjoin before it has
// cleaned up (Go exits on SIGPIPE from a write to stdout or stderr unless told otherwise).
func TestSIGINTWithOutputPipeGone(t *testing.T) {
	e := newEnv(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), e.joinArgs("ratings.bookinfo")...)
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(out.String(), "Joined ") {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("join output ended before it joined: %v\n%s", err, out.String())
		}
		out.Write(buf[:n])
	}
	addr := e.addr("ratings.bookinfo")
	pr.Close() // tee is gone
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("join ended with %v after SIGINT with its output pipe gone", err)
		}
	case <-time.After(45 * time.Second):
		cmd.Process.Kill()
		t.Fatal("join did not exit after SIGINT")
	}
	assertNoListener(t, addr+":9080")
}

// A join after a crashed session cleans up the crashed one first.
func TestJoinAfterCrashCleansUp(t *testing.T) {
	e := newEnv(t)
	r := e.startJoin(e.joinArgs("ratings.bookinfo")...)
	first := e.state().ID
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	r2 := e.startJoin(e.joinArgs("web.bookinfo")...)
	if e.state().ID == first {
		t.Fatal("same session id after restart")
	}
	if n := len(meshjoinContainers(t)); n != 1 {
		t.Fatalf("%d containers, want only the new session's", n)
	}
	b, _ := os.ReadFile(e.hostsFile)
	if strings.Contains(string(b), first) || strings.Count(string(b), "# BEGIN meshjoin") != 1 {
		t.Fatalf("hosts block of the crashed session still there:\n%s", b)
	}
	r2.interrupt(t)
}

// `leave` from another terminal stops a running session; a second join meanwhile is refused.
func TestLeaveFromAnotherTerminalAndSecondJoin(t *testing.T) {
	e := newEnv(t)
	r := e.startJoin(e.joinArgs("ratings.bookinfo")...)
	code, _, errOut := e.run(e.joinArgs("web.bookinfo")...)
	if code != exitConflict || !strings.Contains(errOut, "already running") || !strings.Contains(errOut, "meshjoin leave") {
		t.Fatalf("second join: exit %d\n%s", code, errOut)
	}
	b, _ := os.ReadFile(e.hostsFile)
	if strings.Count(string(b), "# BEGIN meshjoin") != 1 || strings.Contains(string(b), "web.bookinfo") {
		t.Fatalf("second join touched the block:\n%s", b)
	}
	code, out, errOut := e.run(e.args("leave")...)
	if code != 0 || !strings.Contains(out, "Stopped session") {
		t.Fatalf("leave: %d %s %s", code, out, errOut)
	}
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("join still running after leave")
	}
}

// Acceptance 4: a destination whose sidecar presents an unexpected identity is refused by the
// local Envoy, and status says why.
func TestImposterIsRefusedAndStatusSaysWhy(t *testing.T) {
	e := newEnv(t)
	r := e.startJoin(e.joinArgs("imposter.bookinfo", "ratings.bookinfo")...)
	if got, err := getHTTP(e.addr("imposter.bookinfo"), 9080, "/"); err == nil {
		t.Fatalf("request to the imposter succeeded: %+v", got)
	}
	if _, err := getHTTP(e.addr("ratings.bookinfo"), 9080, "/"); err != nil {
		t.Fatalf("ratings next to it: %v", err)
	}
	code, out, errOut := e.run(e.args("status")...)
	if code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "imposter.bookinfo") {
			line = l
		}
	}
	if !strings.Contains(line, "identity that is not expected") || !strings.Contains(line, "spiffe://"+e.tb.TrustDomain+"/ns/bookinfo/sa/imposter") {
		t.Fatalf("status does not say why:\n%s", out)
	}
	// A websocket to ratings (its port's upgrade cluster) counts as one of its requests.
	websocketEcho(t, e.addr("ratings.bookinfo")+":9080")
	code, out, _ = e.run(e.args("status", "-o", "json")...)
	var st session.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || !st.Running || len(st.Services) != 2 {
		t.Fatalf("status -o json: %d %s", code, out)
	}
	for _, ss := range st.Services {
		if ss.Key == "ratings.bookinfo" && ss.Requests != 2 {
			t.Errorf("ratings: %d requests in status, want 2 (a GET and a websocket)", ss.Requests)
		}
	}
	r.interrupt(t)
}

// websocketEcho sends one line through a websocket to ratings at addr (the echo app's /chat).
func websocketEcho(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	hello, err := testbed.WebsocketEcho(conn, "ratings.bookinfo:9080", "hello over the upgrade\n")
	if err != nil || !strings.Contains(hello, "service=ratings.bookinfo caller=spiffe://") {
		t.Fatalf("websocket: first line %q (%v)", hello, err)
	}
}

// Acceptance 7: rotation with the shortest TTL accepted while requests flow: no failed
// request, Envoy not restarted; every certificate from the real istiod.
func TestRotationWhileRequestsFlow(t *testing.T) {
	e := newEnv(t)
	signed := e.tb.CASigned()
	r := e.startJoin(e.joinArgs("ratings.bookinfo", "--cert-ttl", session.MinCertTTL.String())...)
	before := e.state()
	addr := e.addr("ratings.bookinfo")
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := getHTTP(addr, 9080, "/"); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	// Renewal at half-life: 3 renewals take 3 × 15 s.
	const renewals = 3
	deadline := time.Now().Add(2 * session.MinCertTTL)
	for e.state().Renewals < renewals && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	after := e.state()
	t.Logf("%d requests ok, %d failed, %d renewals", ok.Load(), failed.Load(), after.Renewals)
	if after.Renewals < renewals {
		t.Fatalf("only %d renewals in %s with a %s TTL", after.Renewals, 2*session.MinCertTTL, session.MinCertTTL)
	}
	if failed.Load() > 0 {
		t.Fatalf("%d requests failed during rotation, first: %v", failed.Load(), firstErr.Load())
	}
	if !after.CertNotAfter.After(before.CertNotAfter) {
		t.Fatal("certificate not renewed")
	}
	if n := e.tb.CASigned() - signed; n < int64(after.Renewals)+1 {
		t.Fatalf("istiod signed %d certificates for a join and %d renewals", n, after.Renewals)
	}
	if after.ContainerID != before.ContainerID || envoyUptime(t, e.admin()) < 10*time.Second {
		t.Fatal("Envoy was restarted during rotation")
	}
	r.interrupt(t)
}

// Security: the admin interface listens on loopback only; no key and no token on disk or in
// the logs.
func TestNoSecretsOnDiskOrInLogs(t *testing.T) {
	e := newEnv(t)
	testStart := time.Now()
	logFile := filepath.Join(t.TempDir(), "meshjoin.log")
	r := e.startJoin(append(e.joinArgs("ratings.bookinfo"), "-v", "--log-file", logFile)...)
	st := e.state()
	if host, _, _ := net.SplitHostPort(st.AdminAddr); host != "127.0.0.1" {
		t.Fatalf("Envoy admin on %s", st.AdminAddr)
	}
	// Without the session's token the admin listener refuses, even a POST to /quitquitquit
	// (what a web page could send to 127.0.0.1).
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		resp, err := http.DefaultClient.Do(must(http.NewRequest(method, "http://"+st.AdminAddr+"/quitquitquit", nil)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s /quitquitquit without the token: %s, want 401", method, resp.Status)
		}
	}
	if _, err := getHTTP(e.addr("ratings.bookinfo"), 9080, "/"); err != nil {
		t.Fatal(err)
	}
	r.interrupt(t)
	logs, _ := os.ReadFile(logFile)
	if !strings.Contains(string(logs), "step=certificate") {
		t.Fatalf("log file does not have the steps:\n%s", logs)
	}
	for _, dir := range []string{e.stateDir, filepath.Dir(logFile), os.TempDir()} {
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.Contains(path, "meshjoin-testbed-") {
				return nil // the testbed's own sidecar keys are the test mesh's, not ours
			}
			// Only what was written while meshjoin ran.
			if info, err := d.Info(); err == nil && info.Size() < 1<<20 && info.ModTime().After(testStart) {
				b, _ := os.ReadFile(path)
				if bytes.Contains(b, []byte("PRIVATE KEY")) {
					t.Errorf("private key on disk: %s", path)
				}
			}
			return nil
		})
	}
	for _, text := range []string{string(logs), r.stderr.String(), r.stdout.String()} {
		// Service-account tokens are JWTs: base64url of {"alg":... starts with eyJ.
		if strings.Contains(text, "eyJ") {
			t.Fatalf("a token reached the logs:\n%s", text)
		}
	}
}

func envoyUptime(t *testing.T, admin envoy.AdminEndpoint) time.Duration {
	t.Helper()
	body, err := admin.Get(context.Background(), http.DefaultClient, "/server_info")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		UptimeAllEpochs string `json:"uptime_all_epochs"`
	}
	json.Unmarshal(body, &info)
	d, _ := time.ParseDuration(info.UptimeAllEpochs)
	return d
}

func callGRPC(addr string) (echo, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return echo{}, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := testgrpc.NewTestServiceClient(conn).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if err != nil {
		return echo{}, err
	}
	var r echo
	return r, json.Unmarshal(resp.GetPayload().GetBody(), &r)
}

func roundTripTCP(addr, line string) (echo, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return echo{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(conn, line); err != nil {
		return echo{}, err
	}
	b, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return echo{}, err
	}
	var r echo
	return r, json.Unmarshal(b, &r)
}

func assertNoListener(t *testing.T, addr string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("something still listens on %s", addr)
	}
}

// Two sessions (two state dirs) that want the same address: the second fails with "in use"
// and the first keeps serving. Envoy's default SO_REUSEPORT would have let them silently
// share the port, splitting connections between them.
func TestSecondSessionSameAddressIsRefused(t *testing.T) {
	e := newEnv(t)
	r := e.startJoin(e.joinArgs("ratings.bookinfo")...)
	other := newEnv(t)
	code, _, errOut := other.run(other.joinArgs("ratings.bookinfo")...)
	if code != exitConflict || !strings.Contains(errOut, "already in use") || !strings.Contains(errOut, e.addr("ratings.bookinfo")) {
		t.Fatalf("second session: exit %d\n%s", code, errOut)
	}
	for range 20 {
		if _, err := getHTTP(e.addr("ratings.bookinfo"), 9080, "/"); err != nil {
			t.Fatalf("first session disturbed: %v", err)
		}
	}
	r.interrupt(t)
}

// Only the hosts write is elevated: with --sudo always, sudo (a recording stand-in on PATH)
// runs nothing but `meshjoin hosts-apply`, once to write the block in the system hosts file and
// once to remove it; /etc/hosts is byte-identical afterwards. hosts-apply writes no other file.
func TestOnlyTheHostsWriteIsElevated(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run as root: this test writes the real /etc/hosts")
		}
		t.Skip("needs root to write /etc/hosts (CI runs it)")
	}
	before, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	dir := t.TempDir()
	record := filepath.Join(dir, "sudo.log")
	script := "#!/bin/sh\necho \"$@\" >> " + record + "\nexec \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e.extraEnv = []string{"PATH=" + dir + ":" + os.Getenv("PATH")}
	r := e.startJoin(e.args("join", "--identity", "dev/alice", "--envoy-image", "meshjoin.local/envoy:1.40.0", "--sudo", "always", "--address-range", "127.79.0.0/16", "ratings.bookinfo")...)
	if _, err := getHTTP(e.addr("ratings.bookinfo"), 9080, "/"); err != nil {
		t.Fatal(err)
	}
	r.interrupt(t)
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("sudo was never called: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		t.Fatalf("sudo calls: %q, want the write and the removal", lines)
	}
	for _, l := range lines {
		if l != binary(t)+" hosts-apply" {
			t.Fatalf("sudo ran %q; only `meshjoin hosts-apply` may run elevated", l)
		}
	}
	if after, _ := os.ReadFile("/etc/hosts"); !bytes.Equal(before, after) {
		t.Fatalf("/etc/hosts changed:\nbefore %q\nafter  %q", before, after)
	}

	// hosts-apply names no file: a request that does is refused, and the file is untouched.
	cmd := exec.Command(binary(t), "hosts-apply")
	cmd.Stdin = strings.NewReader(`{"path":"` + e.hostsFile + `","owner":"x1","entries":[{"ip":"127.77.0.9","names":["evil.example"]}]}`)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "unknown field") {
		t.Fatalf("hosts-apply with a path: %v\n%s", err, out)
	}
	// And a --hosts-file elsewhere is never written through sudo.
	args := e.joinArgs("ratings.bookinfo")
	for i, a := range args {
		if a == "never" && args[i-1] == "--sudo" {
			args[i] = "always"
		}
	}
	if code, _, stderr := e.run(args...); code != exitEnvironment || !strings.Contains(stderr, "only the system hosts file") || !strings.Contains(stderr, "Next:") {
		t.Fatalf("--sudo always with --hosts-file: exit %d\n%s", code, stderr)
	}
}
