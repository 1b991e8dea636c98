//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/doctor"
	"github.com/meshjoin/meshjoin/helper"
	"github.com/meshjoin/meshjoin/testbed"
)

// The privileged helper's end-to-end test: the helper runs as root (as its service would, with
// a test socket and configuration), meshjoin runs as an unprivileged user created for the test,
// with no sudo on its PATH. Join and up succeed and their names resolve through the real
// /etc/hosts, which is byte-identical afterwards; the helper refuses that user everything
// outside its rules, and refuses a user outside the allowed group outright.

const (
	helperGroup     = "mjhelpertest"
	helperUser      = "mjhelperin"
	helperOutsider  = "mjhelperout"
	helperTestRange = "127.94.0.0/16"
)

// helperAccount is an account created for the test.
type helperAccount struct {
	name     string
	uid, gid uint32
	groups   []uint32
	home     string
}

// helperWorld is the helper as root and the accounts that talk to it.
type helperWorld struct {
	t       *testing.T
	dir     string // 0755: the binary, the socket, the configuration
	bin     string // meshjoin, executable by everyone
	socket  string
	inside  helperAccount
	outside helperAccount
	log     *syncBuffer
	proc    *os.Process
	done    chan struct{}
}

func newHelperWorld(t *testing.T) *helperWorld {
	t.Helper()
	w := newHelperAccounts(t)
	dir := w.dir
	g, err := user.LookupGroup(helperGroup)
	if err != nil {
		t.Fatal(err)
	}
	cfg := helper.Config{Group: helperGroup, GID: g.Gid, Range: netip.MustParsePrefix(helperTestRange)}
	config := filepath.Join(dir, "helper.json")
	if err := cfg.Write(config); err != nil {
		t.Fatal(err)
	}
	w.serve(w.bin, "--socket", w.socket, "--config", config)
	return w
}

// newHelperAccounts makes the test's directory, a copy of meshjoin everyone may run, and the
// accounts (removed in Cleanup): inside, in the helper's group; outside, not.
func newHelperAccounts(t *testing.T) *helperWorld {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the helper test creates users and runs the helper as root: run it as root (CI does)")
	}
	dir, err := os.MkdirTemp("", "meshjoin-helper-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := &helperWorld{t: t, dir: dir, bin: filepath.Join(dir, "meshjoin"), socket: filepath.Join(dir, "run", "helper.sock"), log: &syncBuffer{}}
	data, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	removeAccounts() // left by an earlier run that was killed
	t.Cleanup(removeAccounts)
	mustRun(t, "groupadd", helperGroup)
	// The inside user may use Docker (the Envoy container), as a developer on a workstation.
	w.inside = w.addUser(helperUser, "-G", helperGroup+",docker")
	w.outside = w.addUser(helperOutsider, "-G", "docker")
	return w
}

// serve runs `bin helper serve args...` as root, as the service would, until Cleanup (or
// stop), and waits for its socket.
func (w *helperWorld) serve(bin string, args ...string) {
	t := w.t
	t.Helper()
	cmd := exec.Command(bin, append([]string{"helper", "serve"}, args...)...)
	cmd.Stdout, cmd.Stderr = w.log, w.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	w.proc, w.done = cmd.Process, done
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
		if t.Failed() {
			t.Logf("helper log:\n%s", w.log)
		}
	})
	waitUntil(t, 30*time.Second, "the helper to listen", func() bool {
		_, err := os.Stat(w.socket)
		return err == nil
	})
}

func removeAccounts() {
	for _, u := range []string{helperUser, helperOutsider} {
		exec.Command("userdel", "-r", "-f", u).Run()
	}
	exec.Command("groupdel", helperGroup).Run()
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func (w *helperWorld) addUser(name string, extra ...string) helperAccount {
	home := filepath.Join(w.dir, "home-"+name)
	mustRun(w.t, "useradd", append([]string{"-m", "-d", home, "-s", "/bin/sh"}, append(extra, name)...)...)
	u, err := user.Lookup(name)
	if err != nil {
		w.t.Fatal(err)
	}
	tu := helperAccount{name: name, home: home}
	tu.uid = uint32(must(strconv.Atoi(u.Uid)))
	tu.gid = uint32(must(strconv.Atoi(u.Gid)))
	for _, g := range must(u.GroupIds()) {
		tu.groups = append(tu.groups, uint32(must(strconv.Atoi(g))))
	}
	return tu
}

// as runs meshjoin (or any program) as u, with a PATH that has no sudo.
func (w *helperWorld) as(u helperAccount, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}}
	emptyBin := filepath.Join(u.home, "bin") // nothing in it: no sudo, no docker CLI
	os.MkdirAll(emptyBin, 0o755)
	cmd.Env = []string{"HOME=" + u.home, "USER=" + u.name, "PATH=" + emptyBin, helper.SocketEnv + "=" + w.socket}
	cmd.Dir = u.home
	return cmd
}

