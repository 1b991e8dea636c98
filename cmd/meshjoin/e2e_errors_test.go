//go:build !windows

// Over 500 lines: one end-to-end case per failure kind (message, exit code, Next: hint), a table best read whole.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/testbed"
)

// runEnv is run with extra variables in the child's environment (the test's own stays as is).
func (e *env) runEnv(extraEnv []string, args ...string) (int, string, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(e.t), args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	if ctx.Err() != nil {
		e.t.Fatalf("meshjoin %s did not finish in time:\n%s", strings.Join(args, " "), errOut.String())
	}
	return code, out.String(), errOut.String()
}

// failure is what a failed meshjoin printed: the message after "Error: " and the hint after
// "Next: ".
type failure struct {
	code           int
	msg, hint, all string
}

// joinFails runs a join that must fail, and checks what every failure must leave: no output
// on stdout, one "Error:" report, no meshjoin process of this env, /etc/hosts untouched. The
// env's own hosts file, state file and containers are checked by assertClean at cleanup.
func (e *env) joinFails(extraEnv []string, args ...string) failure {
	e.t.Helper()
	etcBefore, etcErr := os.ReadFile("/etc/hosts")
	code, stdout, stderr := e.runEnv(extraEnv, args...)
	e.t.Logf("exit %d, stderr:\n%s", code, stderr)
	if code == exitOK {
		e.t.Fatalf("meshjoin %s succeeded; want a failure", strings.Join(args, " "))
	}
	if stdout != "" {
		e.t.Errorf("stdout of a failed join: %q", stdout)
	}
	if strings.Contains(stderr, "Joined ") {
		e.t.Errorf("a failed join said it joined:\n%s", stderr)
	}
	if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
		e.t.Errorf("meshjoin crashed:\n%s", stderr)
	}
	f := failure{code: code, all: stderr}
	if n := strings.Count(stderr, "Error: "); n != 1 {
		e.t.Fatalf("want one \"Error: \" report, found %d:\n%s", n, stderr)
	}
	rest := stderr[strings.Index(stderr, "Error: ")+len("Error: "):]
	if i := strings.Index(rest, "\nNext: "); i >= 0 {
		f.msg, f.hint = rest[:i], strings.TrimSpace(rest[i+len("\nNext: "):])
	} else {
		f.msg = rest
	}
	f.msg = strings.TrimSpace(f.msg)
	if etcAfter, err := os.ReadFile("/etc/hosts"); (err == nil) != (etcErr == nil) || !bytes.Equal(etcBefore, etcAfter) {
		e.t.Errorf("/etc/hosts changed:\n%q\nwas\n%q", etcAfter, etcBefore)
	}
	if pids := e.processes(); len(pids) > 0 {
		e.t.Errorf("meshjoin processes of this test still running: %v", pids)
	}
	// The container this run started, if it got that far, is gone (assertClean also looks
	// for any meshjoin container, which other test binaries running at once may own).
	if m := regexp.MustCompile(`✓ envoy\s+\S+\s+([0-9a-f]{12,64})`).FindStringSubmatch(stderr); m != nil {
		assertNoContainer(e.t, m[1])
	}
	return f
}

// assertNoContainer checks that the container id no longer exists.
func assertNoContainer(t *testing.T, id string) {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	c, err := cli.ContainerInspect(context.Background(), id)
	switch {
	case cerrdefs.IsNotFound(err):
	case err != nil:
		t.Errorf("docker inspect %.12s: %v", id, err)
	default:
		t.Errorf("container %.12s (%s) left behind, %s", id, c.Name, c.State.Status)
	}
}

