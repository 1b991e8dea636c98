package hosts

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// testOptions are the defaults with DNS flushing switched off and writes counted.
func testOptions(writes *atomic.Int32) options {
	o := defaultOptions()
	o.flush = func(string) {}
	// The fallback order (next to the file, then TMPDIR) is what most tests exercise;
	// TestLockLivesInRunLock covers the default first choice.
	o.lockPaths = func(real string) []string { return lockPathsIn("", real) }
	if writes != nil {
		o.replace = func(path string, data []byte) error {
			writes.Add(1)
			return replaceAtomic(path, data)
		}
	}
	return o
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApplyOwnerAndRemove(t *testing.T) {
	t.Parallel()
	orig := "127.0.0.1\tlocalhost\r\n# keep me\r\n::1 localhost"
	path := writeTemp(t, orig)
	var writes atomic.Int32
	f, err := open(path, "sess-1", testOptions(&writes))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	if owner, found, err := f.Owner(); err != nil || found || owner != "" {
		t.Fatalf("Owner before Apply = %q %v %v", owner, found, err)
	}
	rejected, err := f.Apply(sampleEntries())
	if err != nil || len(rejected) != 0 {
		t.Fatalf("Apply = %v, %v", rejected, err)
	}
	got := readFile(t, path)
	want := orig + "\r\n" +
		"# BEGIN meshjoin sess-1 (managed by meshjoin; do not edit)\r\n" +
		newlineNote + "\r\n" +
		"127.77.0.2       ratings.bookinfo.svc.cluster.local ratings.bookinfo.svc ratings.bookinfo\r\n" +
		"127.77.0.3       reviews.bookinfo.svc.cluster.local reviews.bookinfo.svc reviews.bookinfo\r\n" +
		"# END meshjoin\r\n"
	if got != want {
		t.Fatalf("file after Apply:\n%q\nwant\n%q", got, want)
	}
	if owner, found, err := f.Owner(); err != nil || !found || owner != "sess-1" {
		t.Errorf("Owner = %q %v %v, want sess-1", owner, found, err)
	}
	if writes.Load() != 1 {
		t.Errorf("%d writes, want 1", writes.Load())
	}

	// Idempotent: the same entries in another order write nothing, and the inode stays.
	before, _ := os.Stat(path)
	entries := sampleEntries()
	entries[0], entries[1] = entries[1], entries[0]
	if _, err := f.Apply(entries); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if writes.Load() != 1 || !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) {
		t.Errorf("second Apply wrote the file (%d writes)", writes.Load())
	}

	if _, err := f.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != orig {
		t.Errorf("after Apply(nil):\n%q\nwant\n%q", got, orig)
	}
	if _, found, _ := f.Owner(); found {
		t.Error("block still found after Apply(nil)")
	}
	// Nothing to remove: no write.
	n := writes.Load()
	if _, err := f.Apply(nil); err != nil || writes.Load() != n {
		t.Errorf("Apply(nil) on a file without block: %v, %d writes", err, writes.Load()-n)
	}
}

