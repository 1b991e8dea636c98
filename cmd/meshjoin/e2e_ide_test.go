//go:build !windows

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/ide"
	"github.com/meshjoin/meshjoin/ide/idetest"
	"github.com/meshjoin/meshjoin/testbed"
)

// The IDE end-to-end tests run the generated configuration the way VS Code and GoLand do
// (ide/idetest), against the test mesh with the real binary: `meshjoin up` through the
// generated task or before-launch step, the program started with the env the IDE would give
// it, then `down` and a restart.
//
// Name resolution is the real thing: the program resolves ratings.bookinfo through the system
// resolver reading /etc/hosts, as a developer's service does, and meshjoin writes /etc/hosts
// (no --hosts-file). To leave the machine's /etc/hosts alone (other tests and engineers share
// it), every process the IDE starts runs in a mount namespace of its own where this test's
// temporary hosts file is bind-mounted over /etc/hosts (and a temporary directory over
// /run/lock, where the hosts file's lock lives): all of them see that one file. The test checks
// the real /etc/hosts is byte-identical afterwards.

const ideService = "ratings.bookinfo"

// ideAddressRange keeps these sessions' addresses apart from other tests' (set in the project
// file, as a team would).
const ideAddressRange = "127.83.0.0/16"

// ideWorld is a workspace folder with the test program and a meshjoin.yaml, and the IDE's
// environment: meshjoin on PATH, the test's kubeconfig and state directory.
type ideWorld struct {
	e       *env
	dir     string
	runner  *idetest.Runner
	baseEnv []string
}

func newIDEWorld(t *testing.T) *ideWorld {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the IDE end-to-end tests bind-mount a hosts file over /etc/hosts in a mount namespace: run them as root (CI does)")
	}
	realHosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile("/etc/hosts"); err != nil || !bytes.Equal(b, realHosts) {
			t.Errorf("the machine's /etc/hosts changed:\n%s", b)
		}
	})
	e := newEnv(t)
	state := t.TempDir()
	e.stateDir = filepath.Join(state, "meshjoin") // what XDG_STATE_HOME gives
	dir := filepath.Join(t.TempDir(), "shop")
	if err := idetest.WriteMeshApp(dir); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, ".git"), 0o755) // the project file is looked for up to here
	project := fmt.Sprintf(`identity: dev/alice
envoyImage: %s
addressRange: %s
profiles:
  dev:
    services: [%s]
  broken:
    services: [nosuch.bookinfo]
`, testbed.EnvoyImage, ideAddressRange, ideService)
	if err := os.WriteFile(filepath.Join(dir, "meshjoin.yaml"), []byte(project), 0o644); err != nil {
		t.Fatal(err)
	}
	base := append(os.Environ(),
		"PATH="+filepath.Dir(binary(t))+string(os.PathListSeparator)+os.Getenv("PATH"),
		"XDG_STATE_HOME="+state,
		"KUBECONFIG="+e.kubeconfig,
		"MESHAPP_URL=http://"+ideService+":9080/ratings/0",
	)
	hostsFile, lockDir := e.hostsFile, t.TempDir()
	w := &ideWorld{e: e, dir: dir, baseEnv: base, runner: &idetest.Runner{
		Env: base,
		Log: testLogWriter{t},
		// The hosts file's lock (/run/lock, named after the path) is private too: this test's
		// /etc/hosts is not the machine's, so a session on the real one must not block it.
		Wrap: func(argv []string) []string {
			return append([]string{"unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
				`mount --bind "$0" /etc/hosts && mount --bind "$1" /run/lock && shift && exec "$@"`, hostsFile, lockDir}, argv...)
		},
	}}
	t.Cleanup(func() { w.meshjoin(t, "down") }) // a failed test must not leave its session running
	return w
}

// meshjoin runs the binary with the IDE's environment (outside any IDE), in the namespace.
func (w *ideWorld) meshjoin(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	argv := w.runner.Wrap(append([]string{binary(t)}, args...))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = w.dir, w.baseEnv
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// sessionEnded waits until the background session is gone (its grace period over): no state
// file and its process ended, so its cleanup (hosts block, Envoy) is finished too.
func (w *ideWorld) sessionEnded(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(w.e.stateDir, "state.json"))
		if os.IsNotExist(err) && !alive(pid) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the session did not end after `meshjoin down --grace`")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// alive reports whether a process runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(after, "Z")
}

// checkProgram checks what the launched program saw and reached.
func (w *ideWorld) checkProgram(t *testing.T, ctx context.Context, p *idetest.Process) {
	t.Helper()
	code, err := p.Wait(ctx)
	if err != nil || code != 0 {
		t.Fatalf("the program exited %d (%v):\n%s", code, err, p.Output())
	}
	out := p.Output()
	addr := w.e.addr(ideService)
	if !regexp.MustCompile(`(?m)^env RATINGS_SERVICE_HOST=` + regexp.QuoteMeta(addr) + `$`).MatchString(out) {
		t.Errorf("the program did not see RATINGS_SERVICE_HOST=%s:\n%s", addr, out)
	}
	if !strings.Contains(out, "call http://"+ideService+":9080/ratings/0: 200 ") {
		t.Errorf("the program did not reach %s by name:\n%s", ideService, out)
	}
}

