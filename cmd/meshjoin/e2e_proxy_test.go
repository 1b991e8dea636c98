//go:build !windows

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/session"
	"github.com/meshjoin/meshjoin/testbed"
)

// Proxy mode (#14): no hosts file, no addresses, no root. Clients reach the joined services
// through one HTTP proxy on 127.0.0.1: curl -x (absolute-form HTTP), curl -p and gRPC's
// HTTPS_PROXY (CONNECT tunnels), every name of a service; the echo services report the
// developer's identity; anything else is refused with a 403 naming it.

// grpcClientTarget makes this test binary, run as a child, a gRPC client of the testbed's echo
// at the address it names, with grpc-go's own proxy support (HTTPS_PROXY): it prints the echo's
// reply as JSON and exits. Only a fresh process reads the proxy variables (Go caches them).
const grpcClientTarget = "MESHJOIN_E2E_GRPC_CLIENT"

func init() {
	target := os.Getenv(grpcClientTarget)
	if target == "" {
		return
	}
	got, err := callGRPC(target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gRPC client:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(got)
	os.Exit(0)
}

func TestProxyModeHostNetwork(t *testing.T) { testProxyMode(t, "host") }

// Docker Desktop's way on this Linux engine: the proxy's port is published on 127.0.0.1 only.
func TestProxyModePublished(t *testing.T) { testProxyMode(t, "published") }

func testProxyMode(t *testing.T, network string) {
	e := newEnv(t)
	if network == "published" {
		e.tb.EmulateDockerDesktop(t)
	}
	etcHosts := readFile(t, "/etc/hosts")
	port := freeLocalPort(t)
	proxy := "http://127.0.0.1:" + port
	r := e.startJoin(append(e.joinArgs(allProtocols...), "--mode", "proxy", "--proxy-port", port, "--envoy-network", network)...)
	st := e.state()
	if st.Mode != session.ModeProxy || st.ProxyAddr != "127.0.0.1:"+port || st.HostsWritten || st.Network != network {
		t.Errorf("state: mode %q, proxy %q, hosts written %v, network %q", st.Mode, st.ProxyAddr, st.HostsWritten, st.Network)
	}
	for _, js := range st.Services {
		if js.Addr != "" || js.Proxy != proxy {
			t.Errorf("%s: address %q, proxy %q: proxy mode allocates no address", js.Key, js.Addr, js.Proxy)
		}
	}
	if network == "published" {
		bindings := inspectContainer(t, st.ContainerID).HostConfig.PortBindings
		found := false
		for p, binds := range bindings {
			for _, b := range binds {
				found = found || b.HostPort == port
				if b.HostIP != "127.0.0.1" {
					t.Errorf("container port %s published on %q, want 127.0.0.1 only", p, b.HostIP)
				}
			}
		}
		if !found {
			t.Errorf("the proxy's port %s is not published: %v", port, bindings)
		}
	}
	if !strings.Contains(r.stdout.String(), "curl -x "+proxy+" http://ratings.bookinfo:9080/") {
		t.Errorf("join's table does not say how to call through the proxy:\n%s", r.stdout)
	}
	me := "spiffe://" + e.tb.TrustDomain + "/ns/dev/sa/alice"

	// Plain HTTP through the forward proxy (curl -x), by every name, and port 80 without a port.
	for url, service := range map[string]string{
		"http://ratings.bookinfo:9080/ratings/0":                   "ratings.bookinfo",
		"http://ratings.bookinfo.svc:9080/ratings/0":               "ratings.bookinfo",
		"http://ratings.bookinfo.svc.cluster.local:9080/ratings/0": "ratings.bookinfo",
		"http://web.bookinfo/":                                     "web.bookinfo",
		"http://web.bookinfo.svc.cluster.local:80/":                "web.bookinfo",
		"http://inventory.mesh.internal:8000/items":                "inventory.payments",
	} {
		got, err := curlEcho(t, "-x", proxy, url)
		if err != nil || got.Caller != me || got.Service != service {
			t.Errorf("curl -x %s: %+v, %v", url, got, err)
		}
		// curl -p: the same through a CONNECT tunnel.
		got, err = curlEcho(t, "-p", "-x", proxy, url)
		if err != nil || got.Caller != me || got.Service != service {
			t.Errorf("curl -p -x %s: %+v, %v", url, got, err)
		}
	}
	// TCP through CONNECT, by its short and its full name.
	for _, target := range []string{"db.payments:3306", "db.payments.svc.cluster.local:3306"} {
		if got, err := tcpThroughProxy("127.0.0.1:"+port, target, "hello"); err != nil || got.Caller != me || got.Echo != "hello" {
			t.Errorf("TCP through CONNECT %s: %+v, %v", target, got, err)
		}
	}
	// gRPC with HTTPS_PROXY, as any grpc-go client does it.
	if got, err := grpcWithProxy(t, proxy, "ledger.payments:7070"); err != nil || got.Caller != me || got.Protocol != "grpc" {
		t.Errorf("gRPC with HTTPS_PROXY: %+v, %v", got, err)
	}

	// Not joined: refused, naming what was asked for; CONNECT too (no open relay).
	out, err := exec.Command("curl", "-sS", "-x", proxy, "-w", "\n%{http_code}", "http://reviews.bookinfo:9080/").CombinedOutput()
	if err != nil || !strings.HasSuffix(string(out), "\n403") || !strings.Contains(string(out), "reviews.bookinfo:9080 is not a service joined") {
		t.Errorf("not joined, curl -x: %v\n%s", err, out)
	}
	for _, target := range []string{"reviews.bookinfo:9080", "ratings.bookinfo:9081", "example.com:443", "127.0.0.1:" + port} {
		if _, err := tcpThroughProxy("127.0.0.1:"+port, target, "x"); err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), target+" is not a service joined") {
			t.Errorf("CONNECT %s: %v, want a 403 naming it", target, err)
		}
	}

	code, status, _ := e.run(e.args("status")...)
	shows := false
	for _, line := range strings.Split(status, "\n") {
		f := strings.Fields(line)
		shows = shows || len(f) > 1 && f[0] == "ratings.bookinfo" && f[1] == "127.0.0.1:"+port
	}
	if code != 0 || !strings.Contains(status, "Proxy mode: HTTP forward proxy at "+proxy) || !shows {
		t.Errorf("status (exit %d) does not show the proxy:\n%s", code, status)
	}
	r.interrupt(t)
	if !bytes.Equal(readFile(t, "/etc/hosts"), etcHosts) {
		t.Error("/etc/hosts changed")
	}
	assertNoListener(t, "127.0.0.1:"+port)
	// e's clean-up checks the --hosts-file is byte-identical and nothing is left behind.
}