// processes lists running processes whose command line names this env's state directory.
func (e *env) processes() []int {
	e.t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		e.t.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		if bytes.Contains(cmdline, []byte(e.stateDir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// check asserts the exit code and that the message and the hint contain the given words.
func (f failure) check(t *testing.T, code int, msgWords, hintWords []string) {
	t.Helper()
	if f.code != code {
		t.Errorf("exit code %d, want %d", f.code, code)
	}
	for _, w := range msgWords {
		if !strings.Contains(f.msg, w) {
			t.Errorf("message does not mention %q:\n%s", w, f.msg)
		}
	}
	if len(hintWords) > 0 && f.hint == "" {
		t.Errorf("no \"Next:\" hint:\n%s", f.all)
	}
	for _, w := range hintWords {
		if !strings.Contains(f.hint, w) {
			t.Errorf("hint does not mention %q:\n%s", w, f.hint)
		}
	}
}

// setFlag replaces the value of a flag in args (the flag must be there).
func setFlag(t *testing.T, args []string, flag, value string) []string {
	t.Helper()
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == flag && i+1 < len(out) {
			out[i+1] = value
			return out
		}
	}
	t.Fatalf("flag %s not in %v", flag, args)
	return nil
}

// TestJoinErrors: each way a join can fail gives a clear message, its exit code and a next
// step, and leaves the machine as it was.
func TestJoinErrors(t *testing.T) {
	t.Run("unknown service with close matches", func(t *testing.T) {
		e := newEnv(t)
		f := e.joinFails(nil, e.joinArgs("ratngs.bookinfo")...)
		f.check(t, exitUsage, []string{`unknown service "ratngs.bookinfo"`, "did you mean", "ratings.bookinfo"},
			[]string{"meshjoin services"})
	})

	t.Run("unknown service without close matches", func(t *testing.T) {
		e := newEnv(t)
		f := e.joinFails(nil, e.joinArgs("zzzzzzzz.nowhere")...)
		f.check(t, exitUsage, []string{`unknown service "zzzzzzzz.nowhere"`, "name.namespace"}, []string{"meshjoin services"})
		if strings.Contains(f.msg, "did you mean") {
			t.Errorf("suggestions for a name close to nothing: %s", f.msg)
		}
	})

	t.Run("no read permission", func(t *testing.T) {
		e := newEnv(t)
		e.kubeconfig = e.tb.NoPermsKubeconfig
		f := e.joinFails(nil, e.joinArgs("ratings.bookinfo")...)
		f.check(t, exitPermission, []string{"not allowed to", "kubectl auth can-i"}, []string{"kubectl auth can-i", "docs/rbac.yaml"})
		m := regexp.MustCompile(`not allowed to (\w+) ([a-z.]+)`).FindStringSubmatch(f.msg)
		if m == nil {
			t.Fatalf("message names no verb and resource: %s", f.msg)
		}
		verb, resource := m[1], m[2]
		if verb != "get" && verb != "list" {
			t.Errorf("verb %q, want get or list", verb)
		}
		// The check the user is told to run asks for exactly what was refused.
		canI := regexp.MustCompile("kubectl auth can-i " + regexp.QuoteMeta(verb) + " " + regexp.QuoteMeta(resource) + `\b`)
		if !canI.MatchString(f.msg) || !canI.MatchString(f.hint) {
			t.Errorf("no `kubectl auth can-i %s %s` line in the message and the hint:\n%s", verb, resource, f.all)
		}
	})

	t.Run("no permission to take the identity", func(t *testing.T) {
		e := newEnv(t)
		// docs/rbac.yaml lets developers take tokens for dev/alice only.
		f := e.joinFails(nil, setFlag(t, e.joinArgs("ratings.bookinfo"), "--identity", "dev/bob")...)
		f.check(t, exitPermission,
			[]string{`"create"`, `"serviceaccounts/token"`, `"bob"`, "kubectl auth can-i create serviceaccounts/bob --subresource=token -n dev"},
			[]string{"docs/rbac.yaml", "--identity"})
	})

	t.Run("no east-west gateway", func(t *testing.T) {
		// Registered before the env: cleanups run last-in first-out, so the label is back
		// after assertClean, whatever happened in between.
		restore := removeGatewayLabel(t)
		t.Cleanup(restore)
		e := newEnv(t)
		f := e.joinFails(nil, e.joinArgs("ratings.bookinfo")...)
		f.check(t, exitEnvironment,
			[]string{"no east-west gateway", "istio-system", testbed.NetworkLabel, "15443", "--gateway host:port"},
			[]string{"east-west gateway", "--gateway host:port"})
	})

	t.Run("gateway unreachable", func(t *testing.T) {
		e := newEnv(t)
		args := append(e.joinArgs("ratings.bookinfo"), "--gateway", "127.0.0.2:1")
		f := e.joinFails(nil, args...)
		f.check(t, exitUnreachable, []string{"east-west gateway unreachable", "127.0.0.2:1", "connection refused"},
			[]string{"--gateway", "reach"})
	})

	t.Run("CA refuses the TTL", func(t *testing.T) {
		e := newEnv(t)
		signed := e.tb.CASigned()
		args := append(e.joinArgs("ratings.bookinfo"), "--cert-ttl", "1000h")
		f := e.joinFails(nil, args...)
		f.check(t, exitPermission, []string{"TTL", "1000h", "48h"}, []string{"mesh CA", "--cert-ttl"})
		if n := e.tb.CASigned() - signed; n != 0 {
			t.Errorf("the CA signed %d certificates", n)
		}
	})

	t.Run("docker unreachable", func(t *testing.T) {
		e := newEnv(t)
		f := e.joinFails([]string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, e.joinArgs("ratings.bookinfo")...)
		f.check(t, exitUnreachable, []string{"docker engine unreachable", "unix:///nonexistent/docker.sock"},
			[]string{"start Docker", "--runtime native"})
	})

	t.Run("image absent and not pullable", func(t *testing.T) {
		e := newEnv(t)
		const image = "meshjoin.local/does-not-exist:0"
		f := e.joinFails(nil, setFlag(t, e.joinArgs("ratings.bookinfo"), "--envoy-image", image)...)
		f.check(t, exitEnvironment, []string{"envoy image unavailable", image, "pulling it failed"},
			[]string{"--envoy-image"})
	})

	// On the host network Envoy's bind fails; with published ports Docker's does.
	for _, network := range []string{"host", "published"} {
		t.Run("address in use, "+network+" network", func(t *testing.T) {
			e := newEnv(t)
			const rng = "127.66.0.0/24"
			addr, err := hosts.Allocator{Prefix: netip.MustParsePrefix(rng)}.AddressFor("ratings.bookinfo", map[netip.Addr]bool{})
			if err != nil {
				t.Fatal(err)
			}
			hostPort := net.JoinHostPort(addr.String(), "9080")
			l, err := net.Listen("tcp", hostPort)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			args := append(e.joinArgs("ratings.bookinfo"), "--address-range", rng, "--envoy-network", network)
			f := e.joinFails(nil, args...)
			f.check(t, exitConflict, []string{hostPort, "already in use", "ratings.bookinfo"},
				[]string{"--address-range"})
			// The test's listener is still the one there.
			c, err := net.DialTimeout("tcp", hostPort, 2*time.Second)
			if err != nil {
				t.Errorf("our listener on %s is gone: %v", hostPort, err)
			} else {
				c.Close()
			}
		})
	}

	t.Run("mTLS disabled by a PeerAuthentication", func(t *testing.T) {
		pas := testbed.Shared(t).Dynamic().Resource(testbed.PeerAuthenticationGVR).Namespace("bookinfo")
		pa := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
			"metadata": map[string]any{"name": "ratings-plaintext", "namespace": "bookinfo"},
			"spec":     map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "ratings"}}, "mtls": map[string]any{"mode": "DISABLE"}},
		}}
		if _, err := pas.Create(context.Background(), pa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pas.Delete(context.Background(), "ratings-plaintext", metav1.DeleteOptions{}) })
		e := newEnv(t)
		f := e.joinFails(nil, e.joinArgs("ratings.bookinfo")...)
		f.check(t, exitUsage, []string{"ratings.bookinfo is not reachable", `PeerAuthentication "bookinfo/ratings-plaintext" disables mTLS`},
			[]string{"meshjoin services"})
		code, out, _ := e.run(e.args("services", "-A", "-o", "json")...)
		if code != 0 || !strings.Contains(out, "ratings-plaintext") {
			t.Errorf("services -o json (exit %d) does not give the reason:\n%.2000s", code, out)
		}
	})

	t.Run("published network, host.docker.internal not forwarded", func(t *testing.T) {
		// What a Linux engine does without Docker Desktop's forwarding: Envoy starts, but
		// its connections to the config server at host.docker.internal are refused.
		e := newEnv(t)
		testbed.CheckDockerNetworks(t) // the refused connections go to the engine's bridge address
		f := e.joinFails(nil, append(e.joinArgs("ratings.bookinfo"), "--envoy-network", "published")...)
		f.check(t, exitUnreachable, []string{"did not reach meshjoin's config server", "host.docker.internal"},
			[]string{"Docker Desktop", "--envoy-network host"})
	})

	t.Run("hosts file in a missing directory", func(t *testing.T) {
		e := newEnv(t)
		path := filepath.Join(t.TempDir(), "no-such-dir", "hosts")
		f := e.joinFails(nil, setFlag(t, e.joinArgs("ratings.bookinfo"), "--hosts-file", path)...)
		f.check(t, exitEnvironment, []string{path, "does not exist"}, []string{"--hosts-file"})
		if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was created (%v)", filepath.Dir(path), err)
		}
	})

	t.Run("hosts file is a directory", func(t *testing.T) {
		e := newEnv(t)
		dir := t.TempDir()
		f := e.joinFails(nil, setFlag(t, e.joinArgs("ratings.bookinfo"), "--hosts-file", dir)...)
		f.check(t, exitEnvironment, []string{dir, "not a regular file"}, []string{"--hosts-file"})
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Errorf("the directory given as hosts file was changed: %v %v", entries, err)
		}
	})

	t.Run("hosts file fails before anything starts", func(t *testing.T) {
		// An unusable hosts file is found before a certificate is signed or Envoy started.
		e := newEnv(t)
		signed := e.tb.CASigned()
		f := e.joinFails(nil, setFlag(t, e.joinArgs("ratings.bookinfo"), "--hosts-file", t.TempDir())...)
		if f.code != exitEnvironment {
			t.Errorf("exit code %d, want %d", f.code, exitEnvironment)
		}
		if n := e.tb.CASigned() - signed; n != 0 {
			t.Errorf("the CA signed %d certificates for a join that could never finish", n)
		}
		for _, step := range []string{"certificate", "envoy"} {
			if strings.Contains(f.all, "✓ "+step) {
				t.Errorf("step %s ran:\n%s", step, f.all)
			}
		}
	})

	for _, id := range []string{"alice", "dev/", "dev/Alice!", "a/b/c", "/alice", "spiffe://cluster.local/ns/dev"} {
		t.Run("malformed identity "+id, func(t *testing.T) {
			e := newEnv(t)
			f := e.joinFails(nil, setFlag(t, e.joinArgs("ratings.bookinfo"), "--identity", id)...)
			f.check(t, exitUsage, []string{"invalid identity", strconv.Quote(id), "<namespace>/<serviceaccount>"},
				[]string{"--identity", "<namespace>/<serviceaccount>"})
		})
	}

	t.Run("no identity", func(t *testing.T) {
		e := newEnv(t)
		args := e.args("join", "--hosts-file", e.hostsFile, "--envoy-image", testbed.EnvoyImage, "--sudo", "never", "ratings.bookinfo")
		f := e.joinFails([]string{"MESHJOIN_IDENTITY="}, args...)
		f.check(t, exitUsage, []string{"no identity"}, []string{"--identity <namespace>/<serviceaccount>"})
	})
}

