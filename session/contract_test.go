package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/meshjoin/meshjoin/certs"
	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/testbed"
)

// checkLeaks fails t when goroutines started during the test still run when it ends (after
// its deferred Leave): a session must stop everything it started. Not counted: the shared
// test mesh (started first), the client side of idle HTTP keep-alive connections (closed
// first), and the test mesh's in-process HTTP servers' connections from its sidecars (the
// session serves no HTTP).
func checkLeaks(t *testing.T) {
	t.Helper()
	testbed.Shared(t)
	current := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		goleak.VerifyNone(t, current, goleak.IgnoreAnyFunction("net/http.(*conn).serve"))
	})
}

// The operation contract, hammered: three clients change services while certificates are
// renewed, all at once; afterwards the state, the state file, the hosts block and Envoy's
// listeners and certificate agree. Then the same with Leave in the middle: every operation
// either ran before it or is refused with ErrEnded, and the machine is left as it was.
func TestOperationsNeverOverlap(t *testing.T) {
	checkLeaks(t)
	envoyPath, err := testbed.EnvoyBinary()
	if err != nil {
		t.Fatal(err)
	}
	cfg := benchConfig(t, "ratings.bookinfo")
	cfg.Runtime, cfg.EnvoyPath = RuntimeNative, envoyPath
	hostsBefore, _ := os.ReadFile(cfg.HostsFile)
	ctx := context.Background()
	s, err := Join(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Leave(ctx)
	sets := [][]string{
		{"ratings.bookinfo"},
		{"ratings.bookinfo", "db.payments"},
		{"reviews.bookinfo"},
		{"web.bookinfo", "ratings.bookinfo", "db.payments"},
	}
	renew := func() error {
		b, err := s.issuer.Issue(ctx)
		if err != nil {
			return err
		}
		return s.renewed(ctx, b)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 3 {
		wg.Go(func() {
			for i := range 5 {
				if err := s.SetServices(ctx, sets[(w+i)%len(sets)]); err != nil {
					errs <- fmt.Errorf("SetServices: %w", err)
				}
			}
		})
	}
	wg.Go(func() {
		for range 4 {
			if err := renew(); err != nil {
				errs <- fmt.Errorf("renewal: %w", err)
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkAgreement(t, s, cfg, nil)
	if err := s.SetServices(ctx, sets[3]); err != nil {
		t.Fatal(err)
	}
	checkAgreement(t, s, cfg, sets[3])
	if s.State().Renewals != 4 {
		t.Errorf("%d renewals recorded, want 4", s.State().Renewals)
	}

	// Now with Leave among them.
	var ended, ran sync.Map
	op := func(name string, f func() error) {
		err := f()
		switch {
		case err == nil:
			ran.Store(name, true)
		case errors.Is(err, ErrEnded):
			var ee *EndedError
			if !errors.As(err, &ee) || ee.Op == "" {
				t.Errorf("%s: %v is not an *EndedError naming the operation", name, err)
			}
			ended.Store(name, true)
		default:
			t.Errorf("%s: %v, want success or ErrEnded", name, err)
		}
	}
	for w := range 3 {
		wg.Go(func() {
			for i := range 4 {
				op(fmt.Sprint("set", w, i), func() error { return s.SetServices(ctx, sets[rand.IntN(len(sets))]) })
			}
		})
	}
	// Certificates issued beforehand: the CA connection closes with the session, and what is
	// under test here is the operation that pushes them.
	var fresh []*certs.Bundle
	for range 3 {
		b, err := s.issuer.Issue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fresh = append(fresh, b)
	}
	wg.Go(func() {
		for i, b := range fresh {
			op(fmt.Sprint("renew", i), func() error { return s.renewed(ctx, b) })
		}
	})
	wg.Go(func() { op("leave", func() error { return s.Leave(ctx) }) })
	wg.Wait()
	if _, ok := ran.Load("leave"); !ok {
		t.Fatal("Leave did not run")
	}
	op("leave again", func() error { return s.Leave(ctx) })
	if _, ok := ended.Load("leave again"); !ok {
		t.Error("a second Leave was not refused with ErrEnded")
	}
	if err := s.SetServices(ctx, sets[0]); !errors.Is(err, ErrEnded) {
		t.Errorf("SetServices after Leave: %v, want ErrEnded", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Leave: %v, want nil", err)
	}
	if b, _ := os.ReadFile(cfg.HostsFile); string(b) != string(hostsBefore) {
		t.Errorf("hosts file after Leave:\n%s\nwant:\n%s", b, hostsBefore)
	}
	if _, err := os.Stat(s.store.path()); !os.IsNotExist(err) {
		t.Errorf("state file left after Leave: %v", err)
	}
	if pid := s.State().EnvoyPID; processAlive(pid) {
		t.Errorf("Envoy pid %d still runs after Leave", pid)
	}
}

// checkAgreement checks that the session's state, its state file, the hosts block and the
// running Envoy's listeners and certificate all say the same; want, when given, is the set of
// services they must say.
func checkAgreement(t *testing.T, s *Session, cfg Config, want []string) {
	t.Helper()
	ctx := context.Background()
	state := s.State()
	var keys, listeners []string
	for _, js := range state.Services {
		keys = append(keys, js.Key)
		for _, p := range js.Ports {
			listeners = append(listeners, p.Listener)
		}
	}
	if want != nil && !sameSet(keys, want) {
		t.Errorf("state has %v, want %v", keys, want)
	}

	saved, err := s.store.read()
	if err != nil || saved == nil {
		t.Fatalf("state file: %v", err)
	}
	var savedKeys []string
	for _, js := range saved.Services {
		savedKeys = append(savedKeys, js.Key)
	}
	if !slices.Equal(savedKeys, keys) || saved.CertNotAfter != state.CertNotAfter || saved.Renewals != state.Renewals {
		t.Errorf("state file has %v (cert until %s, %d renewals), the session %v (cert until %s, %d renewals)",
			savedKeys, saved.CertNotAfter, saved.Renewals, keys, state.CertNotAfter, state.Renewals)
	}

	content, _ := os.ReadFile(cfg.HostsFile)
	block, _, _, found, err := hosts.ParseBlock(content)
	if err != nil || !found {
		t.Fatalf("hosts block: found %v, %v", found, err)
	}
	wantEntries := hostsEntries(state.Services)
	byIP := func(a, b hosts.Entry) int { return a.IP.Compare(b.IP) }
	slices.SortFunc(wantEntries, byIP)
	slices.SortFunc(block.Entries, byIP)
	if !slices.EqualFunc(block.Entries, wantEntries, func(a, b hosts.Entry) bool { return a.IP == b.IP && slices.Equal(a.Names, b.Names) }) {
		t.Errorf("hosts block %v, state %v", block.Entries, wantEntries)
	}

	// Envoy has applied the last push (a renewal may have come after the last change).
	if err := s.xds.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
	admin := envoy.AdminEndpoint{Addr: state.AdminAddr, Token: state.AdminToken}
	body, err := admin.Get(ctx, http.DefaultClient, "/config_dump?resource=dynamic_listeners")
	if err != nil {
		t.Fatal(err)
	}
	var dump struct {
		Configs []struct {
			Name        string          `json:"name"`
			ActiveState json.RawMessage `json:"active_state"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(body, &dump); err != nil {
		t.Fatal(err)
	}
	var active []string
	for _, c := range dump.Configs {
		if len(c.ActiveState) > 0 {
			active = append(active, c.Name)
		}
	}
	if !sameSet(active, listeners) {
		t.Errorf("Envoy's active listeners %v, state's %v", active, listeners)
	}
	body, err = admin.Get(ctx, http.DefaultClient, "/certs")
	if err != nil {
		t.Fatal(err)
	}
	serial := fmt.Sprintf("%x", s.bundle.Leaf().SerialNumber)
	if !containsSerial(body, serial) {
		t.Errorf("Envoy does not hold the session's certificate (serial %s):\n%.2000s", serial, body)
	}
	if !s.bundle.NotAfter.Equal(state.CertNotAfter) {
		t.Errorf("state says the certificate ends %s, the session's ends %s", state.CertNotAfter, s.bundle.NotAfter)
	}
}

// containsSerial reports whether Envoy's /certs lists a certificate with serial (hex).
func containsSerial(body []byte, serial string) bool {
	var certs struct {
		Certificates []struct {
			CertChain []struct {
				SerialNumber string `json:"serial_number"`
			} `json:"cert_chain"`
		} `json:"certificates"`
	}
	if json.Unmarshal(body, &certs) != nil {
		return false
	}
	for _, c := range certs.Certificates {
		for _, cc := range c.CertChain {
			// Envoy writes whole bytes ("0c04..."), %x no leading zero ("c04...").
			if strings.TrimLeft(cc.SerialNumber, "0") == strings.TrimLeft(serial, "0") {
				return true
			}
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
