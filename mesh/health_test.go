package mesh

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// rvInformer is an informer whose resource version the test sets.
type rvInformer struct {
	cache.SharedIndexInformer
	rv atomic.Value
}

func (i *rvInformer) LastSyncResourceVersion() string { return i.rv.Load().(string) }

// A failing list or watch makes the catalogue stale until its informer has a new resource
// version (it listed or watched again); routine errors (an expired resource version) do not.
func TestFreshnessFollowsWatchErrors(t *testing.T) {
	c := NewCatalog(fake.NewClientset(), nil, nil, CatalogOptions{})
	inf := &rvInformer{}
	inf.rv.Store("41")
	c.services = inf

	c.watchFailed("services", "41", apierrors.NewResourceExpired("too old"))
	if f := c.Freshness(); f.Stale() {
		t.Fatalf("an expired resource version made the catalogue stale: %+v", f)
	}
	c.watchFailed("services", "41", errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"))
	f := c.Freshness()
	if !f.Stale() || !strings.HasPrefix(f.Cause, "cluster API unreachable: ") {
		t.Fatalf("after a refused list: %+v", f)
	}
	since := f.StaleSince
	c.watchFailed("services", "41", apierrors.NewServiceUnavailable("etcd down"))
	if f := c.Freshness(); !f.StaleSince.Equal(since) || !strings.HasPrefix(f.Cause, "the cluster API is failing") {
		t.Fatalf("a second failure: %+v, want stale since the first with the latest cause", f)
	}
	err := (&StaleError{Freshness: c.Freshness()}).Error()
	if !errors.Is(&StaleError{}, ErrStale) || !strings.Contains(err, "no new service is joined") {
		t.Errorf("StaleError: %q", err)
	}
	inf.rv.Store("57")
	if f := c.Freshness(); f.Stale() {
		t.Fatalf("still stale after the informer listed again: %+v", f)
	}
}

// The liveness request marks the catalogue stale while the API server does not answer (or
// fails), and fresh again once it answers.
func TestFreshnessFollowsLiveness(t *testing.T) {
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","code":503}`, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"major":"1","minor":"36"}`))
	}))
	client := kubernetes.NewForConfigOrDie(&rest.Config{Host: srv.URL})
	c := NewCatalog(client, nil, nil, CatalogOptions{})
	rc := client.Discovery().RESTClient()
	ctx := context.Background()

	c.askVersion(ctx, rc)
	if f := c.Freshness(); f.Stale() {
		t.Fatalf("stale while the API answers: %+v", f)
	}
	failing.Store(true)
	c.askVersion(ctx, rc)
	f := c.Freshness()
	if !f.Stale() || !strings.HasPrefix(f.Cause, "the cluster API is failing") {
		t.Fatalf("API failing: %+v", f)
	}
	failing.Store(false)
	c.askVersion(ctx, rc)
	if g := c.Freshness(); g.Stale() {
		t.Fatalf("still stale once the API answers again: %+v", g)
	}
	srv.Close()
	c.askVersion(ctx, rc)
	if g := c.Freshness(); !g.Stale() || !strings.HasPrefix(g.Cause, "cluster API unreachable") {
		t.Fatalf("API gone: %+v", g)
	}
}
