package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

// fakeSession is a session in memory: services by key, and whether it left.
type fakeSession struct {
	mu      sync.Mutex
	state   session.State
	left    chan struct{}
	setErr  error
	catalog map[string]mesh.Service
}

func newFake(keys ...string) *fakeSession {
	f := &fakeSession{left: make(chan struct{}), catalog: map[string]mesh.Service{}}
	f.state = session.State{ID: "abc123", Identity: "spiffe://cluster.local/ns/dev/sa/alice", Phase: session.PhaseJoined}
	for _, k := range []string{"ratings.bookinfo", "reviews.bookinfo"} {
		name, ns, _ := cut(k)
		f.catalog[k] = mesh.Service{Name: name, Namespace: ns, Ports: []mesh.Port{{Name: "http", Number: 9080}}}
	}
	for _, k := range keys {
		f.state.Services = append(f.state.Services, session.JoinedService{Key: k, Addr: "127.77.0.1", Ports: []session.Port{{Number: 9080}}})
	}
	return f
}

func cut(k string) (string, string, bool) {
	for i := range k {
		if k[i] == '.' {
			return k[:i], k[i+1:], true
		}
	}
	return k, "", false
}

func (f *fakeSession) State() session.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.state
	st.Services = slices.Clone(st.Services)
	return st
}

