package hosts

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// These tests use real bind mounts, the way Docker mounts /etc/hosts into a container, and
// the real /etc/hosts. They need root (CI runs as root).

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for bind mounts and /etc/hosts; CI runs as root")
	}
}

func bindMount(t *testing.T, src, dst string, readOnly bool) {
	t.Helper()
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount %s on %s: %v (root without CAP_SYS_ADMIN cannot run this test)", src, dst, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dst, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dst, err)
		}
	})
	if readOnly {
		if err := syscall.Mount("", dst, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			t.Fatalf("remount %s read-only: %v", dst, err)
		}
	}
}

// TestBindMountedHostsFile: rename onto a mount point fails with EBUSY, so Apply rewrites the
// file in place, and the bytes land in the file that is mounted.
func TestBindMountedHostsFile(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	orig := "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost"
	src := writeTemp(t, orig) // the container's hosts file, as Docker keeps it
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bindMount(t, src, path, false)

	if err := replaceAtomic(path, []byte("x")); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("rename onto the bind mount = %v, want EBUSY (the premise of this test)", err)
	}
	f, err := open(path, "s", testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Apply(sampleEntries()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, src); !strings.Contains(got, "ratings.bookinfo") || !strings.HasPrefix(got, orig+"\n") {
		t.Errorf("the mounted file holds %q", got)
	}
	if _, err := f.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, src); got != orig {
		t.Errorf("after removal: %q, want %q", got, orig)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 { // hosts and hosts.meshjoin.lock (testOptions: no /run/lock)
		t.Errorf("temporary files left in %s: %v", dir, ents)
	}
}

// TestReadOnlyDirectoryWritableFile: the directory takes no new files (read-only mount) but the
// hosts file, mounted on top, is writable: the lock goes to the temp directory and the write
// is done in place.
func TestReadOnlyDirectoryWritableFile(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // not parallel
	orig := "127.0.0.1 localhost\r\n"
	src := writeTemp(t, orig)
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bindMount(t, dir, dir, true)
	bindMount(t, src, path, false)
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("creating a file in %s = %v, want EROFS (the premise of this test)", dir, err)
	}

	f, err := open(path, "s", testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if filepath.Dir(f.lock.Path()) != tmp {
		t.Errorf("lock at %s, want it in %s", f.lock.Path(), tmp)
	}
	if _, err := f.Apply(sampleEntries()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, src); !strings.HasPrefix(got, orig+"# BEGIN meshjoin s ") {
		t.Errorf("the mounted file holds %q", got)
	}
	if _, err := f.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, src); got != orig {
		t.Errorf("after removal: %q, want %q", got, orig)
	}
}

// TestNotWritable: a hosts file that cannot be written is refused at Open, with the next step.
func TestNotWritable(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	path := writeTemp(t, "127.0.0.1 localhost\n")
	bindMount(t, path, path, true)
	for _, op := range []func() error{
		func() error {
			f, err := Open(path, "s")
			if err == nil {
				f.Close()
			}
			return err
		},
	} {
		err := op()
		if !errors.Is(err, syscall.EROFS) {
			t.Fatalf("err = %v, want EROFS", err)
		}
		for _, want := range []string{path, "is not writable", "sudo", "--hosts-file"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	}
}

// TestSystemHostsFile edits the real /etc/hosts, checks that the system resolver (glibc, through
// getent) sees the names, and that removal gives back the file byte for byte. The original bytes
// are restored whatever happens.
func TestSystemHostsFile(t *testing.T) {
	requireRoot(t)
	path := SystemPath()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi0, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cur, err := os.ReadFile(path); err != nil || !bytes.Equal(cur, orig) {
			t.Errorf("%s was not restored by the test; restoring it", path)
			if err := write(path, orig, replaceAtomic); err != nil {
				t.Errorf("restore %s: %v", path, err)
			}
		}
	})

	owner := fmt.Sprintf("hosts-test-%d", os.Getpid())
	name := fmt.Sprintf("meshjoin-selftest-%d.invalid", os.Getpid())
	ip, err := Allocator{}.AddressFor(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(path, owner)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Apply([]Entry{{IP: ip, Names: []string{name}}}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("getent", "hosts", name).Output()
	if err != nil {
		t.Errorf("getent hosts %s: %v", name, err)
	} else if fields := strings.Fields(string(out)); len(fields) < 2 || fields[0] != ip.String() {
		t.Errorf("getent hosts %s = %q, want %s", name, out, ip)
	}
	fi1, _ := os.Stat(path)
	st0, st1 := fi0.Sys().(*syscall.Stat_t), fi1.Sys().(*syscall.Stat_t)
	if fi1.Mode() != fi0.Mode() || st1.Uid != st0.Uid || st1.Gid != st0.Gid {
		t.Errorf("mode/owner changed from %v %d:%d to %v %d:%d", fi0.Mode(), st0.Uid, st0.Gid, fi1.Mode(), st1.Uid, st1.Gid)
	}
	if _, err := f.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if cur, _ := os.ReadFile(path); !bytes.Equal(cur, orig) {
		t.Errorf("after Apply(nil) %s is\n%q\nwant\n%q", path, cur, orig)
	}
}
