package session

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/testbed"
)

// The native runtime end to end, and a live change of services: new listeners without an
// Envoy restart, and an open connection to a service that stays is not disturbed.
func TestNativeRuntimeAndLiveServiceChange(t *testing.T) {
	checkLeaks(t)
	envoyPath, err := testbed.EnvoyBinary()
	if err != nil {
		t.Fatal(err)
	}
	cfg := benchConfig(t, "ratings.bookinfo")
	cfg.Runtime, cfg.EnvoyPath = "native", envoyPath
	s, err := Join(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Leave(context.Background())
	pid := s.State().EnvoyPID
	if pid == 0 {
		t.Fatal("native runtime recorded no Envoy pid")
	}

	// A keep-alive connection to ratings, opened before the change.
	conn, err := net.Dial("tcp", addrOf(s, "ratings.bookinfo")+":9080")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	request := func() error {
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: ratings\r\n\r\n")
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s", resp.Status)
		}
		return nil
	}
	if err := request(); err != nil {
		t.Fatal(err)
	}

	if err := s.SetServices(context.Background(), []string{"ratings.bookinfo", "db.payments"}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(http.DefaultClient, "http://"+addrOf(s, "ratings.bookinfo")+":9080/"); err != nil {
		t.Fatal(err)
	}
	if err := request(); err != nil {
		t.Fatalf("the open connection to ratings broke on the change: %v", err)
	}
	hosts, _ := os.ReadFile(cfg.HostsFile)
	if !strings.Contains(string(hosts), "db.payments.svc.cluster.local") {
		t.Fatalf("hosts block not updated:\n%s", hosts)
	}
	if got := s.State().EnvoyPID; got != pid {
		t.Fatalf("Envoy restarted: pid %d → %d", pid, got)
	}

	// Removing it frees its address and its names.
	dbAddr := addrOf(s, "db.payments")
	if err := s.SetServices(context.Background(), []string{"ratings.bookinfo"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", dbAddr+":3306", time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("removed service still listening")
		}
		time.Sleep(50 * time.Millisecond)
	}
	hosts, _ = os.ReadFile(cfg.HostsFile)
	if strings.Contains(string(hosts), "db.payments") {
		t.Fatalf("removed service still in the hosts file:\n%s", hosts)
	}
	if err := s.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(cfg.HostsFile); string(b) != "127.0.0.1 localhost\n" {
		t.Fatalf("hosts file after leave: %q", b)
	}
	if _, err := os.Stat(nativeAdminSocket(cfg.StateDir)); !os.IsNotExist(err) {
		t.Errorf("native Envoy's admin socket left in the state directory: %v", err)
	}
	if _, err := os.FindProcess(pid); err == nil && processAlive(pid) {
		t.Fatalf("native Envoy pid %d still running", pid)
	}
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	// A zombie (state Z) has exited; PID 1 here does not reap.
	return err == nil && !strings.Contains(string(b), ") Z ")
}

func TestServiceStatusSaysWhy(t *testing.T) {
	js := JoinedService{Key: "x.ns", Identities: []string{"spiffe://td/ns/ns/sa/x"}, Ports: []Port{{Number: 80, Protocol: "http", Cluster: "x.ns:80"}}}
	ss := serviceStatus(js, map[string]uint64{"cluster.x.ns_80.ssl.fail_verify_san": 2, "cluster.x.ns_80.upstream_rq_total": 5})
	if ss.Requests != 5 || ss.IdentityErrors != 2 || !strings.Contains(ss.Problem, "spiffe://td/ns/ns/sa/x") {
		t.Fatalf("%+v", ss)
	}
	if ss := serviceStatus(js, nil); ss.Problem != "" {
		t.Fatalf("no stats, problem %q", ss.Problem)
	}
	// A websocket goes through the port's upgrade cluster, and counts as the port's.
	ss = serviceStatus(js, map[string]uint64{"cluster.x.ns_80.upstream_rq_total": 5, "cluster.x.ns_80.upgrade.upstream_rq_total": 2, "cluster.x.ns_80.upgrade.upstream_cx_active": 1})
	if ss.Requests != 7 || ss.ActiveConns != 1 {
		t.Fatalf("with a websocket: %+v", ss)
	}
}

// joinPublished joins services in published mode, with Docker Desktop's forwarding emulated.
func joinPublished(t *testing.T, services ...string) *Session {
	t.Helper()
	cfg := benchConfig(t, services...)
	testbed.Shared(t).EmulateDockerDesktop(t)
	cfg.EnvoyNetwork = "published"
	s, err := Join(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Published mode (Docker Desktop's, emulated): Docker publishes one port for Envoy's listener,
// on 127.0.0.1, and meshjoin's forwarder listens on the services' addresses. Adding a service
// keeps the container, and a connection open to another service goes on; removing one closes
// its address; a taken address fails the change, which is undone; Leave leaves nothing.
func TestPublishedNetworkServiceChange(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	s := joinPublished(t, "ratings.bookinfo")
	defer s.Leave(ctx)
	container := s.State().ContainerID
	assertLoopbackPublishing(t, container)
	ratings := addrOf(s, "ratings.bookinfo") + ":9080"
	if _, err := get(http.DefaultClient, "http://"+ratings+"/"); err != nil {
		t.Fatal(err)
	}
	// One keep-alive connection to ratings, used before and after the change.
	kept := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer kept.CloseIdleConnections()
	var conns int
	trace := func(url string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			if !i.Reused {
				conns++
			}
		}}))
		resp, err := kept.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", url, resp.Status)
		}
	}
	trace("http://" + ratings + "/")

	if err := s.SetServices(ctx, []string{"ratings.bookinfo", "reviews.bookinfo"}); err != nil {
		t.Fatal(err)
	}
	if got := s.State().ContainerID; got != container {
		t.Fatalf("adding a service replaced the container (%.12s, was %.12s)", got, container)
	}
	reviews := addrOf(s, "reviews.bookinfo") + ":9080"
	if _, err := get(http.DefaultClient, "http://"+reviews+"/"); err != nil {
		t.Fatalf("the added service: %v", err)
	}
	trace("http://" + ratings + "/")
	if conns != 1 {
		t.Errorf("ratings took %d connections across the change, want its one kept", conns)
	}

	// productpage's address, as planFor will allocate it, taken by someone else.
	taken := map[netip.Addr]bool{}
	for _, js := range s.Services() {
		taken[netip.MustParseAddr(js.Addr)] = true
	}
	pp, err := hosts.Allocator{Prefix: s.cfg.AddressRange}.AddressFor("productpage.bookinfo", taken)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", netip.AddrPortFrom(pp, 9080).String())
	if err != nil {
		t.Fatal(err)
	}
	err = s.SetServices(ctx, []string{"ratings.bookinfo", "reviews.bookinfo", "productpage.bookinfo"})
	l.Close()
	if !errors.Is(err, envoy.ErrAddressInUse) || !strings.Contains(err.Error(), "productpage.bookinfo:9080") {
		t.Fatalf("SetServices with productpage's address taken: %v, want address in use", err)
	}
	if got := len(s.Services()); got != 2 {
		t.Fatalf("%d services after the failed change, want the previous 2", got)
	}
	for _, addr := range []string{ratings, reviews} {
		if _, err := get(http.DefaultClient, "http://"+addr+"/"); err != nil {
			t.Fatalf("%s after the failed change: %v", addr, err)
		}
	}
	hostsBytes, _ := os.ReadFile(s.cfg.HostsFile)
	if strings.Contains(string(hostsBytes), "productpage") {
		t.Fatalf("hosts file names productpage after the failed change:\n%s", hostsBytes)
	}

	// Removing a service closes its address; the container stays.
	if err := s.SetServices(ctx, []string{"ratings.bookinfo"}); err != nil {
		t.Fatal(err)
	}
	assertNotListening(t, reviews)
	if got := s.State().ContainerID; got != container {
		t.Fatalf("removing a service replaced the container")
	}
	trace("http://" + ratings + "/")
	select {
	case <-s.ProxyDone():
		t.Fatal("ProxyDone closed by a change of services")
	default:
	}

	network := "meshjoin-" + s.State().ID
	if err := s.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	kept.CloseIdleConnections()
	assertNotListening(t, ratings)
	for _, args := range [][]string{{"container", "inspect", container}, {"network", "inspect", network}} {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err == nil {
			t.Errorf("docker %s: still there after Leave:\n%.200s", strings.Join(args, " "), out)
		}
	}
}

// assertLoopbackPublishing checks that the container publishes two ports (its listener and the
// admin interface), both on 127.0.0.1.
func assertLoopbackPublishing(t *testing.T, container string) {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", "{{json .HostConfig.PortBindings}}", container).Output()
	if err != nil {
		t.Fatal(err)
	}
	var bindings map[string][]struct{ HostIP, HostPort string }
	if err := json.Unmarshal(out, &bindings); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	n := 0
	for port, bs := range bindings {
		for _, b := range bs {
			n++
			if b.HostIP != "127.0.0.1" {
				t.Errorf("container port %s published on %q, want 127.0.0.1", port, b.HostIP)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d published ports, want Envoy's listener and admin interface: %s", n, out)
	}
}

// assertNotListening fails when something accepts connections on addr.
func assertNotListening(t *testing.T, addr string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections", addr)
	}
}
