//go:build !windows

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startUntil starts meshjoin with args and returns once its output contains marker (a
// progress line), or fails the test.
func (e *env) startUntil(marker string, args ...string) *running {
	e.t.Helper()
	r := &running{cmd: exec.Command(binary(e.t), args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	if e.extraEnv != nil {
		r.cmd.Env = append(os.Environ(), e.extraEnv...)
	}
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	if err := r.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	e.last = r
	deadline := time.After(90 * time.Second)
	for !strings.Contains(r.stderr.String(), marker) {
		select {
		case <-r.done:
			e.t.Fatalf("join exited before %q:\n%s\n%s", marker, r.stdout, r.stderr)
		case <-deadline:
			e.t.Fatalf("no %q in 90s:\n%s", marker, r.stderr)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return r
}

func (r *running) kill9() {
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// stateDirClean: nothing left in the state directory but session.lock, the lock file that is
// never removed (removing a lock file lets a waiting process and a new one lock two files).
func (e *env) stateDirClean() {
	e.t.Helper()
	entries, _ := os.ReadDir(e.stateDir)
	for _, de := range entries {
		if de.Name() != "session.lock" {
			e.t.Errorf("left in the state directory: %s", de.Name())
		}
	}
}

// kill -9 of meshjoin at every step of a join, on the progress line it prints after the
// step; then `leave`, or the next join, leaves the machine exactly as before: hosts bytes,
// the session's container, the state directory.
func TestKill9AtEveryJoinStep(t *testing.T) {
	for _, step := range []string{"✓ token", "✓ certificate", "✓ envoy", "✓ config"} {
		for _, then := range []string{"leave", "join"} {
			t.Run(strings.TrimPrefix(step, "✓ ")+" then "+then, func(t *testing.T) {
				e := newEnv(t)
				r := e.startUntil(step, e.faultJoinArgs("ratings.bookinfo")...)
				r.kill9()
				killedID := ""
				if b, err := os.ReadFile(filepath.Join(e.stateDir, "state.json")); err == nil {
					killedID = stateField(b, "containerID")
				}
				start := time.Now()
				e.cleanUpAfterKill(then)
				t.Logf("killed after %q; %s restored the machine in %s", step, then, time.Since(start).Round(time.Millisecond))
				if killedID != "" {
					assertNoContainer(t, killedID)
				}
				e.stateDirClean()
			})
		}
	}
}

// Half-way through the hosts write: the write is one rename(2), which no signal splits, so
// the honest "half-way" is a write in flight when meshjoin dies. When meshjoin is not root it
// writes through `sudo meshjoin hosts-apply`; a sudo on PATH that holds the write back until
// meshjoin has been killed (and then lets it land, or not) puts the kill exactly there,
// without a test hook in the binary. hosts-apply writes only the system hosts file, so this
// test writes the real /etc/hosts (as root, like CI) and checks it byte-identical at the end.
func TestKill9HalfWayThroughTheHostsWrite(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run as root: this test writes the real /etc/hosts")
		}
		t.Skip("needs root to write /etc/hosts (CI runs it)")
	}
	const systemHosts = "/etc/hosts"
	before, err := os.ReadFile(systemHosts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if after, _ := os.ReadFile(systemHosts); !bytes.Equal(before, after) {
			t.Errorf("/etc/hosts changed:\nbefore %q\nafter  %q", before, after)
			os.WriteFile(systemHosts, before, 0o644) // give the machine its file back
		}
	})
	for _, lands := range []bool{true, false} {
		name := "write lands after the kill"
		if !lands {
			name = "write never lands"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			dir := t.TempDir()
			started, finished := filepath.Join(dir, "started"), filepath.Join(dir, "finished")
			// Owner checks (cleanup) pass at once; the write waits for the kill.
			finish := "\"$@\""
			if !lands {
				finish = "cat >/dev/null"
			}
			script := "#!/bin/sh\nif [ -e " + started + " ]; then exec \"$@\"; fi\ntouch " + started +
				"\nwhile kill -0 $PPID 2>/dev/null; do sleep 0.05; done\n" + finish + "\ntouch " + finished + "\n"
			if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			e.extraEnv = []string{"PATH=" + dir + ":" + os.Getenv("PATH")}
			r := e.startUntil("✓ config", withoutFlag(t, setFlag(t, e.faultJoinArgs("ratings.bookinfo"), "--sudo", "always"), "--hosts-file")...)
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if _, err := os.Stat(started); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the hosts write never started:\n%s", r.stderr)
				}
			}
			r.kill9()
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if _, err := os.Stat(finished); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the held-back write did not finish after the kill")
				}
			}
			b, _ := os.ReadFile(systemHosts)
			if lands != strings.Contains(string(b), "# BEGIN meshjoin") {
				t.Fatalf("after the kill the hosts file is:\n%s", b)
			}
			start := time.Now()
			e.cleanUpAfterKill("leave")
			t.Logf("%s: leave restored the machine in %s", name, time.Since(start).Round(time.Millisecond))
			e.stateDirClean()
		})
	}
}

