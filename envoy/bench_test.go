package envoy

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/testbed"
)

// Start-to-ready time of the local Envoy (Runtime.Start through WaitReady, with two listeners
// served over ADS), per runtime:
//
//	go test ./envoy -run '^$' -bench StartToReady -benchtime 5x
func BenchmarkStartToReadyNative(b *testing.B) {
	benchmarkStartToReady(b, NewNativeRuntime(envoyBinary(b)), "")
}

func BenchmarkStartToReadyDocker(b *testing.B) {
	d, err := NewDockerRuntime(context.Background(), DockerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	benchmarkStartToReady(b, d, testbed.EnvoyImage)
}

func benchmarkStartToReady(b *testing.B, rt Runtime, image string) {
	ca := newTestCA(b, "mesh")
	http := svc("ratings.bookinfo", HTTP, 9080, "spiffe://cluster.local/ns/bookinfo/sa/ratings")
	http.ListenIP = nextLoopback(b)
	tcp := svc("db.bookinfo", TCP, 3306)
	tcp.ListenIP = http.ListenIP
	cert := ca.issue(b, "spiffe://cluster.local/ns/bookinfo/sa/ratings").tls
	env := newMeshEnv(b, ca, nil, gwService{http, cert}, gwService{tcp, cert})
	var total time.Duration
	for b.Loop() {
		admin := freePort(b, netip.MustParseAddr("127.0.0.1"))
		opts := withAdmin(b, BootstrapOptions{NodeID: "meshjoin-test-" + b.Name(), XDSAddr: env.srv.Addr(), Secret: env.srv.Secret(), AdminPort: admin}, rt)
		boot, err := Bootstrap(opts)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		start := time.Now()
		p, err := rt.Start(ctx, ProxySpec{SessionID: sessionID(b), Bootstrap: boot, AdminPort: admin, AdminToken: opts.AdminToken, Image: image})
		if err != nil {
			b.Fatal(err)
		}
		if err := WaitReady(ctx, p.Admin(), ListenerNames(env.plan)); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		if err := p.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-ready/op")
}
