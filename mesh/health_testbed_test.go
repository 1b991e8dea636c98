package mesh

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshjoin/meshjoin/testbed"
)

// Against the real kube-apiserver: stopped, the catalogue keeps its services and says it is
// stale; started again, it is fresh and picks up a Service created since.
func TestCatalogueStaleWhileAPIServerDown(t *testing.T) {
	tb := testbed.Shared(t)
	client, dyn := clients(t, tb, testbed.DeveloperUser)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cat := NewCatalog(client, dyn, nil, CatalogOptions{})
	if err := cat.Start(ctx); err != nil {
		t.Fatal(err)
	}
	before := len(cat.Services())

	tb.StopKubeAPIServer()
	restarted := false
	defer func() {
		if !restarted {
			tb.StartKubeAPIServer(context.Background())
		}
	}()
	waitFor(t, time.Minute, "the catalogue to say it is stale", func() bool { return cat.Freshness().Stale() })
	if f := cat.Freshness(); !strings.HasPrefix(f.Cause, "cluster API unreachable: ") {
		t.Errorf("cause %q", f.Cause)
	}
	if n := len(cat.Services()); n != before {
		t.Errorf("%d services while the API server is down, want the %d from before", n, before)
	}

	if err := tb.StartKubeAPIServer(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitFor(t, time.Minute, "the catalogue to be fresh again", func() bool { return !cat.Freshness().Stale() })
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "after-outage", Namespace: testbed.NamespaceBookinfo},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}},
	}
	if _, err := tb.Admin().CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tb.Admin().CoreV1().Services(svc.Namespace).Delete(context.Background(), svc.Name, metav1.DeleteOptions{})
	})
	waitFor(t, 3*time.Minute, "the new Service in the catalogue", func() bool {
		return slices.ContainsFunc(cat.Services(), func(s Service) bool { return s.Name == "after-outage" })
	})
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