func envFileSession(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id := idetest.ParseEnvFile(b)["MESHJOIN_SESSION"]
	if id == "" {
		t.Fatalf("no MESHJOIN_SESSION in %s:\n%s", path, b)
	}
	return id
}

func TestIDEVSCodeF5(t *testing.T) {
	w := newIDEWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if code, out := w.meshjoin(t, "ide", "vscode", "--dir", w.dir, "--profile", "dev", "--grace", "10s", "--write"); code != 0 {
		t.Fatalf("ide vscode: %d\n%s", code, out)
	}
	v, err := idetest.LoadVSCode(w.dir, w.runner)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	const config = "Go" + ide.MeshSuffix
	envFile := filepath.Join(w.dir, ide.DefaultEnvFile)

	// F5: preLaunchTask (env, after up), the program with the envFile, then postDebugTask.
	p, err := v.Launch(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	w.checkProgram(t, ctx, p)
	first := envFileSession(t, envFile)
	pid := w.e.state().PID
	if err := v.EndDebug(ctx, config); err != nil {
		t.Fatal(err)
	}

	// Restart: postDebugTask ran, preLaunchTask comes right after, within the grace period.
	p, err = v.Launch(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	w.checkProgram(t, ctx, p)
	if again := envFileSession(t, envFile); again != first || w.e.state().PID != pid {
		t.Errorf("the restart made a new session: %s (pid %d) then %s (pid %d)", first, pid, again, w.e.state().PID)
	}
	if err := v.EndDebug(ctx, config); err != nil {
		t.Fatal(err)
	}
	w.sessionEnded(t, pid) // nothing came back within the grace: down ends it
}

// TestIDEVSCodeUpFails: when `meshjoin up` cannot get ready, the launch stops before the program.
func TestIDEVSCodeUpFails(t *testing.T) {
	w := newIDEWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if code, out := w.meshjoin(t, "ide", "vscode", "--dir", w.dir, "--profile", "broken", "--write"); code != 0 {
		t.Fatalf("ide vscode: %d\n%s", code, out)
	}
	v, err := idetest.LoadVSCode(w.dir, w.runner)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	p, err := v.Launch(ctx, "Go"+ide.MeshSuffix)
	var exit *idetest.ExitError
	if p != nil || !errors.As(err, &exit) || exit.Code == 0 {
		t.Fatalf("the launch went on: %v", err)
	}
	if strings.Contains(exit.Output, "meshjoin: ready:") {
		t.Errorf("up printed the ready line and failed:\n%s", exit.Output)
	}
}

func TestIDEJetBrainsRun(t *testing.T) {
	w := newIDEWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	app := `<component name="ProjectRunConfigurationManager">
  <configuration default="false" name="meshapp" type="GoApplicationRunConfiguration" factoryName="Go Application">
    <module name="meshapp" />
    <working_directory value="$PROJECT_DIR$" />
    <kind value="DIRECTORY" />
    <directory value="$PROJECT_DIR$" />
    <filePath value="$PROJECT_DIR$/main.go" />
    <method v="2" />
  </configuration>
</component>
`
	os.MkdirAll(filepath.Join(w.dir, ".run"), 0o755)
	if err := os.WriteFile(filepath.Join(w.dir, ".run", "meshapp.run.xml"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	// The generator writes the session's variables into the copy: it needs a session.
	if code, out := w.meshjoin(t, "up", "--profile", "dev"); code != 0 {
		t.Fatalf("up: %d\n%s", code, out)
	}
	if code, out := w.meshjoin(t, "ide", "jetbrains", "--dir", w.dir, "--profile", "dev", "--grace", "10s", "-c", "meshapp", "--write"); code != 0 {
		t.Fatalf("ide jetbrains: %d\n%s", code, out)
	}
	pid := w.e.state().PID
	if code, out := w.meshjoin(t, "down"); code != 0 {
		t.Fatalf("down: %d\n%s", code, out)
	}
	w.sessionEnded(t, pid)

	j, err := idetest.LoadJetBrains(w.dir, w.runner)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	// Run "meshapp (mesh)": the before-launch step runs `meshjoin up` from nothing and exits 0
	// only once ready, so the program's first call by name works.
	p, err := j.Run(ctx, "meshapp"+ide.MeshSuffix)
	if err != nil {
		t.Fatal(err)
	}
	w.checkProgram(t, ctx, p)
	pid = w.e.state().PID
	if strings.Contains(p.Output(), "env "+ide.SessionVar+"=") {
		t.Errorf("the run configuration carries a session ID, stale once the session changes:\n%s", p.Output())
	}
	down, err := j.Run(ctx, ide.ConfigDown)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := down.Wait(ctx); code != 0 {
		t.Fatalf("meshjoin down: exit %d\n%s", code, down.Output())
	}
	w.sessionEnded(t, pid)
}

type testLogWriter struct{ t *testing.T }

func (l testLogWriter) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
