//go:build !windows

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestUsageExitCodeThroughBinary: the real binary exits 2 on usage errors, cobra's own
// included, before touching anything (no kubeconfig or state dir is read: the
// paths given do not exist).
func TestUsageExitCodeThroughBinary(t *testing.T) {
	bin := binary(t)
	missing := t.TempDir() + "/absent"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "now"}, `unknown command "now" for "meshjoin status"`},
		{[]string{"join", "ratings.bookinfo", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"join", "ratings.bookinfo", "--identity", "dev/alice", "--runtime", "foo"}, "valid values are {docker|native}"},
		{[]string{"services", "-o", "xml"}, "valid values are {table|json|yaml}"},
	} {
		args := append([]string{"--kubeconfig", missing, "--state-dir", missing}, tc.args...)
		cmd := exec.Command(bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
			t.Errorf("meshjoin %s: %v, want exit %d\n%s", strings.Join(tc.args, " "), err, exitUsage, stderr.String())
			continue
		}
		if !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), "\nNext: see `meshjoin ") {
			t.Errorf("meshjoin %s: stderr %q, want %q and a Next: line", strings.Join(tc.args, " "), stderr.String(), tc.want)
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("meshjoin %s created %s", strings.Join(tc.args, " "), missing)
		}
		if stdout.Len() != 0 {
			t.Errorf("meshjoin %s wrote to stdout: %q", strings.Join(tc.args, " "), stdout.String())
		}
	}
}
