package session

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/testbed"
)

// The Envoy container killed, then removed, under a running session: the session starts a new
// one with the same certificate each time, and the names answer again. Recovery times are
// logged (benchmarks: BenchmarkEnvoyKilledRecovery), not asserted.
func TestEnvoyContainerKilledComesBack(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	s, err := Join(ctx, benchConfig(t, "ratings.bookinfo"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Leave(ctx)
	url := "http://" + addrOf(s, "ratings.bookinfo") + ":9080/"
	if _, err := get(http.DefaultClient, url); err != nil {
		t.Fatal(err)
	}
	cert := s.State().CertNotAfter
	for i, how := range [][]string{{"kill"}, {"rm", "-f"}} {
		old := s.State().ContainerID
		took := breakAndRecover(t, url, func() {
			if out, err := exec.Command("docker", append(how, old)...).CombinedOutput(); err != nil {
				t.Fatalf("docker %s: %v\n%s", how[0], err, out)
			}
		})
		t.Logf("docker %s: names answer again after %s", strings.Join(how, " "), took.Round(time.Millisecond))
		// The restart operation ends once every listener is confirmed; requests may pass a
		// moment before.
		st := s.State()
		for deadline := time.Now().Add(time.Minute); st.EnvoyRestarts < i+1 && time.Now().Before(deadline); st = s.State() {
			time.Sleep(20 * time.Millisecond)
		}
		if st.ContainerID == old || st.EnvoyRestarts != i+1 || st.EnvoyProblem != "" {
			t.Fatalf("after docker %s: container %.12s (was %.12s), %d restarts, problem %q", how[0], st.ContainerID, old, st.EnvoyRestarts, st.EnvoyProblem)
		}
		if !st.CertNotAfter.Equal(cert) || st.Renewals != 0 {
			t.Fatalf("a new certificate was asked for: until %s, was %s", st.CertNotAfter, cert)
		}
		if saved, _ := s.store.read(); saved == nil || saved.ContainerID != st.ContainerID {
			t.Fatalf("state file does not name the new container")
		}
	}
	select {
	case <-s.ProxyDone():
		t.Fatal("ProxyDone closed although Envoy came back")
	default:
	}
}

// breakAndRecover runs breakIt and returns how long until url answers again.
func breakAndRecover(t testing.TB, url string, breakIt func()) time.Duration {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	breakIt()
	for {
		if _, err := get(client, url); err == nil {
			return time.Since(start)
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("%s does not answer a minute after Envoy was killed", url)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// When Envoy keeps failing to start, the session gives up after the last back-off, says so in
// its state, and closes ProxyDone (so join and the TUI end). The native Envoy here is started
// through a script the test then breaks.
func TestEnvoyRestartsGiveUp(t *testing.T) {
	checkLeaks(t)
	envoyPath, err := testbed.EnvoyBinary()
	if err != nil {
		t.Fatal(err)
	}
	saved := restartDelays
	restartDelays = []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond}
	defer func() { restartDelays = saved }()
	script := filepath.Join(t.TempDir(), "envoy")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec "+envoyPath+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := benchConfig(t, "ratings.bookinfo")
	cfg.Runtime, cfg.EnvoyPath = RuntimeNative, script
	ctx := context.Background()
	s, err := Join(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Leave(ctx)
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'envoy: broken on purpose' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	envoyProc, err := os.FindProcess(s.State().EnvoyPID)
	if err != nil {
		t.Fatal(err)
	}
	if err := envoyProc.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.ProxyDone():
	case <-time.After(time.Minute):
		t.Fatal("the session did not give up restarting an Envoy that cannot start")
	}
	st := s.State()
	if !st.EnvoyGaveUp || !strings.Contains(st.EnvoyProblem, "3 restarts failed") || !strings.Contains(st.EnvoyProblem, "broken on purpose") {
		t.Fatalf("state after giving up: gave up %v, problem %q", st.EnvoyGaveUp, st.EnvoyProblem)
	}
	if saved, _ := s.store.read(); saved == nil || !saved.EnvoyGaveUp {
		t.Fatal("the state file does not say the session gave up")
	}
	if err := s.Leave(ctx); err != nil {
		t.Fatal(err)
	}
}
