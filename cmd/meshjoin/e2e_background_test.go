//go:build !windows

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/testbed"
)

// The background session outlives the terminal that started it: up under tmux, the tmux
// server killed (its shell and processes get SIGHUP), the names still answer.
func TestUpSurvivesItsTerminal(t *testing.T) {
	e := newBackgroundEnv(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "up.out")
	sock := filepath.Join(dir, "tmux.sock")
	line := shellQuote(append([]string{binary(t)}, e.bgArgs("up", "ratings.bookinfo")...)) + " >" + out + " 2>&1; sleep 600"
	if b, err := exec.Command("tmux", "-S", sock, "new-session", "-d", "-s", "up", line).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, b)
	}
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	waitUntil(t, 90*time.Second, "up in tmux", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), "meshjoin: ready: 1 services")
	})
	if b, err := exec.Command("tmux", "-S", sock, "kill-server").CombinedOutput(); err != nil {
		t.Fatalf("kill tmux: %v\n%s", err, b)
	}
	if _, err := e.curlName("ratings.bookinfo", 9080, "/ratings/0"); err != nil {
		t.Fatalf("ratings after the terminal closed: %v\nlog:\n%s", err, e.daemonLog())
	}
	if st := e.bgStatus(); !st.Ready() {
		t.Fatalf("status after the terminal closed: %+v", st.Daemon)
	}
	if code, _, errOut := e.run(e.args("down")...); code != 0 {
		t.Fatalf("down: %d\n%s", code, errOut)
	}
}

// Every format of `meshjoin env` is read back by the tool it is for and says the same, with
// Kubernetes' names; -o writes the file.
func TestEnvFormatsReadBack(t *testing.T) {
	e := newBackgroundEnv(t)
	id := e.up("ratings.bookinfo", "reviews.bookinfo")
	dir := t.TempDir()
	write := func(format string) string {
		path := filepath.Join(dir, ".meshjoin", format)
		if code, out, errOut := e.run(e.args("env", "--format", format, "-o", path)...); code != 0 || out != "" {
			t.Fatalf("env --format %s: exit %d\n%s%s", format, code, out, errOut)
		}
		return path
	}
	var want map[string]string
	if err := json.Unmarshal(must(os.ReadFile(write("json"))), &want); err != nil {
		t.Fatalf("json: %v", err)
	}
	reviews := e.hostsAddr("reviews.bookinfo.svc.cluster.local")
	for k, v := range map[string]string{
		"RATINGS_SERVICE_HOST": e.hostsAddr("ratings.bookinfo.svc.cluster.local"), "RATINGS_SERVICE_PORT": "9080", "RATINGS_SERVICE_PORT_HTTP": "9080",
		"REVIEWS_SERVICE_HOST": reviews, "REVIEWS_SERVICE_PORT_HTTP_ADMIN": "9081", "REVIEWS_PORT": "tcp://" + reviews + ":9080",
		"REVIEWS_PORT_9081_TCP_ADDR": reviews, "MESHJOIN_SESSION": id, "MESHJOIN_IDENTITY": "spiffe://" + e.tb.TrustDomain + "/ns/dev/sa/alice",
	} {
		if want[k] != v {
			t.Errorf("%s = %q, want %q", k, want[k], v)
		}
	}
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	// printenv of each name, after the file is read by the shell.
	shellRead := func(shell, path string) map[string]string {
		script := fmt.Sprintf("set -a; . %s; for n in %s; do printf '%%s=%%s\\n' \"$n\" \"$(printenv \"$n\")\"; done", path, strings.Join(names, " "))
		out, err := exec.Command(shell, "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%s reading %s: %v\n%s", shell, path, err, out)
		}
		return parseLines(string(out))
	}
	compare := func(what string, got map[string]string) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", what, k, got[k], v)
			}
		}
	}
	compare("sh", shellRead("sh", write("sh")))
	compare("bash source of dotenv", shellRead("bash", write("dotenv")))
	// docker run --env-file: the CLI parses the file; the created container shows the result.
	name := "meshjoin-envtest-" + id
	if out, err := exec.Command("docker", "create", "--name", name, "--env-file", write("docker"), testbed.EnvoyImage).CombinedOutput(); err != nil {
		t.Fatalf("docker create --env-file: %v\n%s", err, out)
	}
	defer exec.Command("docker", "rm", "-f", name).Run()
	out, err := exec.Command("docker", "inspect", "--format", "{{json .Config.Env}}", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	json.Unmarshal(out, &env)
	compare("docker --env-file", parseLines(strings.Join(env, "\n")))
	// PowerShell is not installed here: the file is checked for its one form.
	for _, l := range strings.Split(strings.TrimSpace(string(must(os.ReadFile(write("powershell"))))), "\n") {
		if !strings.HasPrefix(l, "$env:") || !strings.Contains(l, " = '") || !strings.HasSuffix(l, "'") {
			t.Errorf("powershell line %q", l)
		}
	}
	if code, _, errOut := e.run(e.args("down")...); code != 0 {
		t.Fatalf("down: %d\n%s", code, errOut)
	}
}