// call sends one request to the helper as u (through curl, run as u) and returns the HTTP
// status and the body.
func (w *helperWorld) call(u helperAccount, method, path, body string) (int, string) {
	w.t.Helper()
	args := []string{"-sS", "--max-time", "20", "--unix-socket", w.socket, "-X", method, "-o", "-", "-w", "\n%{http_code}"}
	if body != "" {
		args = append(args, "-H", "Content-Type: application/json", "--data-binary", body)
	}
	cmd := w.as(u, "/usr/bin/curl", append(args, "http://helper"+path)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("curl as %s: %v\n%s", u.name, err, out)
	}
	s := strings.TrimSpace(string(out))
	i := strings.LastIndexByte(s, '\n')
	return must(strconv.Atoi(s[i+1:])), s[:max(i, 0)]
}

// chownTree gives u a copy of what it needs: the kubeconfig, a state directory.
func (w *helperWorld) give(u helperAccount, path string) {
	w.t.Helper()
	if err := filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, int(u.uid), int(u.gid))
	}); err != nil {
		w.t.Fatal(err)
	}
}

// keepEtcHosts registers a check that /etc/hosts ends byte for byte as it is now. Called
// first in a test, it runs last: after every session and the helper ended.
func keepEtcHosts(t *testing.T) []byte {
	t.Helper()
	before, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if after, _ := os.ReadFile("/etc/hosts"); !bytes.Equal(after, before) {
			t.Errorf("/etc/hosts changed:\n%q\nwant\n%q", after, before)
		}
	})
	return before
}

// kubeconfigFor gives u a copy of the test mesh's developer kubeconfig, in u's home.
func (w *helperWorld) kubeconfigFor(u helperAccount, tb *testbed.Testbed) string {
	w.t.Helper()
	kubeconfig := filepath.Join(u.home, "kubeconfig")
	if err := os.WriteFile(kubeconfig, must(os.ReadFile(tb.DeveloperKubeconfig)), 0o600); err != nil {
		w.t.Fatal(err)
	}
	w.give(u, kubeconfig)
	return kubeconfig
}

