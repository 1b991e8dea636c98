//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/helper"
	"github.com/meshjoin/meshjoin/testbed"
)

// Published-ports mode (Docker Desktop's, emulated) as an unprivileged user: meshjoin's
// forwarder listens on the services' own ports, and a port below 1024 is one the user may not
// bind. The privileged helper opens it and hands the socket over; the user's join answers on
// port 80 by name, and nothing listens there once it ends. Without a helper, the same join
// stops before anything starts, saying what to install, and changes nothing.
func TestHelperOpensPrivilegedPortForPublishedMode(t *testing.T) {
	keepEtcHosts(t)
	tb := testbed.Shared(t)
	tb.EmulateDockerDesktop(t)
	w := newHelperWorld(t)
	u := w.inside
	kubeconfig := w.kubeconfigFor(u, tb)
	stateDir := filepath.Join(u.home, "state")
	join := func(extra ...string) []string {
		return append([]string{"--kubeconfig", kubeconfig, "--state-dir", stateDir, "join", "--identity", "dev/alice",
			"--envoy-image", testbed.EnvoyImage, "--address-range", helperTestRange, "--envoy-network", "published"},
			append(extra, "web.bookinfo", "ratings.bookinfo")...)
	}

	// Without a helper (none installed for this user) and with a hosts file of the user's own:
	// exit 3, the helper named, nothing left.
	userHosts := filepath.Join(u.home, "hosts")
	if err := os.WriteFile(userHosts, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.give(u, userHosts)
	noHelper := w.as(u, w.bin, join("--hosts-file", userHosts)...)
	for i, kv := range noHelper.Env {
		if strings.HasPrefix(kv, helper.SocketEnv+"=") {
			noHelper.Env[i] = helper.SocketEnv + "=" // unset: the default socket, which no helper serves here
		}
	}
	var out bytes.Buffer
	noHelper.Stdout, noHelper.Stderr = &out, &out
	err := noHelper.Run()
	if code := noHelper.ProcessState.ExitCode(); code != exitPermission || !strings.Contains(out.String(), "sudo meshjoin helper install") ||
		!strings.Contains(out.String(), ":80 needs privileges") {
		t.Fatalf("published join of a port-80 service without a helper: exit %d (%v), want %d naming the helper:\n%s", code, err, exitPermission, &out)
	}
	if got := string(must(os.ReadFile(userHosts))); got != "127.0.0.1 localhost\n" {
		t.Fatalf("the failed join changed the user's hosts file: %q", got)
	}

	// With the helper: port 80 is the helper's socket, port 9080 the user's own.
	j := w.startAs(u, join()...)
	w.expectResolves("web.bookinfo", "127.94.")
	for _, url := range []string{"http://web.bookinfo/", "http://ratings.bookinfo:9080/ratings/0"} {
		if body, err := exec.Command("curl", "-sS", "--fail", "--max-time", "10", url).CombinedOutput(); err != nil {
			t.Fatalf("curl %s: %v\n%s", url, err, body)
		}
	}
	webAddr := strings.Fields(string(must(exec.Command("getent", "hosts", "web.bookinfo").Output())))[0]
	log := w.log.String()
	if !strings.Contains(log, "listening socket handed over") || !strings.Contains(log, "addr="+webAddr+":80") ||
		!strings.Contains(log, "uid="+strconv.Itoa(int(u.uid))) || strings.Contains(log, ":9080") {
		t.Errorf("the helper's log should show port 80, and only it, handed to uid %d:\n%s", u.uid, log)
	}
	j.interrupt(t)
	assertNoListener(t, webAddr+":80")
}