func TestApplyRejectsHostileNames(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, "127.0.0.1 localhost\n")
	f, err := open(path, "s", testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hostile := []string{"a\nb", "with space", "hash#", strings.Repeat("x", 300), "ünï.code", "nul\x00", "127.0.0.1 bank.example", ""}
	rejected, err := f.Apply([]Entry{
		{IP: netip.MustParseAddr("127.77.0.2"), Names: append([]string{"Good.Name"}, hostile...)},
		{IP: netip.MustParseAddr("127.77.0.3"), Names: hostile},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 2*len(hostile) {
		t.Errorf("%d rejected, want %d: %q", len(rejected), 2*len(hostile), rejected)
	}
	for _, r := range rejected {
		if r.Reason == "" {
			t.Errorf("rejected %q without a reason", r.Name)
		}
	}
	b, found, err := f.Current()
	if err != nil || !found {
		t.Fatal(found, err)
	}
	if want := []Entry{{netip.MustParseAddr("127.77.0.2"), []string{"good.name"}}}; !equalEntries(b.Entries, want) {
		t.Errorf("entries = %v, want %v", b.Entries, want)
	}
	if strings.Count(readFile(t, path), "\n") != 4 {
		t.Errorf("a hostile name added lines:\n%s", readFile(t, path))
	}
}

func TestApplyOnStrangeFileChangesNothing(t *testing.T) {
	t.Parallel()
	orig := "127.0.0.1 localhost\n# BEGIN meshjoin old (managed by meshjoin; do not edit)\n127.77.0.2 x\n"
	path := writeTemp(t, orig)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(path, old, old)
	f, err := open(path, "s", testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, op := range []func() error{
		func() error { _, err := f.Apply(sampleEntries()); return err },
		func() error { _, err := f.Apply(nil); return err },
		func() error { _, _, err := f.Owner(); return err },
	} {
		err := op()
		if err == nil {
			t.Fatal("no error on a BEGIN without END")
		}
		for _, want := range []string{path, "line 2", "without a matching END", "edit it by hand"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	}
	f.Close()
	fi, _ := os.Stat(path)
	if readFile(t, path) != orig || !fi.ModTime().Equal(old) {
		t.Error("a strange file was written")
	}
}

func TestFileRoundTripCorpus(t *testing.T) {
	t.Parallel()
	for name, orig := range strangeFiles {
		path := writeTemp(t, orig)
		f, err := open(path, "s", testOptions(nil))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Apply(sampleEntries()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := f.Apply(nil); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f.Close()
		if got := readFile(t, path); got != orig {
			t.Errorf("%s: after add and remove:\n%q\nwant\n%q", name, got, orig)
		}
	}
}

func TestApplyKeepsModeAndSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "real-hosts")
	if err := os.WriteFile(target, []byte("127.0.0.1 localhost\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(target, 0o640) // whatever the umask
	link := filepath.Join(dir, "hosts")
	if err := os.Symlink("real-hosts", link); err != nil {
		t.Fatal(err)
	}
	f, err := open(link, "s", testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Apply(sampleEntries()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v %v", fi.Mode(), err)
	}
	fi, _ := os.Stat(target)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
	}
	if !strings.Contains(readFile(t, target), "ratings.bookinfo") {
		t.Error("the symlink's target was not updated")
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "hosts real-hosts real-hosts.meshjoin.lock" {
		t.Errorf("directory holds %v", names)
	}
}

// TestRenameFallback forces rename to fail as it does on a bind-mounted /etc/hosts
// (mount_linux_test.go does it with a real bind mount).
func TestRenameFallback(t *testing.T) {
	t.Parallel()
	for _, errno := range []syscall.Errno{syscall.EBUSY, syscall.EXDEV, syscall.EPERM, syscall.EACCES, syscall.EROFS} {
		path := writeTemp(t, "127.0.0.1 localhost\n")
		o := testOptions(nil)
		o.replace = func(p string, _ []byte) error {
			return &os.LinkError{Op: "rename", Old: p + ".tmp", New: p, Err: errno}
		}
		f, err := open(path, "s", o)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := os.Stat(path)
		if _, err := f.Apply(sampleEntries()); err != nil {
			t.Fatalf("%v: %v", errno, err)
		}
		after, _ := os.Stat(path)
		if !os.SameFile(before, after) {
			t.Errorf("%v: the file was replaced, want it rewritten in place", errno)
		}
		if _, found, _ := f.Owner(); !found {
			t.Errorf("%v: no block after the in-place write", errno)
		}
		// Shrinking in place truncates the old tail.
		if _, err := f.Apply(nil); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, path); got != "127.0.0.1 localhost\n" {
			t.Errorf("%v: after removal in place: %q", errno, got)
		}
		f.Close()
	}
}

func TestWriteErrorIsReported(t *testing.T) {
	t.Parallel()
	orig := "127.0.0.1 localhost\n"
	path := writeTemp(t, orig)
	o := testOptions(nil)
	o.replace = func(string, []byte) error { return syscall.ENOSPC }
	f, err := open(path, "s", o)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = f.Apply(sampleEntries())
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), path) {
		t.Errorf("Apply = %v, want ENOSPC naming %s", err, path)
	}
	if readFile(t, path) != orig {
		t.Error("the file changed although the write failed")
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, path, owner string
		want              []string
	}{
		{"missing", filepath.Join(dir, "nope"), "s", []string{"does not exist", "--hosts-file"}},
		{"directory", dir, "s", []string{"not a regular file", "--hosts-file"}},
		{"empty owner", writeTemp(t, ""), "", []string{"invalid owner"}},
		{"owner with space", writeTemp(t, ""), "a b", []string{"invalid owner"}},
		{"owner with newline", writeTemp(t, ""), "a\n# END meshjoin", []string{"invalid owner"}},
		{"owner too long", writeTemp(t, ""), strings.Repeat("o", 129), []string{"invalid owner"}},
	}
	for _, tt := range tests {
		f, err := Open(tt.path, tt.owner)
		if err == nil {
			f.Close()
			t.Errorf("%s: Open succeeded", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tt.name, err, w)
			}
		}
	}
	if f, err := Open(writeTemp(t, ""), strings.Repeat("o", 128)); err != nil {
		t.Errorf("128-character owner: %v", err)
	} else {
		f.Close()
	}
}

func TestCloseAndUseAfterClose(t *testing.T) {
	t.Parallel()
	f, err := open(writeTemp(t, ""), "s", testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.Apply(sampleEntries()); err == nil || !strings.Contains(err.Error(), "after Close") {
		t.Errorf("Apply after Close = %v", err)
	}
}

func TestLockFallsBackToTempDir(t *testing.T) {
	// t.Setenv: not parallel.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	path := writeTemp(t, "")
	// The sibling lock cannot be created (as root, permission bits would not stop us, so a
	// directory stands in its way).
	if err := os.Mkdir(path+".meshjoin.lock", 0o755); err != nil {
		t.Fatal(err)
	}
	o := testOptions(nil)
	f, err := open(path, "s", o)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if dir := filepath.Dir(f.lock.Path()); dir != tmp {
		t.Errorf("lock at %s, want it in %s", f.lock.Path(), tmp)
	}
	// The fallback lock still excludes a second File.
	o.lockTimeout = 50 * time.Millisecond
	if g, err := open(path, "t", o); err == nil {
		g.Close()
		t.Fatal("second Open got the fallback lock while the first held it")
	}
}

// The default lock lives in /run/lock: nothing is left beside the hosts file.
func TestLockLivesInRunLock(t *testing.T) {
	path := writeTemp(t, "127.0.0.1 localhost\n")
	f, err := Open(path, "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Apply(sampleEntries()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Apply(nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if filepath.Dir(f.lock.Path()) != systemLockDir {
		t.Errorf("lock at %s, want it in %s", f.lock.Path(), systemLockDir)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("beside the hosts file: %v, want nothing", ents)
	}
}
