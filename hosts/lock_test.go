package hosts

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// addOwnEntry is a read-modify-write of the block: without the lock, two of these running at
// once lose one another's entry.
func addOwnEntry(f *File, key string) error {
	b, _, err := f.Current()
	if err != nil {
		return err
	}
	taken := map[netip.Addr]bool{}
	for _, e := range b.Entries {
		taken[e.IP] = true
	}
	ip, err := Allocator{}.AddressFor(key, taken)
	if err != nil {
		return err
	}
	_, err = f.Apply(append(b.Entries, Entry{IP: ip, Names: []string{key}}))
	return err
}

func TestSecondOpenWaitsForLock(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, "127.0.0.1 localhost\n")
	f, err := open(path, "first", testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	short := testOptions(nil)
	short.lockTimeout = 100 * time.Millisecond
	_, err = open(path, "second", short)
	if err == nil || !strings.Contains(err.Error(), "being edited by another meshjoin process") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open while locked = %v, want a lock-busy error naming %s", err, path)
	}

	got := make(chan error, 1)
	go func() {
		g, err := open(path, "second", testOptions(nil)) // waits up to 10s
		if err == nil {
			err = g.Close()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond) // let it start waiting; the result does not depend on it
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
}

func TestConcurrentEditsFromGoroutines(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, "127.0.0.1 localhost\n")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			f, err := open(path, fmt.Sprintf("g%d", i), testOptions(nil))
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			errs <- addOwnEntry(f, fmt.Sprintf("svc%d.test", i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b, _, _, _, err := ParseBlock([]byte(readFile(t, path)))
	if err != nil || len(b.Entries) != n {
		t.Errorf("%d entries (%v), want %d: an edit was lost\n%s", len(b.Entries), err, n, readFile(t, path))
	}
}

// TestHelperProcess is not a test: the process tests below run the test binary as a second
// meshjoin process through it.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("MESHJOIN_HOSTS_HELPER")
	if mode == "" {
		return
	}
	path, key := os.Getenv("MESHJOIN_HOSTS_PATH"), os.Getenv("MESHJOIN_HOSTS_KEY")
	o := testOptions(nil)
	if mode == "try" {
		o.lockTimeout = 100 * time.Millisecond
	}
	f, err := open(path, key, o)
	if err == nil && mode == "add" {
		err = addOwnEntry(f, key)
	}
	if f != nil {
		f.Close()
	}
	if err != nil {
		fmt.Println("RESULT error:", err)
	} else {
		fmt.Println("RESULT ok")
	}
	os.Exit(0)
}

func helper(t *testing.T, mode, path, key string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "MESHJOIN_HOSTS_HELPER="+mode, "MESHJOIN_HOSTS_PATH="+path, "MESHJOIN_HOSTS_KEY="+key)
	return cmd
}

func result(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		t.Errorf("helper: %v\n%s", err, out) // not Fatal: called from goroutines
		return ""
	}
	for l := range strings.Lines(string(out)) {
		if r, ok := strings.CutPrefix(l, "RESULT "); ok {
			return strings.TrimSpace(r)
		}
	}
	t.Errorf("helper printed no result:\n%s", out)
	return ""
}

func TestLockAcrossProcesses(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, "127.0.0.1 localhost\n")
	f, err := open(path, "parent", testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	if r := result(t, helper(t, "try", path, "child")); !strings.Contains(r, "being edited by another meshjoin process") {
		t.Errorf("child got %q while the parent held the lock", r)
	}
	f.Close()
	if r := result(t, helper(t, "try", path, "child")); r != "ok" {
		t.Errorf("child got %q after the parent closed", r)
	}

	// Several processes edit at once; every edit survives.
	const n = 6
	var wg sync.WaitGroup
	results := make([]string, n)
	for i := range n {
		wg.Go(func() { results[i] = result(t, helper(t, "add", path, fmt.Sprintf("proc%d.test", i))) })
	}
	wg.Wait()
	for i, r := range results {
		if r != "ok" {
			t.Errorf("process %d: %s", i, r)
		}
	}
	b, _, _, _, err := ParseBlock([]byte(readFile(t, path)))
	if err != nil || len(b.Entries) != n {
		t.Errorf("%d entries (%v), want %d:\n%s", len(b.Entries), err, n, readFile(t, path))
	}
}
