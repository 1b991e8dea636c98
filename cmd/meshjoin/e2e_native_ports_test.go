//go:build linux

package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/testbed"
)

// The native runtime's Envoy runs as the user, and a port below 1024 is one a user's process
// may not bind. Run here as root without CAP_NET_BIND_SERVICE (setpriv drops it from the
// bounding set, so Envoy, meshjoin's child, lacks it too), a native join of a port-80 service
// stops with exit 3 naming the address and what to do, and leaves nothing (newEnv's clean-up
// check); under the same restriction a port-9080 service joins.
func TestNativeEnvoyPrivilegedPortRefusedClearly(t *testing.T) {
	envoyBin, err := testbed.EnvoyBinary()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	withoutBind := func(services ...string) *exec.Cmd {
		args := append(e.joinArgs(services...), "--runtime", "native", "--envoy-path", envoyBin)
		return exec.Command("setpriv", append([]string{"--bounding-set=-net_bind_service", binary(t)}, args...)...)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := withoutBind("web.bookinfo")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	err = cmd.Run()
	stop()
	if code := cmd.ProcessState.ExitCode(); code != exitPermission || !strings.Contains(out.String(), ":80 needs privileges the local Envoy, running as you, lacks") ||
		!strings.Contains(out.String(), "--runtime docker") {
		t.Fatalf("native join of a port-80 service without CAP_NET_BIND_SERVICE: exit %d (%v), want %d with what to do:\n%s", code, err, exitPermission, &out)
	}

	// The restriction is only about ports below 1024.
	r := e.startJoinCmd(withoutBind("ratings.bookinfo"))
	if _, err := getHTTP(e.addr("ratings.bookinfo"), 9080, "/"); err != nil {
		t.Fatalf("ratings through the native Envoy without CAP_NET_BIND_SERVICE: %v", err)
	}
	r.interrupt(t)
}
