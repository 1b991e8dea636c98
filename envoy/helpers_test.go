package envoy

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
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