// A port in use is a conflict (exit 5) that names the address and the flag to change it.
func TestProxyModePortInUse(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	code, _, errOut := e.run(append(e.joinArgs("ratings.bookinfo"), "--mode", "proxy", "--proxy-port", port)...)
	if code != exitConflict || !strings.Contains(errOut, "127.0.0.1:"+port+" already in use") || !strings.Contains(errOut, "Next:") || !strings.Contains(errOut, "--proxy-port") {
		t.Fatalf("proxy port in use: exit %d\n%s", code, errOut)
	}
}

// The whole way as a user with no root, no sudo on PATH and no helper (only Docker, through
// the docker group): up in proxy mode, env exports the proxy, run gives curl and a gRPC
// client the proxy, down; /etc/hosts, which this user could not write anyway, is unchanged.
func TestProxyModeUnprivilegedUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("creating a user for the test needs root; CI runs as root")
	}
	e := newEnv(t)
	u := newTestUser(t)
	etcHosts := readFile(t, "/etc/hosts")
	// Everything the user runs and reads lives in a directory of its own.
	dir := u.dir
	bin := filepath.Join(dir, "bin")
	check(t, os.MkdirAll(bin, 0o755))
	copyExecutable(t, binary(t), filepath.Join(bin, "meshjoin"))
	testBinary := filepath.Join(dir, "e2e.test")
	copyExecutable(t, os.Args[0], testBinary)
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal(err)
	}
	check(t, os.Symlink(curl, filepath.Join(bin, "curl")))
	kubeconfig := filepath.Join(dir, "kubeconfig")
	check(t, os.WriteFile(kubeconfig, readFile(t, e.tb.DeveloperKubeconfig), 0o600))
	e.stateDir = filepath.Join(dir, "state") // e's clean-up checks no state is left there
	u.chownAll(t)

	port := freeLocalPort(t)
	proxy := "http://127.0.0.1:" + port
	base := []string{"--kubeconfig", kubeconfig, "--state-dir", e.stateDir}
	sessionArgs := argList(base, "--identity", "dev/alice", "--envoy-image", testbed.EnvoyImage, "--mode", "proxy", "--proxy-port", port)
	// doctor agrees: no hosts file or sudo needed, the port is free.
	if code, out, errOut := u.run(t, nil, argList(sessionArgs, "doctor", "ratings.bookinfo")...); code != 0 || !strings.Contains(out, "proxy mode: not used") || !strings.Contains(out, "127.0.0.1:"+port+" is free") {
		t.Errorf("doctor as %s in proxy mode: exit %d\n%s%s", u.name, code, out, errOut)
	}
	t.Cleanup(func() { u.run(t, nil, argList(base, "down")...) })
	if code, out, errOut := u.run(t, nil, append(argList(sessionArgs, "up", "--wait", "90s"), "ratings.bookinfo", "ledger.payments", "db.payments")...); code != 0 {
		t.Fatalf("up as %s: exit %d\n%s%s", u.name, code, out, errOut)
	}

	code, out, errOut := u.run(t, nil, argList(base, "env", "--format", "sh")...)
	if code != 0 {
		t.Fatalf("env: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"export HTTP_PROXY='" + proxy + "'", "export https_proxy='" + proxy + "'", "export RATINGS_SERVICE_HOST='ratings.bookinfo.svc.cluster.local'"} {
		if !strings.Contains(out, want) {
			t.Errorf("env lacks %s:\n%s", want, out)
		}
	}
	noProxy := envValue(out, "NO_PROXY")
	for _, want := range []string{"localhost", "127.0.0.1", "0.0.0.0/1", "128.0.0.0/1", ".com", ".de"} {
		if !containsEntry(noProxy, want) {
			t.Errorf("NO_PROXY lacks %s: %s", want, noProxy)
		}
	}
	for _, mesh := range []string{".local", ".svc", ".bookinfo", ".payments"} {
		if containsEntry(noProxy, mesh) {
			t.Errorf("NO_PROXY has %s, which would send joined names around the proxy: %s", mesh, noProxy)
		}
	}

	me := "spiffe://" + e.tb.TrustDomain + "/ns/dev/sa/alice"
	// run: curl with no proxy flag of its own reads http_proxy.
	code, out, errOut = u.run(t, nil, append(argList(sessionArgs, "run"), "--", "curl", "-sS", "-f", "http://ratings.bookinfo:9080/ratings/0")...)
	var got echo
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.Caller != me {
		t.Errorf("run -- curl: exit %d, %+v\n%s%s", code, got, out, errOut)
	}
	// run: a grpc-go client reads HTTPS_PROXY.
	code, out, errOut = u.run(t, []string{grpcClientTarget + "=ledger.payments:7070"}, append(argList(sessionArgs, "run"), "--", testBinary)...)
	got = echo{}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.Caller != me || got.Protocol != "grpc" {
		t.Errorf("run -- gRPC client: exit %d, %+v\n%s%s", code, got, out, errOut)
	}
	// run: TCP through CONNECT, by a client that reads the variable (here: this test).
	if got, err := tcpThroughProxy("127.0.0.1:"+port, "db.payments:3306", "hi"); err != nil || got.Caller != me {
		t.Errorf("TCP: %+v, %v", got, err)
	}

	if code, _, errOut := u.run(t, nil, argList(base, "down")...); code != 0 {
		t.Fatalf("down: exit %d\n%s", code, errOut)
	}
	if !bytes.Equal(readFile(t, "/etc/hosts"), etcHosts) {
		t.Error("/etc/hosts changed")
	}
	assertNoListener(t, "127.0.0.1:"+port)
}

