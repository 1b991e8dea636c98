//go:build !windows

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/meshjoin/meshjoin/testbed"
)

// benchWorld is a state dir and hosts file for the background benchmarks.
type benchWorld struct {
	b                   *testing.B
	tb                  *testbed.Testbed
	stateDir, hostsFile string
}

func newBenchWorld(b *testing.B) *benchWorld {
	w := &benchWorld{b: b, tb: testbed.Shared(b)}
	dir := b.TempDir()
	w.stateDir, w.hostsFile = filepath.Join(dir, "state"), filepath.Join(dir, "hosts")
	if err := os.WriteFile(w.hostsFile, []byte(initialHosts), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { exec.Command(binary(b), "down", "--state-dir", w.stateDir).Run() })
	return w
}

func (w *benchWorld) run(args ...string) {
	w.b.Helper()
	full := append([]string{args[0], "--kubeconfig", w.tb.DeveloperKubeconfig, "--state-dir", w.stateDir}, args[1:]...)
	if out, err := exec.Command(binary(w.b), full...).CombinedOutput(); err != nil {
		w.b.Fatalf("meshjoin %v: %v\n%s", args, err, out)
	}
}

func (w *benchWorld) bg(command string, rest ...string) []string {
	return append([]string{command, "--identity", "dev/alice", "--hosts-file", w.hostsFile, "--envoy-image", testbed.EnvoyImage,
		"--sudo", "never", "--wait", "90s", "--address-range", bgAddressRange}, rest...)
}

// BenchmarkUp: cold is `up` starting the background session (certificate, Envoy, hosts,
// names resolving); warm is `up` again when the session already has the service (the
// IDE's pre-launch task on every F5).
func BenchmarkUp(b *testing.B) {
	w := newBenchWorld(b)
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			w.run(w.bg("up", "ratings.bookinfo")...)
			b.StopTimer()
			w.run("down")
			b.StartTimer()
		}
	})
	b.Run("warm", func(b *testing.B) {
		w.run(w.bg("up", "ratings.bookinfo")...)
		for b.Loop() {
			w.run(w.bg("up", "ratings.bookinfo")...)
		}
		b.StopTimer()
		w.run("down")
	})
	// The floor under warm: starting the binary at all.
	b.Run("version", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command(binary(b), "version").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRunOverhead: `meshjoin run -- true` on a running session, against `true` alone.
func BenchmarkRunOverhead(b *testing.B) {
	w := newBenchWorld(b)
	w.run(w.bg("up", "ratings.bookinfo")...)
	b.Run("run", func(b *testing.B) {
		for b.Loop() {
			w.run(w.bg("run", "--", "true")...)
		}
	})
	b.Run("alone", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	w.run("down")
}
