//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/testbed"
)

// bgAddressRange keeps these tests' listeners off the default range, which the other
// end-to-end tests (possibly another checkout's, at the same time) use.
const bgAddressRange = "127.79.0.0/16"

// bgArgs are the flags of up and run against the testbed, with this env's hosts file.
func (e *env) bgArgs(command string, rest ...string) []string {
	return e.args(append([]string{command, "--identity", "dev/alice", "--hosts-file", e.hostsFile,
		"--envoy-image", testbed.EnvoyImage, "--sudo", "never", "--wait", "90s", "--address-range", bgAddressRange}, rest...)...)
}

// background is an env whose background session is ended (if a test left one) before the
// env checks that nothing is left behind.
func newBackgroundEnv(t *testing.T) *env {
	e := newEnv(t)
	t.Cleanup(func() {
		if _, err := os.Stat(daemon.SocketPath(e.stateDir)); err == nil {
			e.run(e.args("down")...)
		}
		e.assertNoDaemon()
	})
	return e
}

// up runs `meshjoin up` and checks it printed exactly the one ready line; it returns the
// session ID.
func (e *env) up(services ...string) string {
	e.t.Helper()
	code, out, errOut := e.run(e.bgArgs("up", services...)...)
	if code != 0 {
		e.t.Fatalf("up %v: exit %d\n%s%s\nlog:\n%s", services, code, out, errOut, e.daemonLog())
	}
	var n int
	var id string
	if _, err := fmt.Sscanf(out, "meshjoin: ready: %d services (%12s)\n", &n, &id); err != nil || strings.Count(out, "\n") != 1 {
		e.t.Fatalf("up printed %q, want exactly one line `meshjoin: ready: N services (ID)`", out)
	}
	return id
}

func (e *env) daemonLog() string {
	b, _ := os.ReadFile(daemon.LogPath(e.stateDir))
	return string(b)
}

// status reads `meshjoin status -o json` (the daemon's when one runs).
func (e *env) bgStatus() daemon.Status {
	e.t.Helper()
	code, out, errOut := e.run(e.args("status", "-o", "json")...)
	if code != 0 {
		e.t.Fatalf("status: exit %d\n%s", code, errOut)
	}
	var st daemon.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("status -o json: %v\n%s", err, out)
	}
	return st
}

