//go:build !windows

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshjoin/meshjoin/testbed"
)

// tmuxTerm is the TUI running in a real terminal: a tmux server of its own (-S, a socket in
// the test's temp dir), one pane.
type tmuxTerm struct {
	t      *testing.T
	socket string
	shots  map[string]string
}

func startTmux(t *testing.T, w, h int, command string) *tmuxTerm {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is needed for the TUI end-to-end test (`make deps` installs it)")
	}
	tm := &tmuxTerm{t: t, socket: filepath.Join(t.TempDir(), "tmux.sock"), shots: map[string]string{}}
	tm.run("new-session", "-d", "-s", "tui", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), command)
	t.Cleanup(func() { exec.Command("tmux", "-S", tm.socket, "kill-server").Run() })
	return tm
}

func (tm *tmuxTerm) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// keys sends tmux key names ("Enter", "Space", "BSpace") or literal text.
func (tm *tmuxTerm) keys(keys ...string) {
	tm.t.Helper()
	for _, k := range keys {
		tm.run("send-keys", "-t", "tui", k)
		pause := 40 * time.Millisecond
		if k == "Escape" { // a lone ESC is told from alt+<key> by the pause after it
			pause = 500 * time.Millisecond
		}
		time.Sleep(pause)
	}
}

func (tm *tmuxTerm) text(s string) {
	tm.t.Helper()
	for _, r := range s {
		tm.keys(string(r))
	}
}

func (tm *tmuxTerm) screen() string {
	tm.t.Helper()
	return tm.run("capture-pane", "-p", "-t", "tui")
}

// waitFor polls the screen until it matches, or fails the test showing the last screen.
func (tm *tmuxTerm) waitFor(what string, timeout time.Duration, ok func(string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := tm.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("waiting for %s: the screen is\n%s", what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (tm *tmuxTerm) waitText(s string, timeout time.Duration) string {
	tm.t.Helper()
	return tm.waitFor(fmt.Sprintf("%q", s), timeout, func(scr string) bool { return strings.Contains(scr, s) })
}

// shot keeps a screen for docs/tui.md (written when MESHJOIN_TUI_SCREENS names a directory).
func (tm *tmuxTerm) shot(name, screen string) {
	tm.shots[name] = screen
	if dir := os.Getenv("MESHJOIN_TUI_SCREENS"); dir != "" {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, name+".txt"), []byte(strings.TrimRight(screen, "\n")+"\n"), 0o644)
	}
}

// assertFits checks a captured screen has the terminal's size and the header is on it.
func assertFits(t *testing.T, screen string, w, h int) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	if len(lines) > h || !strings.HasPrefix(lines[0], "meshjoin") {
		t.Errorf("screen is not %dx%d with the header on top:\n%s", w, h, screen)
	}
	for _, l := range lines {
		if n := len([]rune(l)); n > w {
			t.Errorf("line wider than %d: %q", w, l)
		}
	}
}

