package session

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkLatencyProxyMode: 2,000 HTTP/1.1 requests from 8 keep-alive clients through proxy mode's forward proxy
// (absolute-form HTTP/1.1, routed on the authority), beside a hosts-mode session's listener, so
// that the two figures come from one run on the same machine:
//
//	go test ./session -run '^$' -bench LatencyProxyMode -benchtime 2x
func BenchmarkLatencyProxyMode(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	proxyCfg := benchConfig(b, "ratings.bookinfo")
	proxyCfg.Mode, proxyCfg.ProxyPort = ModeProxy, port
	proxied, err := Join(context.Background(), proxyCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer proxied.Leave(context.Background())
	hosts, err := Join(context.Background(), benchConfig(b, "ratings.bookinfo"))
	if err != nil {
		b.Fatal(err)
	}
	defer hosts.Leave(context.Background())
	proxyURL := &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port)}
	for _, c := range []struct {
		name   string
		client *http.Client
		url    string
	}{
		{"proxy", &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, Proxy: http.ProxyURL(proxyURL)}}, "http://ratings.bookinfo:9080/"},
		{"hosts", &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}, "http://" + addrOf(hosts, "ratings.bookinfo") + ":9080/"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				const requests, workers = 2000, 8
				lat := make([]time.Duration, 0, requests)
				var mu sync.Mutex
				var wg sync.WaitGroup
				start := time.Now()
				for range workers {
					wg.Go(func() {
						for range requests / workers {
							t0 := time.Now()
							if _, err := get(c.client, c.url); err != nil {
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
				elapsed := time.Since(start)
				if len(lat) < requests {
					b.Fatalf("%d of %d requests succeeded", len(lat), requests)
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
			}
		})
	}
}
