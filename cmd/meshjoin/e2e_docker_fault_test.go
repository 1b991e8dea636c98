//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/testbed"
)

// engineDownFor is how long the Docker engine stays down: longer than the whole restart
// back-off of an Envoy that exits (restartDelays, 15 s), so a session that counted the
// engine's absence as failed restarts would give up.
const engineDownFor = 20 * time.Second

// engineRestartRange keeps this test's addresses apart from the other fault tests' (and the
// soak's), which may run beside it.
const engineRestartRange = "127.87.0.0/16"

// The Docker engine restarted under steady requests: its stop takes Envoy down with it; the
// session waits for the engine (status says so), brings Envoy back with the same
// certificate once it answers, and the names answer again. The engine is a private dockerd
// of this test (the machine's own serves every other test). The recovery time is logged
// (docs/benchmarks.md).
func TestDockerEngineRestartUnderLoad(t *testing.T) {
	e := newEnv(t)
	eng := startPrivateEngine(t)
	eng.loadImage(t, testbed.EnvoyImage)
	e.extraEnv = []string{"DOCKER_HOST=" + eng.host, "DOCKER_CONTEXT="}
	r := e.startJoin(setFlag(t, e.faultJoinArgs("ratings.bookinfo"), "--address-range", engineRestartRange)...)
	addr := e.addr("ratings.bookinfo")
	before := e.state()
	serial := e.certSerial()
	if got := eng.meshjoinContainers(t); len(got) != 1 {
		t.Fatalf("the private engine runs %v, want the session's Envoy", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	probe := &loadProbe{}
	var wg sync.WaitGroup
	wg.Go(func() { probe.run(ctx, addr, 9080, 50*time.Millisecond) })
	defer func() { cancel(); wg.Wait() }()

	time.Sleep(2 * time.Second)
	stopAt := time.Now()
	eng.stop(t)
	stopped := time.Now()
	// While the engine is away the session says so, and keeps waiting for it.
	for problem := ""; !strings.Contains(problem, "does not answer"); problem = e.state().EnvoyProblem {
		if time.Since(stopped) > engineDownFor {
			t.Fatalf("with the engine down for %s, the state says %q:\n%s", engineDownFor, problem, r.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, out, errOut := e.run(e.args("status")...)
	if code != 0 || !strings.Contains(out, "Envoy down: the Docker engine at ") || !strings.Contains(out, eng.host) {
		t.Errorf("status with the engine down: exit %d\n%s%s", code, out, errOut)
	}
	time.Sleep(engineDownFor - time.Since(stopped))
	if st := e.state(); st.EnvoyGaveUp || !strings.Contains(st.EnvoyProblem, eng.host) {
		t.Errorf("after %s without the engine: gave up %v, problem %q (want it waiting, naming %s)", engineDownFor, st.EnvoyGaveUp, st.EnvoyProblem, eng.host)
	}
	upAt := eng.start(t)

	recoveredAt := probe.firstOKAfter(t, upAt, "the engine answered again", r.stderr)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st := e.state(); st.EnvoyProblem == "" && st.EnvoyRestarts > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the state still reports a problem after recovery: %q", e.state().EnvoyProblem)
		}
	}
	time.Sleep(3 * time.Second) // steady again
	cancel()
	wg.Wait()

	ph := probe.phases(stopAt, recoveredAt)
	t.Logf("engine stopped in %s, down %s: %d requests before (%d failed), %d while down or recovering (%d failed), %d failed after the first success",
		stopped.Sub(stopAt).Round(time.Millisecond), engineDownFor, ph.before, ph.failedBefore, ph.between, ph.failedBetween, ph.failedAfter)
	t.Logf("recovered %d ms after the engine answered", recoveredAt.Sub(upAt).Milliseconds())
	if ph.failedBefore > 0 || ph.failedAfter > 0 {
		t.Errorf("requests failed outside the outage: %d before it, %d after the first success", ph.failedBefore, ph.failedAfter)
	}
	if ph.failedBetween == 0 {
		t.Error("no request failed while the engine was down: the outage did not happen")
	}

	after := e.state()
	if after.ID != before.ID {
		t.Error("the session was restarted")
	}
	if after.ContainerID == before.ContainerID {
		t.Errorf("Envoy's container is still %.12s: the engine restart did not take Envoy down", after.ContainerID)
	}
	if !after.CertNotAfter.Equal(before.CertNotAfter) || after.Renewals != before.Renewals {
		t.Errorf("a new certificate was asked for: until %s (was %s), %d renewals (was %d)", after.CertNotAfter, before.CertNotAfter, after.Renewals, before.Renewals)
	}
	if got := e.certSerial(); got != serial {
		t.Errorf("the restarted Envoy serves certificate %s, was %s", got, serial)
	}
	r.interrupt(t)
	if got := eng.meshjoinContainers(t); len(got) > 0 {
		t.Errorf("containers left behind in the private engine: %v", got)
	}
}

// privateEngine is a dockerd of one test, with its own socket, data, state and pid file
// under dir, no bridge and no iptables rules: stopping it touches nothing of the machine's
// own engine, which other tests use meanwhile.
type privateEngine struct {
	dir  string
	host string // unix://<dir>/docker.sock
	cmd  *exec.Cmd
	done chan struct{}
}

// startPrivateEngine starts the engine and arranges for it, its containerd, its mounts and
// its directory to go when the test ends, passed or not.
func startPrivateEngine(t *testing.T) *privateEngine {
	t.Helper()
	// Not t.TempDir: a unix socket path must stay under 108 bytes, and the clean-up below must
	// unmount before anything is removed.
	dir, err := os.MkdirTemp("", "mj-engine-")
	if err != nil {
		t.Fatal(err)
	}
	eng := &privateEngine{dir: dir, host: "unix://" + filepath.Join(dir, "docker.sock")}
	t.Cleanup(func() { eng.cleanUp(t) })
	// An empty configuration file: the machine's /etc/docker/daemon.json (hosts, data root)
	// must not apply.
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	eng.start(t)
	return eng
}

// start runs dockerd and returns when it answers.
func (eng *privateEngine) start(t *testing.T) time.Time {
	t.Helper()
	logFile, err := os.OpenFile(filepath.Join(eng.dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	eng.cmd = exec.Command("dockerd",
		"--config-file", filepath.Join(eng.dir, "daemon.json"),
		"--host", eng.host,
		"--data-root", filepath.Join(eng.dir, "data"),
		"--exec-root", filepath.Join(eng.dir, "exec"),
		"--pidfile", filepath.Join(eng.dir, "docker.pid"),
		// Envoy runs on the host network: the engine needs no bridge, and must not touch the
		// machine's firewall rules.
		"--bridge=none", "--iptables=false", "--ip6tables=false",
		// The storage driver the machine's engine uses here (hack/start-docker.sh).
		"--storage-driver=vfs")
	eng.cmd.Stdout, eng.cmd.Stderr = logFile, logFile
	eng.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := eng.cmd.Start(); err != nil {
		t.Fatalf("start a private dockerd: %v", err)
	}
	done := make(chan struct{})
	eng.done = done
	go func(cmd *exec.Cmd) { cmd.Wait(); close(done) }(eng.cmd)

	cli := eng.client(t)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Ping(ctx)
		cancel()
		if err == nil {
			return time.Now()
		}
		select {
		case <-done:
			t.Fatalf("the private dockerd exited: %v\n%s", eng.cmd.ProcessState, eng.logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the private dockerd does not answer after 60 s: %v\n%s", err, eng.logTail())
		}
	}
}

// stop ends dockerd as a service manager would (SIGTERM) and waits until it has exited.
func (eng *privateEngine) stop(t *testing.T) {
	t.Helper()
	if eng.cmd == nil {
		return
	}
	eng.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-eng.done:
	case <-time.After(90 * time.Second):
		eng.cmd.Process.Kill()
		<-eng.done
		t.Errorf("the private dockerd did not stop within 90 s of SIGTERM; killed\n%s", eng.logTail())
	}
	eng.cmd = nil
}

// cleanUp stops the engine, kills a containerd it left running, unmounts what it mounted
// under dir and removes dir.
func (eng *privateEngine) cleanUp(t *testing.T) {
	eng.stop(t)
	// dockerd stops the containerd it manages; a dockerd killed mid-way may not have.
	if b, err := os.ReadFile(filepath.Join(eng.dir, "exec", "containerd", "containerd.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmdline), eng.dir) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	for _, m := range mountsUnder(t, eng.dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", m, err)
		}
	}
	if err := os.RemoveAll(eng.dir); err != nil {
		t.Errorf("remove the private engine's directory: %v", err)
	}
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(t *testing.T, dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("list mounts: %v", err)
		return nil
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			mounts = append(mounts, fields[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	return mounts
}

func (eng *privateEngine) client(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.WithHost(eng.host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// loadImage copies image from the machine's engine into the private one.
func (eng *privateEngine) loadImage(t *testing.T, image string) {
	t.Helper()
	ctx := context.Background()
	saved, err := dockerClient(t).ImageSave(ctx, []string{image})
	if err != nil {
		t.Fatalf("save %s from the machine's engine: %v", image, err)
	}
	defer saved.Close()
	loaded, err := eng.client(t).ImageLoad(ctx, saved)
	if err != nil {
		t.Fatalf("load %s into the private engine: %v", image, err)
	}
	defer loaded.Body.Close()
	var out strings.Builder
	if _, err := bufio.NewReader(loaded.Body).WriteTo(&out); err != nil || strings.Contains(out.String(), `"error"`) {
		t.Fatalf("load %s into the private engine: %v\n%s", image, err, out.String())
	}
}

// meshjoinContainers lists the private engine's containers that carry meshjoin's label.
func (eng *privateEngine) meshjoinContainers(t *testing.T) []string {
	t.Helper()
	list, err := eng.client(t).ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", envoy.LabelManaged+"=true"))})
	if err != nil {
		t.Fatalf("private engine: %v", err)
	}
	var names []string
	for _, c := range list {
		names = append(names, c.Names...)
	}
	return names
}

// logTail is the end of the private dockerd's log, for failures.
func (eng *privateEngine) logTail() string {
	b, _ := os.ReadFile(filepath.Join(eng.dir, "dockerd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