func shellQuote(args []string) string {
	var out []string
	for _, a := range args {
		out = append(out, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	return strings.Join(out, " ")
}

// The TUI against the test mesh in a real terminal: filter, select two services, join, call
// one from outside, add a third live, leave; the machine is as before.
func TestTUIEndToEnd(t *testing.T) {
	e := newEnv(t)
	me := "spiffe://" + e.tb.TrustDomain + "/ns/dev/sa/alice"
	// As root (CI), the real /etc/hosts: the requests below go by name through the system
	// resolver, and /etc/hosts must be byte-identical afterwards.
	byName := os.Geteuid() == 0
	hostsFile := e.hostsFile
	tuiArgs := []string{"tui", "--identity", "dev/alice", "--envoy-image", testbed.EnvoyImage, "--sudo", "never"}
	if byName {
		hostsFile = "/etc/hosts"
		before, err := os.ReadFile(hostsFile)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if after, _ := os.ReadFile(hostsFile); !bytes.Equal(before, after) {
				t.Errorf("/etc/hosts changed:\nbefore %q\nafter  %q", before, after)
			}
		})
	} else {
		tuiArgs = append(tuiArgs, "--hosts-file", hostsFile)
	}
	args := append([]string{binary(t)}, e.args(tuiArgs...)...)
	// call asks a joined service from outside the TUI: by name with curl when /etc/hosts is
	// ours, else at the address the hosts file maps the name to.
	call := func(name string, port int, path string) (echo, error) {
		if !byName {
			return getHTTP(e.addr(name), port, path)
		}
		out, err := exec.Command("curl", "-sS", "--max-time", "10", fmt.Sprintf("http://%s:%d%s", name, port, path)).CombinedOutput()
		if err != nil {
			return echo{}, fmt.Errorf("curl %s: %v: %s", name, err, out)
		}
		var r echo
		return r, json.Unmarshal(out, &r)
	}
	exitFile := filepath.Join(t.TempDir(), "exit")
	command := fmt.Sprintf("NO_COLOR=1 %s; echo $? > %s; echo EXITED; sleep 600", shellQuote(args), exitFile)
	tm := startTmux(t, 80, 24, command) // the smallest supported size; resized later
	quit := false
	t.Cleanup(func() {
		if !quit { // a failed test still leaves cleanly
			tm.run("send-keys", "-t", "tui", "q")
			deadline := time.Now().Add(45 * time.Second)
			for time.Now().Before(deadline) {
				if _, err := os.Stat(exitFile); err == nil {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	})

	picker := tm.waitText("ledger.payments", 90*time.Second)
	tm.shot("picker", picker)
	assertFits(t, picker, 80, 24)
	for _, want := range []string{"[not joined]", "trust domain " + e.tb.TrustDomain, "gateway " + e.tb.GatewayAddr(), "▾ bookinfo", "ratings.bookinfo", "9080/http", "✗ legacy-api.legacy"} {
		if !strings.Contains(picker, want) {
			t.Errorf("picker lacks %q:\n%s", want, picker)
		}
	}

	// An unreachable service says why on the detail line, and cannot be selected.
	tm.keys("/")
	tm.text("legacy")
	tm.keys("Enter", "Space")
	unreachable := tm.waitText("✗ not reachable:", 5*time.Second)
	tm.shot("unreachable", unreachable)
	if !strings.Contains(unreachable, "0 selected") {
		t.Errorf("an unreachable service was selected:\n%s", unreachable)
	}
	tm.keys("Escape")

	tm.keys("/")
	tm.text("rtngs") // fuzzy
	filtered := tm.waitText("filter: /rtngs", 5*time.Second)
	tm.shot("filter", filtered)
	if strings.Contains(filtered, "ledger.payments") || !strings.Contains(filtered, "ratings.bookinfo") {
		t.Errorf("filter rtngs shows:\n%s", filtered)
	}
	tm.keys("Enter", "Space", "/", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace")
	tm.text("ledger")
	tm.keys("Enter", "Space")
	tm.waitText("2 selected", 5*time.Second)
	tm.keys("Escape") // clear the filter
	tm.keys("Enter")

	progress := tm.waitFor("the join progress", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "Joining") || strings.Contains(s, "[joined 2]")
	})
	if strings.Contains(progress, "Joining") {
		tm.shot("progress", progress)
	}
	dash := tm.waitText("[joined 2]", 90*time.Second)
	for _, want := range []string{"ratings.bookinfo", "ledger.payments", "expires in", "try: curl http://"} {
		if !strings.Contains(dash, want) {
			t.Errorf("dashboard lacks %q:\n%s", want, dash)
		}
	}

	// From outside the TUI: ratings.bookinfo answers by name (or at its mapped address).
	hostsBytes, _ := os.ReadFile(hostsFile)
	ratings := e.addr("ratings.bookinfo")
	if !regexp.MustCompile(regexp.QuoteMeta(ratings) + `\s+ratings\.bookinfo\.svc\.cluster\.local`).Match(hostsBytes) {
		t.Errorf("hosts file lacks ratings:\n%s", hostsBytes)
	}
	if got, err := call("ratings.bookinfo", 9080, "/ratings/0"); err != nil || got.Caller != me {
		t.Fatalf("ratings through the TUI's session: %+v, %v", got, err)
	}
	// The dashboard counts it within a refresh or two.
	rowRE := regexp.MustCompile(`ratings\.bookinfo\s+` + regexp.QuoteMeta(ratings) + `\s+9080/http\s+1\s+0\s`)
	dash = tm.waitFor("the request counted on the dashboard", 15*time.Second, func(s string) bool { return rowRE.MatchString(s) })
	assertFits(t, dash, 80, 24)

	// The terminal grows: the TUI follows, and the p50 latency appears once Envoy flushed
	// its histograms (every 5 s).
	tm.run("resize-window", "-t", "tui", "-x", "120", "-y", "40")
	for i := range 5 {
		if _, err := getHTTP(ratings, 9080, fmt.Sprintf("/ratings/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	p50RE := regexp.MustCompile(`ratings\.bookinfo\s+` + regexp.QuoteMeta(ratings) + `\s+9080/http\s+6\s+0\s+(<1|[0-9.]+)ms`)
	deadline := time.Now().Add(45 * time.Second)
	for dash = tm.screen(); !p50RE.MatchString(dash); dash = tm.screen() {
		if time.Now().After(deadline) {
			// What Envoy itself says, to tell a parsing bug from a slow flush.
			raw, _ := e.admin().Get(context.Background(), http.DefaultClient, "/stats?filter=upstream_rq_time")
			t.Fatalf("no p50 latency on the dashboard after 45s; Envoy's histograms:\n%s\nscreen:\n%s", raw, dash)
		}
		time.Sleep(200 * time.Millisecond)
	}
	assertFits(t, dash, 120, 40)
	tm.shot("dashboard", dash)

	// + adds a third service live.
	tm.keys("+", "/")
	tm.text("web")
	tm.keys("Enter", "Space", "Enter")
	tm.waitText("[joined 3]", 60*time.Second)
	if got, err := call("web.bookinfo", 80, "/"); err != nil || got.Caller != me {
		t.Fatalf("web.bookinfo added live: %+v, %v", got, err)
	}
	if got, err := getHTTP(ratings, 9080, "/ratings/1"); err != nil || got.Caller != me {
		t.Fatalf("ratings after the change: %+v, %v", got, err)
	}
	dash = tm.waitText("web.bookinfo", 5*time.Second)
	tm.shot("dashboard-3", dash)

	tm.keys("?")
	tm.shot("help", tm.waitText("Keys", 5*time.Second))
	tm.keys("Escape", "l")
	tm.shot("logs", tm.waitText("── log", 5*time.Second))
	tm.keys("l")

	tm.keys("q")
	quit = true
	scr := tm.waitText("EXITED", 60*time.Second)
	code, _ := os.ReadFile(exitFile)
	if strings.TrimSpace(string(code)) != "0" {
		t.Fatalf("meshjoin tui exited %s:\n%s", code, scr)
	}
	if strings.Contains(scr, "[joined") || !strings.Contains(scr, "Left the mesh") {
		t.Errorf("after q the terminal should be back with the farewell line:\n%s", scr)
	}
	e.assertClean()
	assertNoListener(t, ratings+":9080")
}

// Without --identity the TUI lists the service accounts the developer may create tokens for
// (SelfSubjectAccessReview against the real kube-apiserver) and connects as the chosen one.
func TestTUIIdentityChooserEndToEnd(t *testing.T) {
	e := newEnv(t)
	args := append([]string{binary(t)}, e.args("tui", "--hosts-file", e.hostsFile, "--envoy-image", testbed.EnvoyImage, "--sudo", "never")...)
	exitFile := filepath.Join(t.TempDir(), "exit")
	command := fmt.Sprintf("NO_COLOR=1 env -u MESHJOIN_IDENTITY %s; echo $? > %s; echo EXITED; sleep 600", shellQuote(args), exitFile)
	tm := startTmux(t, 80, 24, command)
	scr := tm.waitText("dev/alice", 60*time.Second)
	tm.shot("identity", scr)
	if !strings.Contains(scr, "› dev/alice") {
		t.Fatalf("dev/alice is not offered:\n%s", scr)
	}
	tm.keys("Enter")
	scr = tm.waitText("ratings.bookinfo", 60*time.Second)
	if !strings.Contains(scr, "identity spiffe://"+e.tb.TrustDomain+"/ns/dev/sa/alice") {
		t.Errorf("header after choosing:\n%s", scr)
	}
	tm.keys("C-c") // Ctrl-C quits like q, and the terminal is restored (alternate screen left)
	scr = tm.waitText("EXITED", 30*time.Second)
	if code, _ := os.ReadFile(exitFile); strings.TrimSpace(string(code)) != "0" {
		t.Fatalf("exit %s:\n%s", code, scr)
	}
	if strings.Contains(scr, "[not joined]") {
		t.Errorf("the TUI's screen is still shown after exit:\n%s", scr)
	}
}

// The picker follows the cluster live; when Docker removes the local Envoy under the dashboard
// the session brings it back (self-healing) and the dashboard stays; q then leaves (hosts
// entries removed) and gives the terminal back.
func TestTUIFollowsClusterAndSurvivesEnvoyDeath(t *testing.T) {
	e := newEnv(t)
	tm, exitFile := startTUIInShell(t, e, 100, 30)

	// A Service created while the picker is open appears; deleted, it goes.
	ctx := context.Background()
	svcs := e.tb.Admin().CoreV1().Services("bookinfo")
	arrival := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "arrival", Namespace: "bookinfo"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "arrival"}, Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}}
	if _, err := svcs.Create(ctx, arrival, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svcs.Delete(context.Background(), "arrival", metav1.DeleteOptions{}) })
	tm.waitText("arrival.bookinfo", 20*time.Second)
	if err := svcs.Delete(ctx, "arrival", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	tm.waitFor("arrival.bookinfo to vanish", 20*time.Second, func(s string) bool { return !strings.Contains(s, "arrival.bookinfo") })

	joinRatings(tm)
	id := e.state().ContainerID
	if id == "" {
		t.Fatal("no container recorded")
	}

	// Docker takes the Envoy away: the session brings it back with the same certificate, the
	// dashboard stays, and requests by address answer again.
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		healed := e.state().ContainerID
		_, reqErr := getHTTP(e.addr("ratings.bookinfo"), 9080, "/")
		if healed != "" && healed != id && reqErr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Envoy was not brought back (container %q, request: %v); screen:\n%s", healed, reqErr, tm.screen())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if scr := tm.screen(); !strings.Contains(scr, "[joined 1]") {
		t.Fatalf("the dashboard did not stay after Envoy came back:\n%s", scr)
	}

	// q leaves: the terminal comes back and nothing is left behind.
	tm.keys("q")
	scr := tm.waitText("EXITED", 60*time.Second)
	if strings.Contains(scr, "[joined") {
		t.Fatalf("the TUI did not give the terminal back:\n%s", scr)
	}
	if _, err := os.Stat(exitFile); err != nil {
		t.Fatal("meshjoin tui did not exit")
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "state.json")); err == nil {
		logs, _ := os.ReadFile(filepath.Join(e.stateDir, "tui.log"))
		t.Fatalf("the session was not cleaned up; screen:\n%s\nits log:\n%s", scr, logs)
	}
	// The terminal is usable (not left raw: Enter still ends a line): a typed command runs.
	tm.text("echo ok-$((40+2))")
	tm.keys("Enter")
	tm.waitText("ok-42", 10*time.Second)
}

