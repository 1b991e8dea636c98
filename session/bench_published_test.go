//go:build !windows

package session

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/meshjoin/meshjoin/testbed"
)

// BenchmarkPublishedHop reports what meshjoin's forwarder adds to a request in published-ports
// mode: requests to the service's loopback address (through the forwarder) against the same
// requests sent straight to the port Docker publishes for Envoy, with the PROXY header the
// forwarder would write. p50 and p99 with one and with 8 keep-alive connections, and this
// process's CPU time per request (the client's, plus the forwarder's on the forwarder path).
func BenchmarkPublishedHop(b *testing.B) {
	testbed.Shared(b).EmulateDockerDesktop(b)
	cfg := benchConfig(b, "ratings.bookinfo")
	cfg.EnvoyNetwork = "published"
	s, err := Join(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Leave(context.Background())
	service := netip.MustParseAddrPort(addrOf(s, "ratings.bookinfo") + ":9080")
	entry := s.publishedPorts[0]
	entryAddr := netip.AddrPortFrom(entry.HostIP, uint16(entry.HostPort)).String()
	direct := &http.Transport{MaxIdleConnsPerHost: 8, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", entryAddr)
		if err != nil {
			return nil, err
		}
		h := proxyproto.HeaderProxyFromAddrs(2, c.LocalAddr(), net.TCPAddrFromAddrPort(service))
		if _, err := h.WriteTo(c); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}}
	for _, path := range []struct {
		name      string
		transport *http.Transport
	}{
		{"forwarder", &http.Transport{MaxIdleConnsPerHost: 8}},
		{"entry-direct", direct},
	} {
		for _, workers := range []int{1, 8} {
			b.Run(path.name+"/"+map[int]string{1: "1conn", 8: "8conns"}[workers], func(b *testing.B) {
				client := &http.Client{Transport: path.transport}
				defer path.transport.CloseIdleConnections()
				for b.Loop() {
					hopLatency(b, client, "http://"+service.String()+"/", workers, 1000)
				}
			})
		}
	}
}

// hopLatency sends requests from workers goroutines and reports p50, p99 and CPU per request.
func hopLatency(b *testing.B, client *http.Client, url string, workers, requests int) {
	if _, err := get(client, url); err != nil { // connections up before the clock
		b.Fatal(err)
	}
	cpu0 := processCPU()
	lat := make([]time.Duration, 0, requests)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range requests / workers {
				t0 := time.Now()
				if _, err := get(client, url); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	cpu := processCPU() - cpu0
	if len(lat) < requests/workers*workers {
		b.Fatalf("%d of %d requests succeeded", len(lat), requests)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-µs/req")
}

// processCPU is this process's user plus system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