func TestHelperUnprivilegedUser(t *testing.T) {
	before := keepEtcHosts(t)
	tb := testbed.Shared(t)
	w := newHelperWorld(t)
	u := w.inside
	if _, err := exec.LookPath("sudo"); err == nil {
		// The user's PATH is what matters: prove sudo is not on it.
		if out, err := w.as(u, "/bin/sh", "-c", "command -v sudo").CombinedOutput(); err == nil {
			t.Fatalf("sudo is on the test user's PATH: %s", out)
		}
	}
	kubeconfig := w.kubeconfigFor(u, tb)
	stateDir := filepath.Join(u.home, "state")

	// helper status, as the user: installed by hand here (no service file), running, allowed.
	out, err := w.as(u, w.bin, "helper", "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "allowed:    yes (you are uid "+strconv.Itoa(int(u.uid))+")") {
		t.Fatalf("helper status as %s: %v\n%s", u.name, err, out)
	}

	// join: the names resolve through the real /etc/hosts, and the block is tagged with the uid.
	joinArgs := []string{"--kubeconfig", kubeconfig, "--state-dir", stateDir, "join", "--identity", "dev/alice",
		"--envoy-image", testbed.EnvoyImage, "--address-range", helperTestRange, "ratings.bookinfo"}
	j := w.startAs(u, joinArgs...)
	sid := w.sessionID(stateDir)
	w.expectResolves("ratings.bookinfo", "127.94.")
	hostsNow := string(must(os.ReadFile("/etc/hosts")))
	if tag := helper.OwnerTag(int(u.uid), sid); !strings.Contains(hostsNow, "# BEGIN meshjoin "+tag+" ") {
		t.Fatalf("/etc/hosts has no block tagged %s:\n%s", tag, hostsNow)
	}
	if body, err := exec.Command("curl", "-sS", "--fail", "--max-time", "10", "http://ratings.bookinfo:9080/ratings/0").CombinedOutput(); err != nil {
		t.Fatalf("curl by name: %v\n%s", err, body)
	}

	// What the same user may not do through the helper, while its block is there.
	entry := func(ip string, names ...string) string {
		return fmt.Sprintf(`{"IP":%q,"Names":%s}`, ip, must(json.Marshal(names)))
	}
	refusals := []struct {
		name, method, path, body string
		status                   int
		says                     string
	}{
		{"another file, named in the request", "POST", "/v1/hosts",
			`{"session":"x1","path":"/etc/passwd","entries":[` + entry("127.94.9.9", "evil.example") + `]}`, 400, "unknown field"},
		{"another endpoint", "POST", "/v1/files?path=/etc/shadow", `{}`, 422, "only edits meshjoin's hosts block"},
		{"a reserved name", "POST", "/v1/hosts", `{"session":"x1","entries":[` + entry("127.94.9.9", "localhost") + `]}`, 422, "reserved"},
		{"a name with a comment", "POST", "/v1/hosts", `{"session":"x1","entries":[` + entry("127.94.9.9", "a#b") + `]}`, 422, "refused"},
		{"an address outside the range", "POST", "/v1/hosts", `{"session":"x1","entries":[` + entry("127.0.0.1", "ok.example") + `]}`, 422, "outside the helper's range"},
		{"an alias outside the range", "POST", "/v1/aliases", `{"add":["10.1.2.3"]}`, 422, "outside the helper's range"},
		{"a session id that is not one word", "POST", "/v1/hosts", `{"session":"uid0:x","entries":[]}`, 400, "session id"},
	}
	for _, r := range refusals {
		status, body := w.call(u, r.method, r.path, r.body)
		if status != r.status || !strings.Contains(body, r.says) {
			t.Errorf("%s: %d %s, want %d saying %q", r.name, status, body, r.status, r.says)
		}
	}
	if got := string(must(os.ReadFile("/etc/hosts"))); got != hostsNow {
		t.Fatalf("a refused request changed /etc/hosts:\n%s", got)
	}
	// On Linux an alias inside the range is a validated no-op.
	if status, body := w.call(u, "POST", "/v1/aliases", `{"add":["127.94.1.1"]}`); status != 200 || !strings.Contains(body, "no alias needed") {
		t.Errorf("alias inside the range: %d %s", status, body)
	}

	// A user outside the allowed group is refused, even to read.
	if status, body := w.call(w.outside, "GET", "/v1/hello", ""); status != 403 || !strings.Contains(body, "not allowed") && !strings.Contains(body, "neither an allowed user") {
		t.Errorf("outsider: %d %s, want 403", status, body)
	}
	outOut, outErr := w.as(w.outside, w.bin, "helper", "status").CombinedOutput()
	if ee, ok := outErr.(*exec.ExitError); !ok || ee.ExitCode() != exitPermission || !strings.Contains(string(outOut), "Next: ") {
		t.Errorf("helper status as an outsider: %v\n%s", outErr, outOut)
	}

	j.interrupt(t)
	if got := string(must(os.ReadFile("/etc/hosts"))); got != string(before) {
		t.Fatalf("after the join ended, /etc/hosts is not as before:\n%s", got)
	}

	// Another uid's block (root's, written through the helper) can be neither replaced nor
	// removed by the user, even naming root's session.
	rootBlock := `{"session":"rootsess","entries":[` + entry("127.94.7.7", "root-only.example") + `]}`
	root := helperAccount{name: "root", home: w.dir}
	if status, body := w.call(root, "POST", "/v1/hosts", rootBlock); status != 200 {
		t.Fatalf("root's block: %d %s", status, body)
	}
	t.Cleanup(func() { w.call(root, "POST", "/v1/hosts", `{"session":"rootsess","entries":[]}`) })
	for _, body := range []string{
		`{"session":"rootsess","entries":[` + entry("127.94.7.8", "mine.example") + `]}`,
		`{"session":"rootsess","entries":[]}`,
		`{"session":"other","entries":[]}`,
	} {
		if status, reply := w.call(u, "POST", "/v1/hosts", body); status != 409 || !strings.Contains(reply, "belongs to uid 0") {
			t.Errorf("%s as %s: %d %s, want 409", body, u.name, status, reply)
		}
	}
	if !strings.Contains(string(must(os.ReadFile("/etc/hosts"))), "127.94.7.7       root-only.example") {
		t.Fatal("root's block is gone")
	}
	// And a join by the user meets it with a clear conflict, exit 5, changing nothing.
	code, jout := w.runAs(u, joinArgs...)
	if status, body := w.call(root, "POST", "/v1/hosts", `{"session":"rootsess","entries":[]}`); status != 200 {
		t.Fatalf("root removes its block: %d %s", status, body)
	}
	if code != exitConflict {
		t.Errorf("join over root's block: exit %d, want %d\n%s", code, exitConflict, jout)
	}

	// up (the background daemon, as the user) and down, through the helper too.
	upArgs := []string{"--kubeconfig", kubeconfig, "--state-dir", stateDir, "up", "--identity", "dev/alice",
		"--envoy-image", testbed.EnvoyImage, "--address-range", helperTestRange, "--wait", "90s", "ratings.bookinfo"}
	if code, out := w.runAs(u, upArgs...); code != 0 {
		t.Fatalf("up as %s: exit %d\n%s", u.name, code, out)
	}
	w.expectResolves("ratings.bookinfo", "127.94.")
	if code, out := w.runAs(u, "--state-dir", stateDir, "down"); code != 0 {
		t.Fatalf("down: exit %d\n%s", code, out)
	}
	if got := string(must(os.ReadFile("/etc/hosts"))); got != string(before) {
		t.Fatalf("after down, /etc/hosts is not as before:\n%s", got)
	}
	if !strings.Contains(w.log.String(), "hosts block written") || !strings.Contains(w.log.String(), "uid="+strconv.Itoa(int(u.uid))) {
		t.Errorf("the helper's log does not show what it did:\n%s", w.log)
	}
}