func parseLines(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// The control socket answers only its user (and root): another user is kept out by the
// directory's mode, and, should someone open the directory and the socket up, by the peer
// uid check (SO_PEERCRED).
func TestControlSocketRefusesAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test creates a user: run it as root (CI does)")
	}
	e := newBackgroundEnv(t)
	name := fmt.Sprintf("mjtest%d", os.Getpid()%100000)
	if out, err := exec.Command("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// The test binary's directory is private: the other user runs a copy.
	bin, err := os.MkdirTemp("", "meshjoin-other-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	os.Chmod(bin, 0o755)
	exe := filepath.Join(bin, "meshjoin")
	if err := os.WriteFile(exe, must(os.ReadFile(binary(t))), 0o755); err != nil {
		t.Fatal(err)
	}
	asOther := func() (int, string) {
		cmd := exec.Command(exe, "status", "--state-dir", e.stateDir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = []string{"HOME=/", "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}
	e.up("ratings.bookinfo")
	if code, out := asOther(); code != exitPermission || !strings.Contains(out, "Next: ") {
		t.Errorf("another user through the 0700 directory: exit %d, want %d\n%s", code, exitPermission, out)
	}
	// Open the way: parents traversable, state directory and socket open to all.
	for d := e.stateDir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	os.Chmod(daemon.SocketPath(e.stateDir), 0o666)
	code, out := asOther()
	if code != exitPermission || !strings.Contains(out, "refused: the session belongs to uid 0") || !strings.Contains(out, "(you are uid "+u.Uid+")") {
		t.Errorf("another user through an open socket: exit %d, want %d and the peer check's refusal\n%s", code, exitPermission, out)
	}
	if code, _, errOut := e.run(e.args("down")...); code != 0 {
		t.Fatalf("down: %d\n%s", code, errOut)
	}
}

// up takes its services from the project file's profile; an unknown profile is refused
// before anything starts.
func TestUpWithProfile(t *testing.T) {
	e := newBackgroundEnv(t)
	e.writeProject("identity: dev/alice\nservices: [reviews.bookinfo]\nprofiles:\n  rate: {services: [ratings.bookinfo]}\n", "")
	code, _, errOut := e.run(e.bgArgs("up", "--profile", "nosuch")...)
	if code != exitUsage || !strings.Contains(errOut, "nosuch") || !strings.Contains(errOut, "Next: ") {
		t.Errorf("up --profile nosuch: exit %d, want %d\n%s", code, exitUsage, errOut)
	}
	e.assertNoDaemon()
	e.up("--profile", "rate")
	st := e.bgStatus()
	if len(st.Services) != 1 || st.Services[0].Key != "ratings.bookinfo" {
		t.Fatalf("up --profile rate joined %+v, want ratings.bookinfo", st.Services)
	}
	// `leave` ends a background session too (SIGTERM to it, as to a foreground join).
	if code, out, errOut := e.run(e.args("leave")...); code != 0 || !strings.Contains(out, "Stopped session "+st.State.ID) {
		t.Fatalf("leave: %d\n%s%s", code, out, errOut)
	}
	e.assertNoDaemon()
}

// With the system's hosts file, `up` returns only once the names resolve through the system
// resolver, and any other process finds them by name: getent, and curl without help. The
// hosts file is byte-identical afterwards.
func TestUpSystemHostsFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test writes /etc/hosts: run it as root (CI does)")
	}
	before, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so checked last: after the env's cleanup ended the session.
	t.Cleanup(func() {
		if after, _ := os.ReadFile("/etc/hosts"); string(after) != string(before) {
			t.Errorf("/etc/hosts changed:\n%q\nwant\n%q", after, before)
		}
	})
	e := newBackgroundEnv(t)
	args := e.args("up", "--identity", "dev/alice", "--envoy-image", testbed.EnvoyImage, "--sudo", "never", "--wait", "90s",
		"--address-range", bgAddressRange, "ratings.bookinfo")
	// Another checkout's TUI test may hold /etc/hosts for a while: wait for it.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		code, out, errOut := e.run(args...)
		if code == 0 {
			if !strings.HasPrefix(out, "meshjoin: ready: 1 services (") {
				t.Fatalf("up printed %q", out)
			}
			break
		}
		if !strings.Contains(errOut, "locked") || time.Now().After(deadline) {
			t.Fatalf("up with /etc/hosts: exit %d\n%s%s\nlog:\n%s", code, out, errOut, e.daemonLog())
		}
		time.Sleep(time.Second)
	}
	out, err := exec.Command("getent", "hosts", "ratings.bookinfo").Output()
	if err != nil || !strings.HasPrefix(string(out), "127.79.") {
		t.Fatalf("getent hosts ratings.bookinfo: %v %q", err, out)
	}
	body, err := exec.Command("curl", "-sS", "--fail", "--max-time", "10", "http://ratings.bookinfo:9080/ratings/0").CombinedOutput()
	var r echo
	if err != nil || json.Unmarshal(body, &r) != nil || r.Service != "ratings.bookinfo" {
		t.Fatalf("curl by name: %v\n%s", err, body)
	}
	if code, _, errOut := e.run(e.args("down")...); code != 0 {
		t.Fatalf("down: %d\n%s", code, errOut)
	}
}

// `meshjoin tui` with a background session shows its dashboard through the control socket:
// q detaches (the session keeps running), x ends it.
func TestTUIAttachesToBackgroundSession(t *testing.T) {
	e := newBackgroundEnv(t)
	id := e.up("ratings.bookinfo")
	exitFile := filepath.Join(t.TempDir(), "exit")
	start := func() *tmuxTerm {
		args := append([]string{binary(t)}, e.args("tui")...)
		tm := startTmux(t, 110, 30, fmt.Sprintf("NO_COLOR=1 %s; echo $? > %s; echo EXITED; exec sh", shellQuote(args), exitFile))
		tm.waitText("q detaches", 30*time.Second)
		tm.waitText("ratings.bookinfo", 10*time.Second)
		return tm
	}
	tm := start()
	if st := e.bgStatus(); st.Daemon.Clients != 1 {
		t.Errorf("the attached TUI is not counted as a client: %+v", st.Daemon)
	}
	tm.keys("q")
	tm.waitText("keeps running", 30*time.Second)
	if st := e.bgStatus(); !st.Ready() || st.State.ID != id {
		t.Fatalf("after q: %+v", st.Daemon)
	}
	if _, err := e.curlName("ratings.bookinfo", 9080, "/ratings/0"); err != nil {
		t.Fatalf("ratings after detaching: %v", err)
	}
	exec.Command("tmux", "-S", tm.socket, "kill-server").Run()
	tm = start()
	tm.keys("x")
	tm.waitText("Ended the background session", 60*time.Second)
	if b, _ := os.ReadFile(exitFile); strings.TrimSpace(string(b)) != "0" {
		t.Errorf("tui exit %q", b)
	}
	exec.Command("tmux", "-S", tm.socket, "kill-server").Run() // its command line names the state dir
	e.assertNoDaemon()
}

// A background session nobody watches heals itself: its Envoy container killed, a new one
// serves the names again with the same certificate, and status counts the restart.
func TestBackgroundSessionHealsEnvoy(t *testing.T) {
	e := newBackgroundEnv(t)
	id := e.up("ratings.bookinfo")
	serial := e.certSerial()
	old := e.state().ContainerID
	if out, err := exec.Command("docker", "kill", old).CombinedOutput(); err != nil {
		t.Fatalf("docker kill: %v\n%s", err, out)
	}
	killed := time.Now()
	waitUntil(t, 60*time.Second, "ratings to answer again", func() bool {
		st := e.state()
		if st.ContainerID == old || st.ContainerID == "" {
			return false
		}
		_, err := e.curlName("ratings.bookinfo", 9080, "/ratings/0")
		return err == nil
	})
	t.Logf("ratings answered again %s after the container was killed", time.Since(killed).Round(10*time.Millisecond))
	// The restart is counted once every listener is confirmed; requests may pass a moment before.
	waitUntil(t, 60*time.Second, "status to count the restart", func() bool { return e.bgStatus().State.EnvoyRestarts > 0 })
	st := e.bgStatus()
	if !st.Ready() || st.State.ID != id || st.State.EnvoyRestarts != 1 {
		t.Errorf("after the restart: ready %v, session %s (want %s), restarts %d", st.Ready(), st.State.ID, id, st.State.EnvoyRestarts)
	}
	if got := e.certSerial(); got != serial {
		t.Errorf("certificate %s after the restart, want the same %s", got, serial)
	}
	if code, _, errOut := e.run(e.args("down")...); code != 0 {
		t.Fatalf("down: %d\n%s", code, errOut)
	}
}

// The TUI's own session moves to the background on b: the TUI leaves, `meshjoin up` starts
// the same services in a background session, and the names answer after the TUI is gone.
func TestTUIKeepsSessionInBackground(t *testing.T) {
	e := newBackgroundEnv(t)
	args := append([]string{binary(t)}, e.args("tui", "--identity", "dev/alice", "--hosts-file", e.hostsFile,
		"--envoy-image", testbed.EnvoyImage, "--sudo", "never", "--address-range", bgAddressRange)...)
	exitFile := filepath.Join(t.TempDir(), "exit")
	tm := startTmux(t, 110, 30, fmt.Sprintf("NO_COLOR=1 %s; echo $? > %s; echo EXITED; exec sh", shellQuote(args), exitFile))
	tm.waitText("ledger.payments", 90*time.Second)
	joinRatings(tm)
	tm.keys("b")
	tm.waitText("meshjoin: ready: 1 services", 90*time.Second)
	tm.waitText("EXITED", 10*time.Second)
	if b, _ := os.ReadFile(exitFile); strings.TrimSpace(string(b)) != "0" {
		t.Errorf("tui exit %q:\n%s", b, tm.screen())
	}
	exec.Command("tmux", "-S", tm.socket, "kill-server").Run()
	st := e.bgStatus()
	if !st.Ready() || len(st.Services) != 1 || st.Services[0].Key != "ratings.bookinfo" || !st.Daemon.Kept {
		t.Fatalf("background session after b: %+v %+v", st.Daemon, st.Services)
	}
	if _, err := e.curlName("ratings.bookinfo", 9080, "/ratings/0"); err != nil {
		t.Fatalf("ratings in the background: %v", err)
	}
	if code, _, errOut := e.run(e.args("down")...); code != 0 {
		t.Fatalf("down: %d\n%s", code, errOut)
	}
}

// up --wait too short for a start (an Envoy container alone takes longer): exit 4 naming what
// it waited for; the session goes on starting in the background and down ends it (or says it
// had failed to start, should its addresses be taken by another checkout's test).
func TestUpWaitTimesOut(t *testing.T) {
	e := newBackgroundEnv(t)
	args := e.bgArgs("up", "ratings.bookinfo")
	args = append(args, "--wait", "200ms") // the last --wait wins
	code, out, errOut := e.run(args...)
	if code != exitUnreachable || out != "" || !strings.Contains(errOut, "not ready after 200ms: waiting for") || !strings.Contains(errOut, "Next: ") {
		t.Fatalf("up --wait 200ms: exit %d, want %d, no ready line, what it waited for\n%s%s", code, exitUnreachable, out, errOut)
	}
	if code, out, errOut := e.run(e.args("down")...); code != 0 {
		t.Fatalf("down after a timed-out up: %d\n%s%s", code, out, errOut)
	}
	e.assertNoDaemon()
}