// testUser is a user created for one test (useradd), in the docker group, removed afterwards.
type testUser struct {
	name     string
	uid, gid uint32
	docker   uint32
	dir      string // the user's own directory (its HOME)
}

func newTestUser(t *testing.T) *testUser {
	t.Helper()
	name := fmt.Sprintf("mjproxy%d", os.Getpid()%100000)
	dir, err := os.MkdirTemp("", "meshjoin-user-")
	if err != nil {
		t.Fatal(err)
	}
	check(t, os.Chmod(dir, 0o755))
	if out, err := exec.Command("useradd", "--no-create-home", "--home-dir", dir, "--shell", "/bin/sh", name).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
		os.RemoveAll(dir)
	})
	pw, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	grp, err := user.LookupGroup("docker")
	if err != nil {
		t.Fatalf("the docker group: %v", err)
	}
	atoi := func(s string) uint32 { n, _ := strconv.Atoi(s); return uint32(n) }
	return &testUser{name: name, uid: atoi(pw.Uid), gid: atoi(pw.Gid), docker: atoi(grp.Gid), dir: dir}
}

func (u *testUser) chownAll(t *testing.T) {
	t.Helper()
	err := filepath.Walk(u.dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(u.uid), int(u.gid))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// run runs the user's meshjoin with a PATH of its bin directory alone (no sudo there, and no
// helper installed), HOME its directory, and extra variables.
func (u *testUser) run(t *testing.T, extra []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(u.dir, "bin", "meshjoin"), args...)
	cmd.Dir = u.dir
	cmd.Env = append([]string{"PATH=" + filepath.Join(u.dir, "bin"), "HOME=" + u.dir, "USER=" + u.name}, extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{u.docker}}}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Errorf("meshjoin %v as %s did not finish in 3 minutes", args, u.name)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// curlEcho runs the real curl with args and decodes the echo's reply.
