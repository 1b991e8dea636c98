package mesh

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
)

// apiGate holds the informers' lists and watches while the liveness check (health.go) finds
// the API server down. A client-go reflector backs off after each failed list or watch, up to
// 30 s with up to 100 % jitter, and an informer does not let that be set: after an outage of
// a minute the catalogue caught up 43-45 s after the API server was back. Held at the gate
// instead of failing again and again, they go on as soon as the liveness check, which asks
// every second while the API is down, sees it answer.
//
// set and wait may be called from any goroutine.
type apiGate struct {
	mu   sync.Mutex
	open chan struct{} // closed while the API server answers
}

func newAPIGate() *apiGate {
	g := &apiGate{open: make(chan struct{})}
	close(g.open)
	return g
}

// set opens the gate (the API server answers) or closes it.
func (g *apiGate) set(up bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		if !up {
			g.open = make(chan struct{})
		}
	default:
		if up {
			close(g.open)
		}
	}
}

// wait returns once the gate is open, or with ctx's error.
func (g *apiGate) wait(ctx context.Context) error {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// informer is a shared informer of obj that lists and watches through lw, behind the gate;
// client is the one lw uses (it says whether watch-list requests are supported).
func (g *apiGate) informer(lw *cache.ListWatch, client any, obj runtime.Object, opts cache.SharedIndexInformerOptions) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformerWithOptions(&gatedListWatch{lw: lw, gate: g, noWatchList: watchlist.DoesClientNotSupportWatchListSemantics(client)}, obj, opts)
}

// listWatch lists and watches through one resource of a typed or dynamic client.
func listWatch[L runtime.Object](r interface {
	List(context.Context, metav1.ListOptions) (L, error)
	Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
}) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return r.List(ctx, o) },
		WatchFuncWithContext: r.Watch,
	}
}

// gatedListWatch is a list-watch whose every list and watch waits at the gate first.
type gatedListWatch struct {
	lw          *cache.ListWatch
	gate        *apiGate
	noWatchList bool
}

func (l *gatedListWatch) ListWithContext(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
	if err := l.gate.wait(ctx); err != nil {
		return nil, err
	}
	return l.lw.ListWithContext(ctx, o)
}

func (l *gatedListWatch) WatchWithContext(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	if err := l.gate.wait(ctx); err != nil {
		return nil, err
	}
	return l.lw.WatchWithContext(ctx, o)
}

// List and Watch are the context-free forms cache.ListerWatcher still requires; the
// reflector uses the ones above.
func (l *gatedListWatch) List(o metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), o)
}

func (l *gatedListWatch) Watch(o metav1.ListOptions) (watch.Interface, error) {
	return l.WatchWithContext(context.Background(), o)
}

// IsWatchListSemanticsUnSupported passes on what the client supports (util/watchlist).
func (l *gatedListWatch) IsWatchListSemanticsUnSupported() bool { return l.noWatchList }
