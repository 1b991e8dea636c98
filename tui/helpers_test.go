// The fake backend and the helpers the TUI tests drive the model with.

package tui

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

// fakeBackend records what the model asked for; its methods return at once.
type fakeBackend struct {
	mu        sync.Mutex
	services  []mesh.Service
	changes   chan struct{}
	progress  chan session.Event
	proxyDone chan struct{}
	proxyOnce sync.Once
	opened    []string
	started   [][]string
	applied   [][]string
	startErr  error
	openErr   error
	applyErr  error
	// applyCtxErr is the context's error when SetServices ran (cancelled by a quit).
	applyCtxErr error
	left        int
	closed      int
	ended       int
	accounts    []string
	status      Status
}

// newFake returns a fake backend; inside a bubble, its channels belong to the bubble.
func newFake() *fakeBackend {
	f := &fakeBackend{services: fixtureServices(), changes: make(chan struct{}, 1), progress: make(chan session.Event, 16), proxyDone: make(chan struct{})}
	fakesMu.Lock()
	fakes = append(fakes, f)
	fakesMu.Unlock()
	return f
}

func (f *fakeBackend) Open(_ context.Context, id string) (Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, id)
	if f.openErr != nil {
		return Info{}, f.openErr
	}
	return Info{TrustDomain: "cluster.local", Gateway: "203.0.113.10:15443", Identity: "spiffe://cluster.local/ns/" + strings.Replace(id, "/", "/sa/", 1)}, nil
}
func (f *fakeBackend) Services() []mesh.Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.services)
}
func (f *fakeBackend) Changes() <-chan struct{}       { return f.changes }
func (f *fakeBackend) Progress() <-chan session.Event { return f.progress }
func (f *fakeBackend) Start(_ context.Context, keys []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, keys)
	return f.startErr
}
func (f *fakeBackend) SetServices(ctx context.Context, keys []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, keys)
	f.applyCtxErr = ctx.Err()
	return f.applyErr
}
func (f *fakeBackend) Status(context.Context) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, nil
}
func (f *fakeBackend) ProxyDone() <-chan struct{} { return f.proxyDone }
func (f *fakeBackend) Leave(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left++
	return nil
}
func (f *fakeBackend) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}
func (f *fakeBackend) End(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended++
	return nil
}
func (f *fakeBackend) ServiceAccounts(context.Context, int) ([]string, error) { return f.accounts, nil }

func svc(name, ns string, reachable bool, ports ...mesh.Port) mesh.Service {
	s := mesh.Service{Name: name, Namespace: ns, Kind: mesh.KindService, Hosts: []string{name + "." + ns + ".svc.cluster.local"}, Ports: ports, Endpoints: 1, Reachable: reachable}
	if !reachable {
		s.Reason = "namespace " + ns + " has no sidecar injection"
		s.Endpoints = 0
	}
	return s
}

func fixtureServices() []mesh.Service {
	http := mesh.Port{Name: "http", Number: 9080, Protocol: mesh.Protocol("HTTP")}
	return []mesh.Service{
		svc("productpage", "bookinfo", true, http),
		svc("ratings", "bookinfo", true, http),
		svc("reviews", "bookinfo", true, http),
		svc("kubernetes", "default", false, mesh.Port{Number: 443, Protocol: mesh.Protocol("TCP")}),
		svc("db", "payments", true, mesh.Port{Number: 3306, Protocol: mesh.Protocol("TCP")}),
		svc("ledger", "payments", true, mesh.Port{Number: 7070, Protocol: mesh.Protocol("GRPC")}),
	}
}

