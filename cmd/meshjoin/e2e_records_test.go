//go:build !windows

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// faultAddressRange is the fault tests' own loopback range, used by no other test.
const faultAddressRange = "127.81.0.0/16"

// faultJoinArgs are joinArgs on an address range of the fault tests' own, so that they can
// run beside other tests' (and other people's) sessions of the same services.
func (e *env) faultJoinArgs(services ...string) []string {
	return append(e.joinArgs(services...), "--address-range", faultAddressRange)
}

// A join whose hosts step fails before changing anything (a hosts file with a broken meshjoin
// marker) leaves no record: the next join, with another hosts file, and leave just work.
func TestFailedHostsStepRecordsNothing(t *testing.T) {
	e := newEnv(t)
	const brokenHosts = "127.0.0.1 localhost\n# BEGIN meshjoin 0123456789ab (managed by meshjoin; do not edit)\n10.0.0.1 half.block\n"
	broken := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(broken, []byte(brokenHosts), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := e.run(setFlag(t, e.faultJoinArgs("ratings.bookinfo"), "--hosts-file", broken)...)
	if code == 0 || !strings.Contains(errOut, "strange hosts file") || !strings.Contains(errOut, "Next:") {
		t.Fatalf("join with a broken marker: exit %d\n%s", code, errOut)
	}
	if b, _ := os.ReadFile(broken); string(b) != brokenHosts {
		t.Errorf("the broken hosts file changed:\n%q", b)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "state.json")); err == nil {
		b, _ := os.ReadFile(filepath.Join(e.stateDir, "state.json"))
		t.Fatalf("a failed join that changed nothing left a state file:\n%s", b)
	}
	if ids := meshjoinContainers(t); len(ids) > 0 {
		t.Errorf("containers left behind: %v", ids)
	}
	if code, out, errOut := e.run(e.args("leave")...); code != 0 || !strings.Contains(out, "No meshjoin session") {
		t.Errorf("leave after the failed join: %d %s %s", code, out, errOut)
	}
	r := e.startJoin(e.faultJoinArgs("ratings.bookinfo")...)
	r.interrupt(t)
}

// A crashed session's record names a hosts file whose markers the user has since broken by
// hand: the next join (to another file) cleans up the rest and goes ahead, saying so; it does
// not fail for ever on a file it will never write.
func TestCrashRecordWithBrokenHostsFile(t *testing.T) {
	e := newEnv(t)
	other := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(other, []byte(initialHosts), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.startJoin(setFlag(t, e.faultJoinArgs("ratings.bookinfo"), "--hosts-file", other)...)
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	b, _ := os.ReadFile(other)
	broken := strings.Replace(string(b), "# END meshjoin", "# END of my edits", 1)
	if err := os.WriteFile(other, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	r2 := e.startJoin(e.faultJoinArgs("web.bookinfo")...)
	if !strings.Contains(r2.stderr.String(), "markers are broken") {
		t.Errorf("the join does not say it left the broken file alone:\n%s", r2.stderr)
	}
	if n := len(meshjoinContainers(t)); n != 1 {
		t.Errorf("%d containers, want only the new session's", n)
	}
	if b, _ := os.ReadFile(other); string(b) != broken {
		t.Errorf("the file with broken markers was changed:\n%q", b)
	}
	r2.interrupt(t)
}