func curlEcho(t *testing.T, args ...string) (echo, error) {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-sS", "-f", "--max-time", "10"}, args...)...).CombinedOutput()
	if err != nil {
		return echo{}, fmt.Errorf("curl %v: %v: %s", args, err, out)
	}
	var r echo
	if err := json.Unmarshal(out, &r); err != nil {
		return echo{}, fmt.Errorf("curl %v: %v: %s", args, err, out)
	}
	return r, nil
}

// tcpThroughProxy opens a CONNECT tunnel to target through the proxy at addr and does one
// exchange with the testbed's TCP echo.
func tcpThroughProxy(addr, target, line string) (echo, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return echo{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return echo{}, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return echo{}, fmt.Errorf("CONNECT %s: %s: %s", target, resp.Status, body)
	}
	if _, err := fmt.Fprintln(conn, line); err != nil {
		return echo{}, err
	}
	b, err := br.ReadBytes('\n')
	if err != nil {
		return echo{}, err
	}
	var r echo
	return r, json.Unmarshal(b, &r)
}

// grpcWithProxy runs this test binary as a gRPC client of target with HTTPS_PROXY set.
func grpcWithProxy(t *testing.T, proxy, target string) (echo, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), grpcClientTarget+"="+target, "HTTPS_PROXY="+proxy, "NO_PROXY=", "no_proxy=")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		return echo{}, fmt.Errorf("%v: %s", err, errOut.String())
	}
	var r echo
	return r, json.Unmarshal(out, &r)
}

func freeLocalPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	check(t, os.WriteFile(to, readFile(t, from), 0o755))
}

// argList is a fresh copy of base with more appended (so that argument lists never share).
func argList(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

// envValue is NAME's value in `meshjoin env --format sh` output.
func envValue(sh, name string) string {
	for _, line := range strings.Split(sh, "\n") {
		if v, ok := strings.CutPrefix(line, "export "+name+"="); ok {
			return strings.Trim(v, "'")
		}
	}
	return ""
}

func containsEntry(list, entry string) bool {
	for _, e := range strings.Split(list, ",") {
		if e == entry {
			return true
		}
	}
	return false
}