// assertNoDaemon checks no background session of this env is left: no socket, and no
// process whose command line names the env's state directory.
func (e *env) assertNoDaemon() {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		pids := processesMentioning(e.stateDir)
		_, sockErr := os.Stat(daemon.SocketPath(e.stateDir))
		if len(pids) == 0 && errors.Is(sockErr, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			var cmdlines []string
			for _, p := range pids {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
				cmdlines = append(cmdlines, strings.ReplaceAll(string(b), "\x00", " "))
				syscall.Kill(p, syscall.SIGKILL)
			}
			e.t.Errorf("background session left behind: %q, socket: %v\nlog:\n%s", cmdlines, sockErr, e.daemonLog())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func processesMentioning(s string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, d := range entries {
		var pid int
		if _, err := fmt.Sscanf(d.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// hostsAddr is the address the env's hosts file gives name (the first line naming it, as a
// resolver reads it).
func (e *env) hostsAddr(name string) string {
	e.t.Helper()
	b, err := os.ReadFile(e.hostsFile)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(strings.SplitN(line, "#", 2)[0])
		for _, n := range f[min(1, len(f)):] {
			if n == name {
				return f[0]
			}
		}
	}
	e.t.Fatalf("%s not in the hosts file:\n%s", name, b)
	return ""
}

// curlName calls http://name:port/path from another process, curl, with name resolved as the
// env's hosts file says (the system resolver reads /etc/hosts, which tests leave alone).
func (e *env) curlName(name string, port int, path string) (echo, error) {
	addr := e.hostsAddr(name)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--fail", "--max-time", "10", "--resolve", fmt.Sprintf("%s:%d:%s", name, port, addr),
		fmt.Sprintf("http://%s:%d%s", name, port, path)).CombinedOutput()
	if err != nil {
		return echo{}, fmt.Errorf("curl: %v: %s", err, out)
	}
	var r echo
	return r, json.Unmarshal(out, &r)
}

// certSerial is the serial number of the workload certificate the local Envoy holds, in hex
// without leading zeros (Envoy pads it to whole bytes, a big.Int printed with %x does not: a 1-in-16
// mismatch otherwise).
func (e *env) certSerial() string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body, err := e.admin().Get(ctx, http.DefaultClient, "/certs")
	if err != nil {
		e.t.Fatalf("envoy /certs: %v", err)
	}
	var certs struct {
		Certificates []struct {
			CertChain []struct {
				SerialNumber string `json:"serial_number"`
			} `json:"cert_chain"`
		} `json:"certificates"`
	}
	if err := json.Unmarshal(body, &certs); err != nil {
		e.t.Fatalf("envoy /certs: %v\n%s", err, body)
	}
	for _, c := range certs.Certificates {
		if len(c.CertChain) > 0 {
			return strings.TrimLeft(strings.ToLower(c.CertChain[0].SerialNumber), "0")
		}
	}
	e.t.Fatalf("envoy holds no workload certificate:\n%s", body)
	return ""
}

// The everyday flow: up (once ready the name answers from another process), a second up
// that has nothing to do, up adding a service live, down --grace then up within it keeping
// the session and its certificate, down; status through the control socket on the way.
func TestUpAddDownGraceUp(t *testing.T) {
	e := newBackgroundEnv(t)
	id := e.up("ratings.bookinfo")
	r, err := e.curlName("ratings.bookinfo", 9080, "/ratings/0")
	if err != nil {
		t.Fatalf("ratings by name right after up: %v", err)
	}
	if r.Caller != "spiffe://"+e.tb.TrustDomain+"/ns/dev/sa/alice" {
		t.Errorf("ratings saw caller %q", r.Caller)
	}
	st := e.bgStatus()
	if !st.Ready() || st.State.ID != id || !st.Daemon.Kept || len(st.Services) != 1 {
		t.Fatalf("status after up: %+v", st.Daemon)
	}
	if code, _, errOut := e.run(e.args("status", "--exit-code")...); code != 0 {
		t.Errorf("status --exit-code: %d\n%s", code, errOut)
	}
	if again := e.up("ratings.bookinfo"); again != id {
		t.Errorf("second up: session %s, want %s", again, id)
	}
	if again := e.up("reviews.bookinfo"); again != id {
		t.Errorf("up adding reviews: session %s, want %s", again, id)
	}
	if _, err := e.curlName("reviews.bookinfo", 9080, "/reviews/0"); err != nil {
		t.Fatalf("reviews by name after adding it: %v", err)
	}
	if _, err := e.curlName("ratings.bookinfo", 9080, "/ratings/0"); err != nil {
		t.Fatalf("ratings after adding reviews: %v", err)
	}
	serial := e.certSerial()

	// The running session is reused for what it is: a flag saying otherwise is refused, and
	// nothing is added.
	for flag, args := range map[string][]string{
		"--mode proxy":       append(e.bgArgs("up", "details.bookinfo"), "--mode", "proxy"),
		"--identity dev/bob": setFlag(t, e.bgArgs("up", "details.bookinfo"), "--identity", "dev/bob"),
	} {
		if code, _, errOut := e.run(args...); code != 2 || !strings.Contains(errOut, "meshjoin down") {
			t.Errorf("up %s into the running session: exit %d, want 2 naming `meshjoin down`\n%s", flag, code, errOut)
		}
	}
	if st := e.bgStatus(); len(st.Services) != 2 {
		t.Errorf("a refused up changed the session: %d services, want 2", len(st.Services))
	}

	code, out, errOut := e.run(e.args("down", "--grace", "5s")...)
	if code != 0 || !strings.Contains(out, "ends at") {
		t.Fatalf("down --grace: exit %d\n%s%s", code, out, errOut)
	}
	if again := e.up(); again != id {
		t.Errorf("up within the grace period: session %s, want %s", again, id)
	}
	if got := e.certSerial(); got != serial {
		t.Errorf("certificate serial %s after down --grace + up, want the same %s", got, serial)
	}
	if st := e.bgStatus(); !st.Daemon.EndsAt.IsZero() {
		t.Errorf("the pending down was not cancelled: ends at %s", st.Daemon.EndsAt)
	}

	code, out, errOut = e.run(e.args("down")...)
	if code != 0 || !strings.Contains(out, "ended") {
		t.Fatalf("down: exit %d\n%s%s", code, out, errOut)
	}
	e.assertNoDaemon()
	if code, _, _ := e.run(e.args("status", "--exit-code")...); code != 1 {
		t.Errorf("status --exit-code without a session: %d, want 1", code)
	}
}

// run passes on its command's exit status, gives it the services' environment, and ends the
// session it started.
func TestRunExitStatusAndEnvironment(t *testing.T) {
	e := newBackgroundEnv(t)
	code, out, errOut := e.run(e.bgArgs("run", "ratings.bookinfo", "--", "sh", "-c",
		`echo "$RATINGS_SERVICE_HOST:$RATINGS_SERVICE_PORT $RATINGS_SERVICE_PORT_HTTP $MESHJOIN_IDENTITY"; exit 7`)...)
	if code != 7 {
		t.Fatalf("run -- sh -c 'exit 7': exit %d\n%s%s\nlog:\n%s", code, out, errOut, e.daemonLog())
	}
	f := strings.Fields(out)
	if len(f) != 3 || !strings.HasPrefix(f[0], "127.79.") || !strings.HasSuffix(f[0], ":9080") || f[1] != "9080" || f[2] != "spiffe://"+e.tb.TrustDomain+"/ns/dev/sa/alice" {
		t.Errorf("the command saw %q", out)
	}
	e.assertNoDaemon()
}

// SIGTERM to run ends its command, and run exits as a shell would (128+15).
func TestRunForwardsSIGTERM(t *testing.T) {
	e := newBackgroundEnv(t)
	cmd := exec.Command(binary(t), e.bgArgs("run", "ratings.bookinfo", "--", "sleep", "60")...)
	var errOut syncBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 90*time.Second, "sleep to start", func() bool { return strings.Contains(errOut.String(), "for sleep (pid") })
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 143 {
		t.Fatalf("run after SIGTERM: %v, want exit 143\n%s", err, errOut.String())
	}
	if pids := processesMentioning("sleep\x0060"); len(pids) > 0 {
		t.Errorf("sleep 60 still runs: %v", pids)
	}
	e.assertNoDaemon()
}

// Two runs share one session; the second to finish ends it.
func TestConcurrentRunsShareSession(t *testing.T) {
	e := newBackgroundEnv(t)
	dir := t.TempDir()
	start := func(name string) (*exec.Cmd, *syncBuffer) {
		// Each waits for its own file, then says which session it had.
		cmd := exec.Command(binary(t), e.bgArgs("run", "ratings.bookinfo", "--", "sh", "-c",
			fmt.Sprintf(`while [ ! -e %s/%s ]; do sleep 0.05; done; echo "$MESHJOIN_SESSION"`, dir, name))...)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, out
	}
	a, aOut := start("a")
	b, bOut := start("b")
	waitUntil(t, 90*time.Second, "both runs to hold the session", func() bool {
		return strings.Contains(aOut.String(), "for sh (pid") && strings.Contains(bOut.String(), "for sh (pid")
	})
	if st := e.bgStatus(); st.Daemon.Runs != 2 {
		t.Fatalf("status says %d runs, want 2", st.Daemon.Runs)
	}
	os.WriteFile(filepath.Join(dir, "a"), nil, 0o644)
	if err := a.Wait(); err != nil {
		t.Fatalf("first run: %v\n%s", err, aOut)
	}
	st := e.bgStatus()
	if !st.Ready() || st.Daemon.Runs != 1 {
		t.Fatalf("after the first run finished: %+v", st.Daemon)
	}
	if _, err := e.curlName("ratings.bookinfo", 9080, "/ratings/0"); err != nil {
		t.Fatalf("ratings while the second run holds the session: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "b"), nil, 0o644)
	if err := b.Wait(); err != nil {
		t.Fatalf("second run: %v\n%s", err, bOut)
	}
	lastLine := func(s string) string { f := strings.Fields(s); return f[len(f)-1] }
	if lastLine(aOut.String()) != lastLine(bOut.String()) || lastLine(aOut.String()) != st.State.ID {
		t.Errorf("the runs had sessions %q and %q, want both %s", aOut, bOut, st.State.ID)
	}
	e.assertNoDaemon()
}

// Bad input to the background commands: a clear message, a Next: line, the documented exit
// code, and nothing left behind.
func TestBackgroundBadInput(t *testing.T) {
	e := newBackgroundEnv(t)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"run without --", e.bgArgs("run", "sh", "-c", "true"), exitUsage, "run needs the command after --"},
		{"down without a session", e.args("down"), exitConflict, "no meshjoin session is running"},
		{"env without a session", e.args("env"), exitConflict, "no meshjoin session is running"},
		{"up with an unknown service", e.bgArgs("up", "nosuch.bookinfo"), exitUsage, "nosuch.bookinfo"},
		{"up without services", e.bgArgs("up"), exitUsage, "no services were named"},
		{"env with an unknown format", e.args("env", "--format", "xml"), exitUsage, `unknown --format "xml"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := e.run(c.args...)
			if code != c.code || !strings.Contains(errOut, c.msg) || !strings.Contains(errOut, "\nNext: ") {
				t.Errorf("exit %d, want %d, with %q and a Next: line:\n%s", code, c.code, c.msg, errOut)
			}
			e.assertNoDaemon()
		})
	}
	// With a session running, an unknown service changes nothing.
	id := e.up("ratings.bookinfo")
	code, _, errOut := e.run(e.bgArgs("up", "nosuch.bookinfo")...)
	if code != exitUsage || !strings.Contains(errOut, "Next: ") {
		t.Errorf("up nosuch with a session: exit %d\n%s", code, errOut)
	}
	if st := e.bgStatus(); !st.Ready() || st.State.ID != id || len(st.Services) != 1 {
		t.Errorf("after a refused up: %+v", st.Daemon)
	}
	if code, out, errOut := e.run(e.args("down")...); code != 0 {
		t.Fatalf("down: %d\n%s%s", code, out, errOut)
	}
}

func waitUntil(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
