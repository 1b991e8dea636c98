package session

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/testbed"
)

// The native runtime end to end, and a live change of services: new listeners without an
// Envoy restart, and an open connection to a service that stays is not disturbed.
func TestNativeRuntimeAndLiveServiceChange(t *testing.T) {
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
	if _, err := os.FindProcess(pid); err == nil && processAlive(pid) {
		t.Fatalf("native Envoy pid %d still running", pid)
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	// A zombie (state Z) has exited; PID 1 here does not reap.
	return err == nil && !strings.Contains(string(b), ") Z ")
}

func TestNamesFor(t *testing.T) {
	svc := mesh.Service{Name: "ratings", Namespace: "bookinfo", Kind: mesh.KindService, Hosts: []string{"ratings.bookinfo.svc.cluster.local"}}
	got := strings.Join(namesFor(svc, false), " ")
	if got != "ratings.bookinfo.svc.cluster.local ratings.bookinfo.svc ratings.bookinfo" {
		t.Fatalf("names = %s", got)
	}
	if got := namesFor(svc, true); got[len(got)-1] != "ratings" {
		t.Fatalf("bare name missing: %v", got)
	}
	se := mesh.Service{Name: "inv", Namespace: "payments", Kind: mesh.KindServiceEntry, Hosts: []string{"a.internal", "b.internal"}}
	if got := namesFor(se, true); len(got) != 2 || got[0] != "a.internal" {
		t.Fatalf("ServiceEntry names = %v", got)
	}
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
}

func TestBareNamesOnlyWhenUnambiguous(t *testing.T) {
	s := &Session{log: slogDiscard()}
	joined := []JoinedService{
		{Key: "ratings.bookinfo", Names: []string{"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc", "ratings.bookinfo"}},
		{Key: "ratings.dev", Names: []string{"ratings.dev.svc.cluster.local", "ratings.dev.svc", "ratings.dev"}},
		{Key: "web.bookinfo", Names: []string{"web.bookinfo.svc.cluster.local", "web.bookinfo.svc", "web.bookinfo"}},
		{Key: "inventory.payments", Names: []string{"inventory.mesh.internal"}},
	}
	s.addBareNames(joined)
	for _, js := range joined {
		last := js.Names[len(js.Names)-1]
		switch js.Key {
		case "web.bookinfo":
			if last != "web" {
				t.Errorf("web: names %v, want the bare name", js.Names)
			}
		default:
			if !strings.Contains(last, ".") {
				t.Errorf("%s: names %v, want no bare name", js.Key, js.Names)
			}
		}
	}
}
