//go:build linux

package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/meshjoin/meshjoin/helper"
)

// TestHelperInstall runs `meshjoin helper install` for real, as root, on a machine where
// systemd is installed but is not PID 1 (CI, containers): it writes the binary, the
// configuration and the unit, root's and with the right modes, and says how to start the
// helper by hand. The installed binary, started that way, serves the allowed user on the
// default socket and refuses another; `helper uninstall` then leaves the machine as it was.
func TestHelperInstall(t *testing.T) {
	installed := []string{helper.InstalledBinary, helper.DefaultConfig, helper.UnitPath, helper.DefaultSocket}
	for _, p := range installed {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s exists (%v): a meshjoin helper is installed on this machine, and this test will not replace it; uninstall it first (`sudo meshjoin helper uninstall`)", p, err)
		}
	}
	// The directories install or the helper may create, and whether each was there before.
	dirs := []string{"/usr/local/libexec", filepath.Dir(helper.InstalledBinary), filepath.Dir(helper.DefaultConfig), filepath.Dir(helper.DefaultSocket)}
	existed := map[string]bool{}
	for _, d := range dirs {
		_, err := os.Stat(d)
		existed[d] = err == nil
	}
	hostsBefore, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so run last (after the helper stopped): whatever happened, nothing of
	// the install stays, and /etc/hosts is as it was.
	t.Cleanup(func() {
		for _, p := range installed {
			os.Remove(p)
		}
		for _, d := range slices.Backward(dirs) {
			if !existed[d] {
				os.Remove(d)
			}
		}
		if after, _ := os.ReadFile("/etc/hosts"); !bytes.Equal(after, hostsBefore) {
			t.Errorf("/etc/hosts changed:\n%q\nwant\n%q", after, hostsBefore)
		}
	})

	w := newHelperAccounts(t)
	w.socket = helper.DefaultSocket

	// install, as root, allowing the inside user only.
	out, err := exec.Command(w.bin, "helper", "install", "--users", w.inside.name).CombinedOutput()
	if err != nil {
		t.Fatalf("helper install: %v\n%s", err, out)
	}
	serveHint := "`" + helper.InstalledBinary + " helper serve &`"
	if !strings.Contains(string(out), "systemd does not run here") || !strings.Contains(string(out), serveHint) {
		t.Errorf("install's output does not say systemd does not run and how to start the helper (%s):\n%s", serveHint, out)
	}
	for _, f := range []struct {
		path string
		mode fs.FileMode
	}{{helper.InstalledBinary, 0o755}, {helper.DefaultConfig, 0o644}, {helper.UnitPath, 0o644}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Fatalf("after install: %v", err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != f.mode || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s: %s owned by %d:%d, want a regular file %s owned by root", f.path, fi.Mode(), st.Uid, st.Gid, f.mode)
		}
	}
	if !bytes.Equal(must(os.ReadFile(helper.InstalledBinary)), must(os.ReadFile(w.bin))) {
		t.Errorf("%s is not a copy of the binary that ran install", helper.InstalledBinary)
	}
	// The unit as installed loads without a single warning (as TestSystemdUnitVerifies checks
	// for the text install writes).
	if vout, err := exec.Command("systemd-analyze", "verify", helper.UnitPath).CombinedOutput(); err != nil || len(bytes.TrimSpace(vout)) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", helper.UnitPath, err, vout)
	}

	// Start the installed binary as the message says: default socket, default configuration.
	w.serve(helper.InstalledBinary)
	status := func(u helperAccount) (int, string) {
		t.Helper()
		cmd := w.as(u, helper.InstalledBinary, "helper", "status")
		// No socket named: the default is what an installed helper serves.
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, helper.SocketEnv+"=") })
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	code, sout := status(w.inside)
	for _, says := range []string{"installed:  yes (" + helper.UnitPath + ")", "running:    yes, on " + helper.DefaultSocket,
		"allowed:    yes (you are uid " + strconv.Itoa(int(w.inside.uid)) + ")", "users [" + w.inside.name + "]"} {
		if code != 0 || !strings.Contains(sout, says) {
			t.Errorf("helper status as %s: exit %d, want 0 saying %q\n%s", w.inside.name, code, says, sout)
		}
	}
	code, sout = status(w.outside)
	if code != exitPermission || !strings.Contains(sout, "allowed:    no") || !strings.Contains(sout, "\nNext: ") {
		t.Errorf("helper status as %s (not allowed): exit %d, want %d with a Next: hint\n%s", w.outside.name, code, exitPermission, sout)
	}

	// Stop it (as the service manager would), then uninstall: every file and directory gone.
	w.stop()
	out, err = exec.Command(w.bin, "helper", "uninstall").CombinedOutput()
	if err != nil {
		t.Fatalf("helper uninstall: %v\n%s", err, out)
	}
	for _, p := range installed {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after uninstall %s is still there (%v):\n%s", p, err, out)
		}
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !existed[d] && err == nil {
			t.Errorf("after uninstall the directory %s, which was not there before, is:\n%s", d, out)
		}
	}
	if after := must(os.ReadFile("/etc/hosts")); !bytes.Equal(after, hostsBefore) {
		t.Errorf("after uninstall /etc/hosts is not as before:\n%s", after)
	}
}