// SIGINT from outside (another terminal, an IDE's stop button) while joined: the TUI leaves,
// gives the terminal back, and nothing is left behind.
func TestTUIInterruptedFromOutside(t *testing.T) {
	e := newEnv(t)
	tm, _ := startTUIInShell(t, e, 80, 24)
	joinRatings(tm)
	if _, err := getHTTP(e.addr("ratings.bookinfo"), 9080, "/"); err != nil {
		t.Fatal(err)
	}
	p, err := os.FindProcess(e.state().PID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	scr := tm.waitText("EXITED", 60*time.Second)
	if strings.Contains(scr, "[joined") {
		t.Fatalf("the TUI did not give the terminal back:\n%s", scr)
	}
	tm.text("echo ok-$((40+2))")
	tm.keys("Enter")
	tm.waitText("ok-42", 10*time.Second)
}

// startTUIInShell runs `meshjoin tui` for env in a w×h tmux pane that ends in a shell (to show
// the terminal still takes commands after the TUI exits), and waits for the picker. The exit
// code is written to the returned file.
func startTUIInShell(t *testing.T, e *env, w, h int) (*tmuxTerm, string) {
	t.Helper()
	args := append([]string{binary(t)}, e.args("tui", "--identity", "dev/alice", "--hosts-file", e.hostsFile,
		"--envoy-image", testbed.EnvoyImage, "--sudo", "never")...)
	exitFile := filepath.Join(t.TempDir(), "exit")
	tm := startTmux(t, w, h, fmt.Sprintf("NO_COLOR=1 %s; echo $? > %s; echo EXITED; exec sh", shellQuote(args), exitFile))
	tm.waitText("ledger.payments", 90*time.Second)
	return tm, exitFile
}

// joinRatings filters the picker for ratings, selects it and joins.
func joinRatings(tm *tmuxTerm) {
	tm.t.Helper()
	tm.keys("/")
	tm.text("ratings")
	tm.keys("Enter", "Space", "Enter")
	tm.waitText("[joined 1]", 60*time.Second)
}