// cleanUpAfterKill runs `leave`, or a join of another service that must clean up first and
// is then interrupted.
func (e *env) cleanUpAfterKill(how string) {
	e.t.Helper()
	e.extraEnv = nil
	if how == "leave" {
		if code, out, errOut := e.run(e.args("leave")...); code != 0 {
			e.t.Fatalf("leave: %d %s %s", code, out, errOut)
		}
		return
	}
	r := e.startJoin(e.faultJoinArgs("web.bookinfo")...)
	if b, _ := os.ReadFile(e.hostsFile); strings.Count(string(b), "# BEGIN meshjoin") != 1 || strings.Contains(string(b), "ratings") {
		e.t.Errorf("the next join's hosts file:\n%s", b)
	}
	r.interrupt(e.t)
}

// stateField reads one string field of a state file without the session package's types.
func stateField(b []byte, field string) string {
	key := `"` + field + `": "`
	i := strings.Index(string(b), key)
	if i < 0 {
		return ""
	}
	rest := string(b[i+len(key):])
	return rest[:strings.IndexByte(rest, '"')]
}

// withoutFlag drops a flag and its value from args.
func withoutFlag(t *testing.T, args []string, flag string) []string {
	t.Helper()
	for i := range args {
		if args[i] == flag && i+1 < len(args) {
			return append(append([]string(nil), args[:i]...), args[i+2:]...)
		}
	}
	t.Fatalf("flag %s not in %v", flag, args)
	return nil
}

// kill -9 while Envoy's container is being made: the state file is written just before the
// engine is asked (image check, creation, bootstrap, start), and the kill lands at several
// points after it, mostly while the engine still creates the container (hundreds of
// milliseconds on vfs), which it finishes after meshjoin died. `leave`, or the next join,
// must wait for that creation and remove its container (envoy/docker_claim.go).
func TestKill9DuringEnvoyStart(t *testing.T) {
	for _, after := range []time.Duration{0, 30 * time.Millisecond, 80 * time.Millisecond} {
		for _, then := range []string{"leave", "join"} {
			t.Run(fmt.Sprintf("%s after the state file then %s", after, then), func(t *testing.T) {
				e := newEnv(t)
				r := e.startUntil("", e.faultJoinArgs("ratings.bookinfo")...)
				statePath := filepath.Join(e.stateDir, "state.json")
				for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(time.Millisecond) {
					if _, err := os.Stat(statePath); err == nil {
						break
					}
					select {
					case <-r.done:
						t.Fatalf("join exited before writing its state file:\n%s", r.stderr)
					default:
					}
					if time.Now().After(deadline) {
						t.Fatalf("no state file in 90s:\n%s", r.stderr)
					}
				}
				time.Sleep(after) // where the kill lands; the checks below hold wherever it does
				r.kill9()
				b, _ := os.ReadFile(statePath)
				t.Logf("killed %s after the state file; container recorded: %q", after, stateField(b, "containerID"))
				e.cleanUpAfterKill(then)
				e.stateDirClean()
			})
		}
	}
}
