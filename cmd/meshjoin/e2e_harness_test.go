//go:build !windows

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/session"
	"github.com/meshjoin/meshjoin/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

var built struct {
	once sync.Once
	path string
	err  error
}

// binary builds meshjoin once per test run, or returns $MESHJOIN_E2E_BINARY when set (a
// release build under test: hack/release.sh's linux/amd64 binary).
func binary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		if p := os.Getenv("MESHJOIN_E2E_BINARY"); p != "" {
			built.path, built.err = filepath.Abs(p)
			return
		}
		dir, err := os.MkdirTemp("", "meshjoin-bin-")
		if err != nil {
			built.err = err
			return
		}
		testbed.AtExit(func() { os.RemoveAll(dir) })
		built.path = filepath.Join(dir, "meshjoin")
		out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// env is one test's world: the shared testbed, its own state dir and hosts file.
type env struct {
	t          *testing.T
	tb         *testbed.Testbed
	stateDir   string
	hostsFile  string
	kubeconfig string
	last       *running // the latest join, whose output explains a failure
	extraEnv   []string // added to the environment of every meshjoin this env runs
}

// initialHosts is a user's hosts file with habits our block must not disturb.
const initialHosts = "127.0.0.1\tlocalhost\r\n::1 localhost ip6-localhost  # keep my spacing\r\n\r\n# my own entries\r\n10.1.2.3 build-box"

func newEnv(t *testing.T) *env {
	t.Helper()
	tb := testbed.Shared(t)
	dir := t.TempDir()
	e := &env{t: t, tb: tb, stateDir: filepath.Join(dir, "state"), hostsFile: filepath.Join(dir, "hosts"), kubeconfig: tb.DeveloperKubeconfig}
	if err := os.WriteFile(e.hostsFile, []byte(initialHosts), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.assertClean() })
	return e
}

// args are the flags every meshjoin call of this env gets.
func (e *env) args(extra ...string) []string {
	return append([]string{"--kubeconfig", e.kubeconfig, "--state-dir", e.stateDir}, extra...)
}

// joinArgs are the usual join flags for the testbed.
func (e *env) joinArgs(services ...string) []string {
	return e.args(append([]string{"join", "--identity", "dev/alice", "--hosts-file", e.hostsFile,
		"--envoy-image", testbed.EnvoyImage, "--sudo", "never"}, services...)...)
}

// run runs meshjoin to completion and returns its exit code and output.
func (e *env) run(args ...string) (int, string, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(e.t), args...)
	if e.extraEnv != nil {
		cmd.Env = append(os.Environ(), e.extraEnv...)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// running is a `meshjoin join` in the background.
type running struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startJoin starts join and waits until it says it joined (or fails the test).
func (e *env) startJoin(args ...string) *running {
	e.t.Helper()
	return e.startJoinCmd(exec.Command(binary(e.t), args...))
}

// startJoinCmd is startJoin for a join started another way (under setpriv, say).
func (e *env) startJoinCmd(cmd *exec.Cmd) *running {
	e.t.Helper()
	r := &running{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
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
	for !strings.Contains(r.stderr.String(), "Joined ") {
		select {
		case <-r.done:
			e.t.Fatalf("join exited early:\n%s\n%s", r.stdout, r.stderr)
		case <-deadline:
			e.t.Fatalf("join not ready in 90s:\n%s", r.stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return r
}

// interrupt sends SIGINT and waits for a clean exit.
func (r *running) interrupt(t *testing.T) {
	t.Helper()
	r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.done:
	case <-time.After(45 * time.Second):
		t.Fatalf("join did not exit after SIGINT:\n%s", r.stderr)
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("join exited %d after SIGINT:\n%s", code, r.stderr)
	}
}

func (r *running) stop(t *testing.T) {
	select {
	case <-r.done:
	default:
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			r.cmd.Process.Kill()
			<-r.done
		}
	}
}

// state reads the session's state file.
func (e *env) state() session.State {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.stateDir, "state.json"))
	if err != nil {
		if e.last != nil {
			e.t.Fatalf("%v; join output:\n%s", err, e.last.stderr)
		}
		e.t.Fatal(err)
	}
	var st session.State
	if err := json.Unmarshal(b, &st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// admin is the local Envoy's admin listener, from the state file.
func (e *env) admin() envoy.AdminEndpoint {
	st := e.state()
	return envoy.AdminEndpoint{Addr: st.AdminAddr, Token: st.AdminToken}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// joined returns the address of a joined service from the state file.
func (e *env) addr(key string) string {
	e.t.Helper()
	for _, js := range e.state().Services {
		if js.Key == key {
			return js.Addr
		}
	}
	e.t.Fatalf("%s not joined", key)
	return ""
}

// assertClean checks the machine is as it was: hosts file byte-identical, no state file, no
// container of ours, no meshjoin process of this env.
func (e *env) assertClean() {
	t := e.t
	t.Helper()
	if b, err := os.ReadFile(e.hostsFile); err != nil || string(b) != initialHosts {
		t.Errorf("hosts file changed:\n%q\nwant\n%q", b, initialHosts)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "state.json")); err == nil {
		t.Errorf("state file left behind in %s", e.stateDir)
	}
	if ids := meshjoinContainers(t); len(ids) > 0 {
		t.Errorf("containers left behind: %v", ids)
	}
	if names := meshjoinNetworks(t); len(names) > 0 {
		t.Errorf("docker networks left behind: %v", names)
	}
}

func dockerClient(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// meshjoinNetworks lists Docker networks carrying meshjoin's label.
func meshjoinNetworks(t testing.TB) []string {
	t.Helper()
	list, err := dockerClient(t).NetworkList(context.Background(), network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "io.meshjoin.managed=true"))})
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	var names []string
	for _, n := range list {
		names = append(names, n.Name)
	}
	return names
}

func inspectContainer(t testing.TB, id string) container.InspectResponse {
	t.Helper()
	c, err := dockerClient(t).ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatalf("inspect envoy container: %v", err)
	}
	return c
}

// meshjoinContainers lists containers carrying meshjoin's label.
func meshjoinContainers(t testing.TB) []string {
	t.Helper()
	list, err := dockerClient(t).ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "io.meshjoin.managed=true"))})
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.Names...)
	}
	return ids
}

// echo is the testbed's echo reply.
type echo = testbed.EchoReply

// getHTTP calls an HTTP service through the local Envoy at addr:port.
func getHTTP(addr string, port int, path string) (echo, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s:%d%s", addr, port, path))
	if err != nil {
		return echo{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return echo{}, fmt.Errorf("HTTP %s: %s", resp.Status, body)
	}
	var r echo
	return r, json.Unmarshal(body, &r)
}