// removeGatewayLabel takes the network label off the east-west gateway Service and returns
// what puts it back.
func removeGatewayLabel(t *testing.T) func() {
	t.Helper()
	tb := testbed.Shared(t)
	ctx := context.Background()
	svcs := tb.Admin().CoreV1().Services(testbed.IstioSystem)
	gw, err := svcs.Get(ctx, testbed.GatewayService, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	value, ok := gw.Labels[testbed.NetworkLabel]
	if !ok {
		t.Fatalf("gateway %s has no label %s to remove", testbed.GatewayService, testbed.NetworkLabel)
	}
	patch := func(v any) error {
		body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{testbed.NetworkLabel: v}}})
		_, err := svcs.Patch(ctx, testbed.GatewayService, types.MergePatchType, body, metav1.PatchOptions{})
		return err
	}
	restore := func() {
		if err := patch(value); err != nil {
			t.Errorf("restore label %s=%s on the gateway: %v", testbed.NetworkLabel, value, err)
		}
	}
	if err := patch(nil); err != nil {
		restore()
		t.Fatal(err)
	}
	return restore
}

// TestHostileServiceEntry: names from the cluster that could break or inject lines into the
// hosts file are refused with a warning; the rest of the entry is joined.
func TestHostileServiceEntry(t *testing.T) {
	tb := testbed.Shared(t)
	long := strings.Repeat("a", 300) + ".internal"
	mixed := newServiceEntry("hostile-mixed", []string{
		"ok-host.mesh.internal", "bad\nhost.mesh.internal", "spaced host.mesh.internal", "hash#host.mesh.internal", long,
	})
	onlyBad := newServiceEntry("hostile-only", []string{"evil.mesh.internal\n127.0.0.1 bank.example.com"})
	for _, se := range []*unstructured.Unstructured{mixed, onlyBad} {
		createServiceEntry(t, tb, se)
	}

	t.Run("some names hostile", func(t *testing.T) {
		e := newEnv(t)
		etcBefore, _ := os.ReadFile("/etc/hosts")
		r := e.startJoin(e.joinArgs("hostile-mixed.payments")...)
		stderr := r.stderr.String()
		content, err := os.ReadFile(e.hostsFile)
		if err != nil {
			t.Fatal(err)
		}
		block, before, after, found, err := hosts.ParseBlock(content)
		if err != nil || !found {
			t.Fatalf("no meshjoin block (%v):\n%s", err, content)
		}
		if got := string(before) + string(after); got != initialHosts {
			t.Errorf("bytes outside the block changed:\n%q\nwant\n%q", got, initialHosts)
		}
		var names []string
		for _, en := range block.Entries {
			names = append(names, en.Names...)
		}
		if len(block.Entries) != 1 || len(names) != 1 || names[0] != "ok-host.mesh.internal" {
			t.Errorf("block entries %v, want one address with ok-host.mesh.internal only", block.Entries)
		}
		// Independently of the parser: every line is the user's, a meshjoin marker, or the one
		// address line; no piece of a hostile name made it into the file.
		addr := e.addr("hostile-mixed.payments")
		userLines := map[string]bool{}
		for _, l := range strings.Split(initialHosts, "\n") {
			userLines[strings.TrimSuffix(l, "\r")] = true
		}
		mapped := 0
		for _, line := range strings.Split(string(content), "\n") {
			l := strings.TrimSuffix(line, "\r")
			switch f := strings.Fields(l); {
			case userLines[l], l == "":
			case strings.HasPrefix(l, "# ") && strings.Contains(l, "meshjoin"):
			case len(f) == 2 && f[0] == addr && f[1] == "ok-host.mesh.internal":
				mapped++
			default:
				t.Errorf("unexpected line %q in the hosts file", l)
			}
		}
		if mapped != 1 {
			t.Errorf("%d lines map ok-host.mesh.internal to %s, want 1:\n%s", mapped, addr, content)
		}
		if n := strings.Count(string(content), "host.mesh.internal"); n != 1 {
			t.Errorf("host.mesh.internal appears %d times, want once (ok-host):\n%s", n, content)
		}
		if strings.Contains(string(content), strings.Repeat("a", 20)) {
			t.Errorf("the 300-character name reached the hosts file:\n%s", content)
		}
		// The user hears about each refused name, escaped (no raw line break from the cluster).
		for _, w := range []string{`\nhost.mesh.internal`, "spaced host.mesh.internal", "hash#host.mesh.internal", "aaaaaaaa", "longer than 253"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("no warning naming %q:\n%s", w, stderr)
			}
		}
		if n := strings.Count(stderr, "dropped"); n < 4 {
			t.Errorf("%d warnings about dropped hosts, want 4:\n%s", n, stderr)
		}
		if strings.Contains(stderr, "bad\nhost") {
			t.Errorf("a raw line break from the cluster reached the terminal:\n%s", stderr)
		}
		st := e.state()
		if len(st.Services) != 1 || len(st.Services[0].Names) != 1 || st.Services[0].Names[0] != "ok-host.mesh.internal" {
			t.Errorf("state services %+v", st.Services)
		}
		r.interrupt(t)
		if m := regexp.MustCompile(`✓ envoy\s+\S+\s+([0-9a-f]{12,64})`).FindStringSubmatch(r.stderr.String()); m == nil {
			t.Errorf("no container id in the progress lines:\n%s", r.stderr)
		} else {
			assertNoContainer(t, m[1])
		}
		if etcAfter, _ := os.ReadFile("/etc/hosts"); !bytes.Equal(etcBefore, etcAfter) {
			t.Errorf("/etc/hosts changed")
		}
	})

	t.Run("all names hostile", func(t *testing.T) {
		e := newEnv(t)
		f := e.joinFails(nil, e.joinArgs("hostile-only.payments")...)
		f.check(t, exitUsage, []string{"hostile-only.payments", "no usable host name", `evil.mesh.internal\n127.0.0.1 bank.example.com`},
			[]string{"ServiceEntry"})
		if strings.Contains(f.all, "evil.mesh.internal\n") {
			t.Errorf("a raw line break from the cluster reached the terminal:\n%s", f.all)
		}
		if strings.Contains(f.msg, "sidecars and mTLS") || strings.Contains(f.hint, "sidecars and mTLS") {
			t.Errorf("the failure blames reachability, not the names:\n%s", f.all)
		}
	})
}

