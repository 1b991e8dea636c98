package mesh

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// benchCluster is the TUI's big case: 10,000 services in 100 namespaces, each with two pods
// and one EndpointSlice; every tenth service also has a service-account annotation.
func benchCluster() []runtime.Object {
	const namespaces, perNS = 100, 100
	objs := make([]runtime.Object, 0, namespaces*(1+perNS*4))
	for n := range namespaces {
		ns := fmt.Sprintf("ns-%03d", n)
		objs = append(objs, meshNS(ns))
		for i := range perNS {
			name := fmt.Sprintf("svc-%03d", i)
			labels := map[string]string{"app": name, "version": "v1", "team": fmt.Sprintf("team-%d", i%10)}
			svc := service(ns, name, map[string]string{"app": name, "version": "v1"}, tcpPort("http", 8080), tcpPort("grpc", 9090))
			if i%10 == 0 {
				svc.Annotations = map[string]string{annotationKubeSAs: name + "-extra"}
			}
			p1, p2 := pod(ns, name+"-a", name, labels), pod(ns, name+"-b", name, labels)
			objs = append(objs, svc, p1, p2,
				slice(ns, name, name+"-x", ep{addr: "10.0.0.1", podName: p1.Name}, ep{addr: "10.0.0.2", podName: p2.Name}))
		}
	}
	return objs
}

// BenchmarkCatalogServices measures the catalogue over 10,000 services: a full rebuild (what
// the first Services after Start costs), a call with nothing changed, one service changed,
// one pod event, and lookups (a hit, and a miss that computes suggestions).
func BenchmarkCatalogServices(b *testing.B) {
	objs := benchCluster()
	c := startCatalog(b, &Config{TrustDomain: "cluster.local", Aliases: []string{"old.local"}}, CatalogOptions{}, objs, nil, nil)
	if n := len(c.Services()); n != 10000 {
		b.Fatalf("%d services, want 10000", n)
	}
	markAll := func() {
		c.mu.Lock()
		for k := range c.byKey {
			c.dirty[k] = struct{}{}
		}
		c.mu.Unlock()
	}
	b.Run("rebuild-all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			markAll()
			_ = c.Services()
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = c.Services()
		}
	})
	b.Run("one-service-changed", func(b *testing.B) {
		b.ReportAllocs()
		k := objKey{ns: "ns-050", name: "svc-050", kind: KindService}
		for b.Loop() {
			c.mark(k)
			_ = c.Services()
		}
	})
	b.Run("pod-event", func(b *testing.B) {
		b.ReportAllocs()
		p := pod("ns-050", "svc-050-a", "svc-050", map[string]string{"app": "svc-050", "version": "v1", "team": "team-0"})
		for b.Loop() {
			c.podChanged(p)
			_ = c.Services()
		}
	})
	b.Run("lookup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Lookup("svc-050.ns-050.svc.cluster.local"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lookup-miss-suggest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Lookup("svc-05x.ns-050"); err == nil {
				b.Fatal("found")
			}
		}
	})
}

// BenchmarkCatalogStart measures Start (permission checks, informers' first list over the
// fake clientset) and the first Services over 10,000 services.
func BenchmarkCatalogStart(b *testing.B) {
	client := fake.NewClientset(benchCluster()...)
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		c := NewCatalog(client, nil, nil, CatalogOptions{SyncTimeout: 5 * time.Minute})
		if err := c.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if n := len(c.Services()); n != 10000 {
			b.Fatalf("%d services", n)
		}
		cancel()
	}
}