func (f *fakeSession) SetServices(_ context.Context, names []string) error {
	if f.setErr != nil {
		return f.setErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state.Services = nil
	for _, n := range names {
		f.state.Services = append(f.state.Services, session.JoinedService{Key: n, Addr: "127.77.0.2", Ports: []session.Port{{Number: 9080}}})
	}
	return nil
}

func (f *fakeSession) Leave(context.Context) error { close(f.left); return nil }

func (f *fakeSession) ProxyDone() <-chan struct{} { return nil }

func (f *fakeSession) Lookup(name string) (mesh.Service, error) {
	if s, ok := f.catalog[name]; ok {
		return s, nil
	}
	return mesh.Service{}, &mesh.ErrUnknownService{Name: name}
}

func (f *fakeSession) CatalogServices() []mesh.Service {
	var out []mesh.Service
	for _, s := range f.catalog {
		out = append(out, s)
	}
	return out
}

func (f *fakeSession) hasLeft() bool {
	select {
	case <-f.left:
		return true
	default:
		return false
	}
}

// serve runs a daemon for f on a socket in a temp dir; the test ends it.
func serve(t *testing.T, f *fakeSession, o Options) (*Daemon, *Client) {
	t.Helper()
	o.StateDir = filepath.Join(t.TempDir(), "state")
	d := New(o)
	l, err := Listen(o.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(l) }()
	ran := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { ran <- d.Run(ctx, func(context.Context) (Session, error) { return f, nil }) }()
	c := NewClient(o.StateDir)
	t.Cleanup(func() {
		cancel()
		<-ran
		<-served
		l.Close()
		c.Close()
	})
	return d, c
}

func TestAddServicesIsIdempotentAndRefusesUnknown(t *testing.T) {
	f := newFake("ratings.bookinfo")
	_, c := serve(t, f, Options{Keep: true})
	ctx := context.Background()
	st, err := c.AddServices(ctx, ServicesRequest{Add: []string{"ratings.bookinfo"}})
	if err != nil || !st.Ready() || len(st.Services) != 1 {
		t.Fatalf("same services: %v %+v", err, st.Daemon)
	}
	if _, err := c.AddServices(ctx, ServicesRequest{Add: []string{"reviews.bookinfo"}}); err != nil {
		t.Fatal(err)
	}
	if got := f.State().Services; len(got) != 2 || got[1].Key != "reviews.bookinfo" {
		t.Fatalf("after adding reviews: %+v", got)
	}
	_, err = c.AddServices(ctx, ServicesRequest{Add: []string{"nosuch.bookinfo"}})
	var re *RemoteError
	if !errors.As(err, &re) || re.Message == "" {
		t.Fatalf("unknown service: %v", err)
	}
	if len(f.State().Services) != 2 {
		t.Error("a refused service changed the session")
	}
	if _, err := c.AddServices(ctx, ServicesRequest{Add: []string{"reviews.bookinfo"}, Replace: true}); err != nil {
		t.Fatal(err)
	}
	if got := f.State().Services; len(got) != 1 || got[0].Key != "reviews.bookinfo" {
		t.Fatalf("after replacing with reviews: %+v", got)
	}
	if cat, err := c.Catalog(ctx); err != nil || len(cat) != 2 {
		t.Fatalf("catalog: %v %v", cat, err)
	}
}

func TestLastRunEndsSessionNotKeptOne(t *testing.T) {
	f := newFake("ratings.bookinfo")
	d, c := serve(t, f, Options{})
	ctx := context.Background()
	a, err := c.Attach(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Attach(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Status(ctx); st.Daemon.Runs != 2 {
		t.Fatalf("runs %d, want 2", st.Daemon.Runs)
	}
	if ended, err := c.Release(ctx, a.Lease); err != nil || ended {
		t.Fatalf("first release: ended %v, %v", ended, err)
	}
	a.Close()
	if f.hasLeft() {
		t.Fatal("the session ended while a run holds it")
	}
	if ended, err := c.Release(ctx, b.Lease); err != nil || !ended {
		t.Fatalf("last release: ended %v, %v", ended, err)
	}
	b.Close()
	<-d.Ended()
	if !f.hasLeft() {
		t.Fatal("the last run did not end the session")
	}
}

func TestKeptSessionOutlivesRuns(t *testing.T) {
	f := newFake("ratings.bookinfo")
	_, c := serve(t, f, Options{Keep: true})
	ctx := context.Background()
	a, err := c.Attach(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if ended, _ := c.Release(ctx, a.Lease); ended {
		t.Fatal("a kept session ended with its run")
	}
	a.Close()
	if f.hasLeft() {
		t.Fatal("left")
	}
}

// A run that dies without releasing is released when its connection closes.
func TestDeadRunIsReleased(t *testing.T) {
	f := newFake("ratings.bookinfo")
	d, c := serve(t, f, Options{})
	a, err := c.Attach(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	select {
	case <-d.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the session of a dead run did not end")
	}
}

func TestDownGraceCancelledByUp(t *testing.T) {
	f := newFake("ratings.bookinfo")
	d, c := serve(t, f, Options{Keep: true})
	ctx := context.Background()
	reply, err := c.Down(ctx, time.Hour)
	if err != nil || reply.Ended || reply.EndsAt.IsZero() {
		t.Fatalf("down --grace: %+v %v", reply, err)
	}
	if st, _ := c.Status(ctx); st.Daemon.EndsAt.IsZero() {
		t.Fatal("status does not show the pending down")
	}
	if _, err := c.AddServices(ctx, ServicesRequest{Keep: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Status(ctx); !st.Daemon.EndsAt.IsZero() {
		t.Fatal("up did not cancel the pending down")
	}
	reply, err = c.Down(ctx, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("down --grace 1ms did not end the session")
	}
	if !f.hasLeft() {
		t.Fatal("not left")
	}
}

func TestIdleTimeoutEndsQuietSession(t *testing.T) {
	f := newFake("ratings.bookinfo")
	var busy atomic.Bool
	var traffic atomic.Uint64
	busy.Store(true)
	d, c := serve(t, f, Options{Keep: true, IdleTimeout: 300 * time.Millisecond, Traffic: func(context.Context) (uint64, bool) {
		if busy.Load() {
			traffic.Add(1) // a request each check
		}
		return traffic.Load(), false
	}})
	// While traffic flows, it stays.
	time.Sleep(time.Second)
	if f.hasLeft() {
		t.Fatal("ended despite traffic")
	}
	a, err := c.Attach(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	busy.Store(false) // quiet now; only the attached client keeps it
	time.Sleep(time.Second)
	if f.hasLeft() {
		t.Fatal("ended with a client attached")
	}
	a.Close()
	select {
	case <-d.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("idle session did not end")
	}
}

func TestEnvironmentAsKubernetesSetsIt(t *testing.T) {
	st := session.State{ID: "s1", Identity: "spiffe://td/ns/dev/sa/alice", Services: []session.JoinedService{
		{Key: "reviews.bookinfo", Addr: "127.77.0.9", Ports: []session.Port{{Number: 9080}, {Number: 9081}}},
		{Key: "my-db.payments", Addr: "127.77.0.3", Ports: []session.Port{{Number: 3306}}},
		{Key: "reviews.other", Addr: "127.77.0.4", Ports: []session.Port{{Number: 9080}}},
	}}
	lookup := func(k string) (mesh.Service, error) {
		switch k {
		case "reviews.bookinfo":
			return mesh.Service{Name: "reviews", Ports: []mesh.Port{{Name: "http", Number: 9080}, {Name: "http-admin", Number: 9081}}}, nil
		case "my-db.payments":
			return mesh.Service{Name: "my-db", Ports: []mesh.Port{{Number: 3306}}}, nil
		}
		return mesh.Service{}, errors.New("gone")
	}
	vars, warnings := Environment(st, lookup)
	got := map[string]string{}
	var order []string
	for _, v := range vars {
		got[v.Name] = v.Value
		order = append(order, v.Name)
	}
	want := map[string]string{
		"MY_DB_SERVICE_HOST": "127.77.0.3", "MY_DB_SERVICE_PORT": "3306", "MY_DB_PORT": "tcp://127.77.0.3:3306",
		"MY_DB_PORT_3306_TCP": "tcp://127.77.0.3:3306", "MY_DB_PORT_3306_TCP_PROTO": "tcp", "MY_DB_PORT_3306_TCP_PORT": "3306", "MY_DB_PORT_3306_TCP_ADDR": "127.77.0.3",
		"REVIEWS_SERVICE_HOST": "127.77.0.9", "REVIEWS_SERVICE_PORT": "9080", "REVIEWS_SERVICE_PORT_HTTP": "9080", "REVIEWS_SERVICE_PORT_HTTP_ADMIN": "9081",
		"REVIEWS_PORT": "tcp://127.77.0.9:9080", "REVIEWS_PORT_9081_TCP": "tcp://127.77.0.9:9081", "REVIEWS_PORT_9081_TCP_ADDR": "127.77.0.9",
		"MESHJOIN_SESSION": "s1", "MESHJOIN_IDENTITY": "spiffe://td/ns/dev/sa/alice",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["MY_DB_SERVICE_PORT_"]; ok {
		t.Error("an unnamed port got a _SERVICE_PORT_ variable")
	}
	if len(warnings) != 1 || got["REVIEWS_SERVICE_HOST"] != "127.77.0.9" {
		t.Errorf("reviews.other should collide with reviews.bookinfo and be left out: %v", warnings)
	}
	if order[0] != "MY_DB_SERVICE_HOST" || order[len(order)-1] != "MESHJOIN_IDENTITY" {
		t.Errorf("order %v", order)
	}
}

func TestListenRefusesSecondDaemonAndSocketIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	l, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Listen(dir); !errors.Is(err, ErrAlreadyServing) {
		t.Fatalf("second Listen: %v", err)
	}
	fi, err := lstat(SocketPath(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
}

func TestStatusWithoutDaemonIsNotRunning(t *testing.T) {
	c := NewClient(t.TempDir())
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("%v", err)
	}
}
