package doctor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/mesh"
)

// Without a cluster, the cluster checks are skipped naming what they need; the local ones run.
func TestRunSkipsWhatNeedsAFailedCheck(t *testing.T) {
	hostsFile := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hostsFile, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := Run(context.Background(), Env{
		ConnectErr: errors.New("no kubeconfig"), Runtime: "native", EnvoyPath: filepath.Join(t.TempDir(), "envoy"),
		HostsFile: hostsFile, Sudo: "never", AddressRange: netip.MustParsePrefix("127.81.0.0/16"),
	})
	want := map[string]Verdict{
		"kube credentials": Fail, "clock": Skip, "mesh settings": Skip, "identity": Skip, "services": Skip,
		"gateway": Skip, "gateway TLS": Skip, "mesh CA": Skip, "envoy runtime": Fail, "hosts file": Pass, "helper": Pass, "addresses": Pass,
	}
	if rep.OK {
		t.Error("OK with failures")
	}
	for _, r := range rep.Checks {
		if r.Verdict != want[r.Name] {
			t.Errorf("%s: %+v, want %s", r.Name, r, want[r.Name])
		}
		if r.Verdict == Fail && r.Fix == "" {
			t.Errorf("%s fails without a fix", r.Name)
		}
		if r.Verdict == Skip && !strings.HasPrefix(r.Detail, "needs ") {
			t.Errorf("%s skipped without saying why: %q", r.Name, r.Detail)
		}
	}
	if len(rep.Checks) != len(want) {
		t.Errorf("%d checks, want %d", len(rep.Checks), len(want))
	}
}

func TestCheckClockAgainstTheDateHeader(t *testing.T) {
	serve := func(date bool) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !date {
				w.Header()["Date"] = nil // net/http then sends none
			}
			w.Write([]byte(`{}`))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	withDate, withoutDate := serve(true), serve(false)
	cases := []struct {
		skew    time.Duration
		noDate  bool
		verdict Verdict
		words   string
	}{
		{0, false, Pass, "within 1m0s"},
		{20 * time.Second, false, Pass, "within 1m0s"},
		{5 * time.Minute, false, Fail, "ahead of the API server's"},
		{-2 * time.Hour, false, Fail, "behind the API server's"},
		{0, true, Warn, "no usable Date header"},
	}
	for _, c := range cases {
		host := withDate.URL
		if c.noDate {
			host = withoutDate.URL
		}
		s := &state{env: Env{RESTConfig: &rest.Config{Host: host}, Now: func() time.Time { return time.Now().Add(c.skew) }}}
		r := checkClock(context.Background(), s)
		if r.Verdict != c.verdict || !strings.Contains(r.Detail, c.words) {
			t.Errorf("skew %s: %+v, want %s with %q", c.skew, r, c.verdict, c.words)
		}
	}
}

func TestCheckHostsFile(t *testing.T) {
	dir := t.TempDir()
	writable := filepath.Join(dir, "hosts")
	if err := os.WriteFile(writable, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	immutable := filepath.Join(dir, "immutable")
	if err := os.WriteFile(immutable, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chattr", "+i", immutable).CombinedOutput(); err != nil {
		t.Fatalf("chattr +i: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", immutable).Run() })
	cases := []struct {
		path    string
		verdict Verdict
		words   string
	}{
		{writable, Pass, "is writable by you"},
		{filepath.Join(dir, "missing"), Fail, "no such file"},
		{dir, Fail, "not a regular file"},
		{immutable, Fail, "is not writable by you"},
	}
	for _, c := range cases {
		r := checkHostsFile(context.Background(), &state{env: Env{HostsFile: c.path, Sudo: "never"}})
		if r.Verdict != c.verdict || !strings.Contains(r.Detail, c.words) {
			t.Errorf("%s: %+v, want %s with %q", c.path, r, c.verdict, c.words)
		}
	}
}

func TestCheckAddresses(t *testing.T) {
	prefix := netip.MustParsePrefix("127.82.0.0/16")
	svcs := []mesh.Service{
		{Name: "ratings", Namespace: "bookinfo", Ports: []mesh.Port{{Number: 9080}}},
		{Name: "db", Namespace: "payments", Ports: []mesh.Port{{Number: 3306}, {Number: 3307}}},
	}
	planned := plannedAddresses(prefix, svcs)
	if len(planned) != 3 {
		t.Fatalf("planned %v", planned)
	}
	// The session allocates in key order: db.payments first.
	first, _ := hosts.Allocator{Prefix: prefix}.AddressFor("db.payments", nil)
	if planned[0] != netip.AddrPortFrom(first, 3306) {
		t.Errorf("planned %v, want db.payments at %s first", planned, first)
	}
	s := &state{env: Env{AddressRange: prefix}, planned: planned}
	if r := checkAddresses(context.Background(), s); r.Verdict != Pass {
		t.Fatalf("free addresses: %+v", r)
	}
	l, err := net.Listen("tcp", planned[2].String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if r := checkAddresses(context.Background(), s); r.Verdict != Fail || r.Kind != KindConflict || !strings.Contains(r.Detail, planned[2].String()) {
		t.Errorf("an address in use: %+v", r)
	}
	s.env.Ours = map[netip.AddrPort]bool{planned[2]: true}
	if r := checkAddresses(context.Background(), s); r.Verdict != Pass || !strings.Contains(r.Detail, "your running session") {
		t.Errorf("an address held by our session: %+v", r)
	}
	s.env.AddressRange = netip.MustParsePrefix("10.0.0.0/8")
	if r := checkAddresses(context.Background(), s); r.Verdict != Fail || r.Kind != KindUsage {
		t.Errorf("a range outside loopback: %+v", r)
	}
}

// Proxy mode: no hosts file to check, and the proxy's port instead of the services' addresses.
func TestProxyModeChecks(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()
	var hostsCheck, addrCheck check
	for _, c := range checks() {
		switch c.name {
		case "hosts file":
			hostsCheck = c
		case "addresses":
			addrCheck = c
		}
	}
	// A hosts file nobody may write passes: proxy mode never writes it.
	s := &state{env: Env{HostsFile: "/nonexistent/hosts", Sudo: "never", ProxyPort: freePort}}
	if r := hostsCheck.run(context.Background(), s); r.Verdict != Pass || !strings.Contains(r.Detail, "proxy mode") {
		t.Errorf("hosts file in proxy mode: %+v", r)
	}
	if r := addrCheck.run(context.Background(), s); r.Verdict != Pass || !strings.Contains(r.Detail, "is free") {
		t.Errorf("a free proxy port: %+v", r)
	}
	s.env.ProxyPort = taken
	if r := addrCheck.run(context.Background(), s); r.Verdict != Fail || r.Kind != KindConflict || !strings.Contains(r.Fix, "--proxy-port") {
		t.Errorf("a proxy port in use: %+v", r)
	}
	s.env.Ours = map[netip.AddrPort]bool{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(taken)): true}
	if r := addrCheck.run(context.Background(), s); r.Verdict != Pass || !strings.Contains(r.Detail, "your running session") {
		t.Errorf("a proxy port held by our session: %+v", r)
	}
}
