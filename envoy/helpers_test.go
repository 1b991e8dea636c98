package envoy

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/testbed"
)

// loopback hands out addresses in one random 127.x.y.0/24 per test binary, so concurrent
// runs on one machine do not collide.
var loopback = struct {
	sync.Mutex
	base [3]byte
	next byte
}{base: [3]byte{127, byte(100 + rand.IntN(100)), byte(rand.IntN(256))}, next: 1}

func nextLoopback(t testing.TB) netip.Addr {
	t.Helper()
	loopback.Lock()
	defer loopback.Unlock()
	if loopback.next == 255 {
		t.Fatal("out of test loopback addresses")
	}
	a := netip.AddrFrom4([4]byte{loopback.base[0], loopback.base[1], loopback.base[2], loopback.next})
	loopback.next++
	return a
}

// freePort returns a TCP port free on ip right now.
func freePort(t testing.TB, ip netip.Addr) int {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func envoyBinary(t testing.TB) string {
	t.Helper()
	p, err := testbed.EnvoyBinary()
	if err != nil {
		t.Fatalf("real Envoy needed: %v", err)
	}
	return p
}

// testLogs sends Envoy's output to the test log.
type testLogs struct{ t testing.TB }

func (w testLogs) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// withAdmin completes opts with an admin token and the admin socket: the container's own for
// Docker, a path in a fresh temp directory for the native runtime.
func withAdmin(t testing.TB, opts BootstrapOptions, rt Runtime) BootstrapOptions {
	t.Helper()
	token, err := NewAdminToken()
	if err != nil {
		t.Fatal(err)
	}
	opts.AdminToken = token
	opts.AdminSocket = ContainerAdminSocket
	if _, ok := rt.(*NativeRuntime); ok {
		// Not t.TempDir(): unix socket paths are limited to 107 bytes, test names are long.
		dir, err := os.MkdirTemp("", "meshjoin-admin-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		opts.AdminSocket = filepath.Join(dir, "admin.sock")
	}
	return opts
}

// assertAdminNeedsToken checks that Envoy's admin interface answers only with the token: a
// request without it, or with another, gets 401, and a POST to /quitquitquit (what a web page
// could send to 127.0.0.1) leaves Envoy running.
func assertAdminNeedsToken(t *testing.T, p Proxy) {
	t.Helper()
	admin := p.Admin()
	for _, auth := range []string{"", "Bearer wrong-token", admin.Token, "Bearer " + admin.Token + "x"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			path := map[string]string{http.MethodGet: "/config_dump", http.MethodPost: "/quitquitquit"}[method]
			req, _ := http.NewRequest(method, "http://"+admin.Addr+path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with authorization %q: %s, want 401", method, path, auth, resp.Status)
			}
		}
	}
	select {
	case <-p.Done():
		t.Fatal("Envoy exited after unauthenticated admin requests")
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := admin.Get(context.Background(), http.DefaultClient, "/server_info"); err != nil {
		t.Errorf("with the token: %v", err)
	}
}