// startAs starts meshjoin as u in the background, like env.startJoin.
func (w *helperWorld) startAs(u helperAccount, args ...string) *running {
	w.t.Helper()
	r := &running{cmd: w.as(u, w.bin, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	if err := r.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	w.t.Cleanup(func() { r.stop(w.t) })
	waitUntil(w.t, 3*time.Minute, "join to be ready", func() bool {
		select {
		case <-r.done:
			w.t.Fatalf("join exited early:\n%s\n%s", r.stdout, r.stderr)
		default:
		}
		return strings.Contains(r.stderr.String(), "Joined ")
	})
	return r
}

// runAs runs meshjoin as u to completion: exit code and all output.
func (w *helperWorld) runAs(u helperAccount, args ...string) (int, string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := w.as(u, w.bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	defer stop()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		w.t.Fatal(err)
	}
	return 0, out.String()
}

func (w *helperWorld) sessionID(stateDir string) string {
	w.t.Helper()
	e := &env{t: w.t, stateDir: stateDir}
	return e.state().ID
}

func (w *helperWorld) expectResolves(name, prefix string) {
	w.t.Helper()
	out, err := exec.Command("getent", "hosts", name).Output()
	if err != nil || !strings.HasPrefix(string(out), prefix) {
		w.t.Fatalf("getent hosts %s: %v %q", name, err, out)
	}
}

// stop ends the helper (as its service manager would) and waits for it.
func (w *helperWorld) stop() {
	w.t.Helper()
	w.proc.Signal(syscall.SIGTERM)
	<-w.done
}

// TestHelperBadInput: kill -9 then leave goes through the helper too; doctor reports the
// helper; and each way the helper can be unusable (wrong range, socket not reachable by the
// user, not running, a range that overlaps an interface at install) is a clear error with
// its exit code and a Next: hint, /etc/hosts untouched.
func TestHelperBadInput(t *testing.T) {
	before, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if after, _ := os.ReadFile("/etc/hosts"); !bytes.Equal(after, before) {
			t.Errorf("/etc/hosts changed:\n%q\nwant\n%q", after, before)
		}
	})
	tb := testbed.Shared(t)
	w := newHelperWorld(t)
	u := w.inside
	kubeconfig := filepath.Join(u.home, "kubeconfig")
	if err := os.WriteFile(kubeconfig, must(os.ReadFile(tb.DeveloperKubeconfig)), 0o600); err != nil {
		t.Fatal(err)
	}
	w.give(u, kubeconfig)
	stateDir := filepath.Join(u.home, "state")
	join := func(rangeFlag string) []string {
		return []string{"--kubeconfig", kubeconfig, "--state-dir", stateDir, "join", "--identity", "dev/alice",
			"--envoy-image", testbed.EnvoyImage, "--address-range", rangeFlag, "ratings.bookinfo"}
	}
	unchanged := func(step string) {
		t.Helper()
		if after := must(os.ReadFile("/etc/hosts")); !bytes.Equal(after, before) {
			t.Fatalf("%s: /etc/hosts is not as before:\n%s", step, after)
		}
	}
	expectError := func(step string, code int, out string, wantCode int, says string) {
		t.Helper()
		if code != wantCode || !strings.Contains(out, says) || !strings.Contains(out, "\nNext: ") {
			t.Errorf("%s: exit %d, want %d with %q and a Next: hint\n%s", step, code, wantCode, says, out)
		}
	}

	// kill -9, then leave: the block goes through the helper.
	j := w.startAs(u, join(helperTestRange)...)
	w.expectResolves("ratings.bookinfo", "127.94.")
	j.cmd.Process.Kill()
	<-j.done
	if code, out := w.runAs(u, "--state-dir", stateDir, "leave"); code != 0 || !strings.Contains(out, "Cleaned up session") {
		t.Fatalf("leave after kill -9: exit %d\n%s", code, out)
	}
	unchanged("leave after kill -9")

	// doctor: the helper serves the user, for this range; not for another; never the outsider.
	doctorHelper := func(who helperAccount, rangeFlag string) doctor.Result {
		t.Helper()
		code, out := w.runAs(who, "--kubeconfig", kubeconfig, "--state-dir", filepath.Join(who.home, "state"), "doctor", "-o", "json",
			"--identity", "dev/alice", "--envoy-image", testbed.EnvoyImage, "--address-range", rangeFlag)
		var rep doctor.Report
		// The report is on stdout, an "Error:" line may follow it on stderr.
		if err := json.NewDecoder(strings.NewReader(out[max(strings.Index(out, "{"), 0):])).Decode(&rep); err != nil {
			t.Fatalf("doctor as %s: exit %d, no report (%v)\n%s", who.name, code, err, out)
		}
		return verdicts(rep)["helper"]
	}
	if r := doctorHelper(u, helperTestRange); r.Verdict != doctor.Pass || !strings.Contains(r.Detail, "serves you") {
		t.Errorf("doctor's helper check for %s: %+v", u.name, r)
	}
	if r := doctorHelper(u, "127.96.0.0/16"); r.Verdict != doctor.Fail || !strings.Contains(r.Detail, "only for "+helperTestRange) || r.Fix == "" {
		t.Errorf("doctor's helper check with another range: %+v", r)
	}
	if r := doctorHelper(w.outside, helperTestRange); r.Verdict != doctor.Fail || r.Kind != doctor.KindPermission || r.Fix == "" {
		t.Errorf("doctor's helper check for the outsider: %+v", r)
	}

	// A join whose addresses the helper does not serve.
	code, out := w.runAs(u, join("127.96.0.0/16")...)
	expectError("join outside the helper's range", code, out, exitPermission, "outside the helper's range "+helperTestRange)
	unchanged("join outside the range")

	// The socket's directory closed to the user: permission denied, not a sudo prompt.
	sockDir := filepath.Dir(w.socket)
	if err := os.Chmod(sockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	code, out = w.runAs(u, join(helperTestRange)...)
	expectError("socket not reachable", code, out, exitPermission, "permission denied opening the helper's socket")
	if err := os.Chmod(sockDir, 0o755); err != nil {
		t.Fatal(err)
	}

	// The helper stopped: not running, with how to start it.
	w.stop()
	code, out = w.runAs(u, join(helperTestRange)...)
	expectError("helper not running", code, out, exitUnreachable, "no helper answers on "+w.socket)
	code, out = w.runAs(u, "helper", "status")
	expectError("helper status, not running", code, out, exitUnreachable, "running:    no")
	unchanged("helper not running")

	// install refuses a range that overlaps a non-loopback interface's address, writing nothing.
	if _, err := os.Stat(helper.DefaultConfig); err == nil {
		t.Fatalf("%s exists: this machine has a helper installed; the test would replace it", helper.DefaultConfig)
	}
	exec.Command("ip", "link", "del", "mjhelper0").Run()
	mustRun(t, "ip", "link", "add", "mjhelper0", "type", "veth", "peer", "name", "mjhelper1")
	t.Cleanup(func() { exec.Command("ip", "link", "del", "mjhelper0").Run() })
	mustRun(t, "ip", "addr", "add", "127.95.0.1/32", "dev", "mjhelper0")
	res, _ := exec.Command(w.bin, "helper", "install", "--users", "root", "--range", "127.95.0.0/16").CombinedOutput()
	for _, p := range []string{helper.DefaultConfig, helper.UnitPath, helper.InstalledBinary} {
		if _, err := os.Stat(p); err == nil {
			exec.Command(w.bin, "helper", "uninstall").Run()
			t.Fatalf("install wrote %s despite the overlap:\n%s", p, res)
		}
	}
	if !strings.Contains(string(res), "overlaps 127.95.0.1/32 on interface mjhelper0") || !strings.Contains(string(res), "Next: ") {
		t.Errorf("install over an interface's range:\n%s", res)
	}
	code, out = w.runAs(u, "helper", "install")
	expectError("install as a user", code, out, exitPermission, "needs root")
}