// feed runs cmd and gives the model every message it produces, recursively. It runs in a
// synctest bubble (see bubble): a command still blocked once every goroutine of the bubble is
// blocked (a timer, a listener on a backend channel nothing was sent on) is left waiting,
// deterministically, instead of after a timeout. Spinner and status ticks are dropped.
func feed(t *testing.T, m *Model, cmd tea.Cmd) (quit bool) {
	t.Helper()
	if cmd == nil {
		return false
	}
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	synctest.Wait()
	var msg tea.Msg
	select {
	case msg = <-ch:
	default:
		return false // blocked: a timer or a listener
	}
	switch msg := msg.(type) {
	case nil, spinMsg, statusTickMsg:
		return false
	case tea.QuitMsg:
		return true
	case tea.BatchMsg:
		for _, c := range msg {
			if feed(t, m, c) {
				quit = true
			}
		}
		return quit
	}
	_, next := m.Update(msg)
	return feed(t, m, next)
}

// bubble runs f in a synctest bubble, as feed needs, and then lets the commands left waiting
// finish: it closes the channels of the fakes made inside, and the bubble's fake clock runs
// the timers out.
func bubble(t *testing.T, f func(t *testing.T)) {
	synctest.Test(t, func(t *testing.T) {
		fakesMu.Lock()
		first := len(fakes)
		fakesMu.Unlock()
		t.Cleanup(func() { // also after a failed test
			fakesMu.Lock()
			mine := fakes[first:]
			fakesMu.Unlock()
			for _, fk := range mine {
				fk.closeChannels()
			}
			time.Sleep(time.Hour)
		})
		f(t)
	})
}

var (
	fakesMu sync.Mutex
	fakes   []*fakeBackend
)

func (f *fakeBackend) closeChannels() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.changes)
	close(f.progress)
	f.closeProxy()
}

// closeProxy says the local Envoy exited (once).
func (f *fakeBackend) closeProxy() { f.proxyOnce.Do(func() { close(f.proxyDone) }) }

func press(t *testing.T, m *Model, keys ...string) (quit bool) {
	t.Helper()
	for _, k := range keys {
		var kp tea.KeyPressMsg
		switch k {
		case "enter":
			kp = tea.KeyPressMsg{Code: tea.KeyEnter}
		case "esc":
			kp = tea.KeyPressMsg{Code: tea.KeyEscape}
		case "space":
			kp = tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
		case "backspace":
			kp = tea.KeyPressMsg{Code: tea.KeyBackspace}
		case "up":
			kp = tea.KeyPressMsg{Code: tea.KeyUp}
		case "down":
			kp = tea.KeyPressMsg{Code: tea.KeyDown}
		case "ctrl+c":
			kp = tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
		default:
			r := []rune(k)
			kp = tea.KeyPressMsg{Code: r[0], Text: k}
		}
		_, cmd := m.Update(kp)
		if feed(t, m, cmd) {
			quit = true
		}
	}
	return quit
}

func typeText(t *testing.T, m *Model, s string) {
	t.Helper()
	for _, r := range s {
		press(t, m, string(r))
	}
}

// opened is a model connected to a fake, past Init.
func opened(t *testing.T) (*Model, *fakeBackend) {
	t.Helper()
	f := newFake()
	m := New(Options{Backend: f, KubeContext: "kind-dev", Identity: "dev/alice", Now: fixedNow, Hint: func(err error) string {
		if strings.Contains(err.Error(), "forbidden") {
			return "ask your cluster admin for the RBAC in docs/rbac.yaml"
		}
		return ""
	}})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	feed(t, m, m.Init())
	if !m.loaded || len(m.pick.services) != 6 {
		t.Fatalf("not loaded: %+v", m.pick.services)
	}
	return m, f
}

func fixedNow() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }

func (m *Model) cursorKey() string {
	if m.pick.cursor >= len(m.pick.items) || m.pick.items[m.pick.cursor].svc < 0 {
		return ""
	}
	return m.pick.services[m.pick.items[m.pick.cursor].svc].Key()
}

func shownKeys(m *Model) []string {
	var out []string
	for _, it := range m.pick.items {
		if it.svc >= 0 {
			out = append(out, m.pick.services[it.svc].Key())
		}
	}
	return out
}