func newServiceEntry(name string, hostNames []string) *unstructured.Unstructured {
	hs := make([]any, len(hostNames))
	for i, h := range hostNames {
		hs[i] = h
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "ServiceEntry",
		"metadata":   map[string]any{"name": name, "namespace": testbed.NamespacePayments},
		"spec": map[string]any{
			"hosts":      hs,
			"location":   "MESH_INTERNAL",
			"resolution": "STATIC",
			"ports":      []any{map[string]any{"number": int64(8000), "name": "http", "protocol": "HTTP"}},
			"endpoints":  []any{map[string]any{"address": "10.244.250.1", "serviceAccount": "hostile"}},
		},
	}}
}

// createServiceEntry creates se with the admin's client and deletes it when the test ends.
func createServiceEntry(t *testing.T, tb *testbed.Testbed, se *unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	res := tb.Dynamic().Resource(testbed.ServiceEntryGVR).Namespace(se.GetNamespace())
	if _, err := res.Create(ctx, se, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ServiceEntry %s: %v", se.GetName(), err)
	}
	t.Cleanup(func() {
		if err := res.Delete(ctx, se.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete ServiceEntry %s: %v", se.GetName(), err)
		}
	})
	// Check the cluster kept the names as given.
	got, err := res.Get(ctx, se.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := unstructured.NestedStringSlice(se.Object, "spec", "hosts")
	have, _, _ := unstructured.NestedStringSlice(got.Object, "spec", "hosts")
	if fmt.Sprint(want) != fmt.Sprint(have) {
		t.Fatalf("the API server changed the hosts: %q, want %q", have, want)
	}
}
