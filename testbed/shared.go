package testbed

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

var shared struct {
	once   sync.Once
	tb     *Testbed
	err    error
	mu     sync.Mutex
	atExit []func()
}

// AtExit registers f to run when Main ends the test binary (after the testbed stops): for
// what tests share across the binary, such as a built executable.
func AtExit(f func()) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.atExit = append(shared.atExit, f)
}

// Shared returns the test binary's one testbed, starting it on first use. The test fails (never
// skips) when a prerequisite is missing, unless MESHJOIN_SKIP_E2E=1 is set by a person.
// Use Main in TestMain so the testbed is stopped when the tests end.
func Shared(t testing.TB) *Testbed {
	t.Helper()
	if os.Getenv("MESHJOIN_SKIP_E2E") == "1" {
		t.Skip("MESHJOIN_SKIP_E2E=1: skipping a test that needs the real test mesh")
	}
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var log *os.File
		if testing.Verbose() {
			log = os.Stderr
		}
		opts := Options{Log: log}
		if td := os.Getenv("MESHJOIN_TEST_TRUST_DOMAIN"); td != "" {
			opts.TrustDomain = td
		}
		shared.tb, shared.err = Start(ctx, opts)
	})
	if shared.err != nil {
		t.Fatalf("start the test mesh: %v", shared.err)
	}
	return shared.tb
}

// Main runs the tests and stops the shared testbed afterwards: call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.tb != nil {
		shared.tb.Stop()
	}
	shared.mu.Lock()
	for _, f := range shared.atExit {
		f()
	}
	shared.mu.Unlock()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "(testbed logs are removed with it; run `make testbed` to keep one up)")
	}
	os.Exit(code)
}
