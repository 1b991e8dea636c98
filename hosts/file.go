package hosts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"github.com/txn2/txeh"
)

// File is a hosts file opened for editing meshjoin's block. It holds an exclusive lock from
// Open to Close, so two meshjoin processes (or two Files in one process) never edit the same
// hosts file at once. Each method re-reads the file, so edits made by the user in between are
// kept. A File is safe for use by several goroutines.
type File struct {
	path  string // as the caller gave it, for messages
	real  string // symlinks resolved: replacing a symlink by rename would turn it into a copy
	owner string
	opts  options

	mu     sync.Mutex
	lock   *flock.Flock
	closed bool
}

// options are the parts of File that tests replace. They are per File, not package globals.
type options struct {
	lockTimeout time.Duration
	// replace swaps new content in atomically. Tests make it fail the way rename fails on a
	// bind mount, to exercise the in-place fallback.
	replace func(path string, data []byte) error
	// flush runs after a write, best effort.
	flush func(path string)
	// lockPaths lists where the lock may live, first choice first.
	lockPaths func(real string) []string
}

func defaultOptions() options {
	return options{
		lockTimeout: 10 * time.Second,
		replace:     replaceAtomic,
		flush:       flushDNS,
		lockPaths:   lockPaths,
	}
}

// SystemPath is the hosts file the operating system's resolver reads.
func SystemPath() string {
	if runtime.GOOS == "windows" {
		root := os.Getenv("SystemRoot")
		if root == "" {
			root = `C:\Windows`
		}
		return filepath.Join(root, "System32", "drivers", "etc", "hosts")
	}
	return "/etc/hosts"
}

// Open opens the hosts file at path for editing by owner, the session id written in the BEGIN
// marker. It waits up to ten seconds for another meshjoin process to finish with the file. The
// file must exist and be writable.
func Open(path string, owner string) (*File, error) {
	if err := validateOwner(owner); err != nil {
		return nil, err
	}
	return open(path, owner, defaultOptions())
}

func open(path, owner string, o options) (*File, error) {
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("hosts file %s does not exist: check the path, or pass --hosts-file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("hosts file %s: %w", path, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("hosts file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("hosts file %s is not a regular file: pass --hosts-file with the path of a hosts file", path)
	}
	// Fail now rather than after the session has done its work. O_WRONLY without O_TRUNC
	// changes nothing, not even the modification time.
	w, err := os.OpenFile(real, os.O_WRONLY, 0)
	if err != nil {
		return nil, notWritable(path, err)
	}
	w.Close()

	lk, err := acquire(path, real, o)
	if err != nil {
		return nil, err
	}
	return &File{path: path, real: real, owner: owner, opts: o, lock: lk}, nil
}

// ErrNotWritable marks a hosts file this process may not write.
var ErrNotWritable = errors.New("hosts file not writable")

func notWritable(path string, err error) error { return &notWritableError{path, err} }

type notWritableError struct {
	path string
	err  error
}

func (e *notWritableError) Error() string {
	return fmt.Sprintf("hosts file %s is not writable (%v): run meshjoin as a user who can use sudo, or pass --hosts-file", e.path, e.err)
}

func (e *notWritableError) Unwrap() []error { return []error{e.err, ErrNotWritable} }

// lockPaths puts the lock in /run/lock (the system's place for lock files: the same path for
// every user whatever their TMPDIR, on tmpfs, so nothing is left in /etc), else next to the
// hosts file, else in os.TempDir(); names derive from the hosts file's path. The lock file is
// never removed: removing a lock file lets a waiting process and a new one lock two different
// files.
func lockPaths(real string) []string { return lockPathsIn(systemLockDir, real) }

// lockPathsIn is lockPaths with another system lock directory ("" for none).
func lockPathsIn(systemDir, real string) []string {
	sum := sha256.Sum256([]byte(real))
	name := "meshjoin-hosts-" + hex.EncodeToString(sum[:8]) + ".lock"
	var paths []string
	if st, err := os.Stat(systemDir); systemDir != "" && err == nil && st.IsDir() {
		paths = append(paths, filepath.Join(systemDir, name))
	}
	return append(paths, real+".meshjoin.lock", filepath.Join(os.TempDir(), name))
}

const systemLockDir = "/run/lock"

func acquire(path, real string, o options) (*flock.Flock, error) {
	var failures []error
	for _, lp := range o.lockPaths(real) {
		// 0644: a lock file that only root can open would keep every other user out for good.
		lk := flock.New(lp, flock.SetPermissions(0o644))
		ctx, cancel := context.WithTimeout(context.Background(), o.lockTimeout)
		ok, err := lk.TryLockContext(ctx, 25*time.Millisecond)
		cancel()
		switch {
		case ok:
			return lk, nil
		case err == nil || errors.Is(err, context.DeadlineExceeded):
			// Someone holds it; falling back to another lock file would defeat the lock.
			return nil, fmt.Errorf("hosts file %s is being edited by another meshjoin process (lock %s, waited %s): wait for it to finish, or stop the other meshjoin",
				path, lp, o.lockTimeout)
		default:
			failures = append(failures, fmt.Errorf("lock %s: %w", lp, err))
		}
	}
	return nil, fmt.Errorf("hosts file %s: cannot create a lock file (%w): make its directory or %s writable",
		path, errors.Join(failures...), os.TempDir())
}

// Apply makes meshjoin's block hold exactly entries, written under this File's owner. A block
// left by another owner (a crashed session) is taken over; callers that must not do that check
// Owner first. Empty entries remove the block if this owner owns it, and leave another owner's
// block alone. Names that nameProblem or ReservedProblem refuses, names a line outside the
// block already resolves (the user's entries win), and names already
// given to another address, are left out and returned with the reason; an entry left without
// names is dropped. Applying what the file already holds writes nothing.
func (f *File) Apply(entries []Entry) ([]Rejected, error) {
	desired, rejected := normalize(entries)
	users, err := f.edit(desired)
	return append(rejected, users...), err
}

// Owner reports which session owns the block in the file, and whether there is a block.
func (f *File) Owner() (string, bool, error) {
	b, found, err := f.Current()
	return b.Owner, found, err
}

// Current parses the block as it is in the file now.
func (f *File) Current() (Block, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	content, err := f.read()
	if err != nil {
		return Block{}, false, err
	}
	b, _, _, found, err := ParseBlock(content)
	if err != nil {
		return Block{}, false, strange(f.path, err)
	}
	return b, found, nil
}

// Close releases the lock. It leaves the block in the file: Apply(nil) removes it. Closing
// twice is harmless.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if err := f.lock.Close(); err != nil {
		return fmt.Errorf("hosts file %s: release lock %s: %w", f.path, f.lock.Path(), err)
	}
	return nil
}

func (f *File) read() ([]byte, error) {
	if f.closed {
		return nil, fmt.Errorf("hosts file %s: used after Close", f.path)
	}
	content, err := os.ReadFile(f.real)
	if err != nil {
		return nil, fmt.Errorf("read hosts file %s: %w", f.path, err)
	}
	return content, nil
}

func strange(path string, err error) error {
	return fmt.Errorf("strange hosts file %s: %w: edit it by hand so that it has one complete meshjoin block or none (lines from %q to %q), then retry",
		path, err, beginPrefix, endMarker)
}

// edit writes desired (normalised) as the block, less the names the user's own lines
// resolve, which it returns as rejected.
func (f *File) edit(desired []Entry) ([]Rejected, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	content, err := f.read()
	if err != nil {
		return nil, err
	}
	var rejected []Rejected
	if len(desired) > 0 {
		block, _, _, found, err := ParseBlock(content)
		if err != nil {
			return nil, strange(f.path, err)
		}
		desired, rejected = withoutUserNames(desired, userNames(content, block, found), f.path)
		if len(desired) == 0 && !found {
			return rejected, nil
		}
	}
	out, err := edit(content, f.owner, desired, false)
	var se *StrangeFileError
	switch {
	case errors.As(err, &se):
		return rejected, strange(f.path, err)
	case err != nil:
		return rejected, fmt.Errorf("hosts file %s: %w", f.path, err)
	case bytes.Equal(out, content):
		return rejected, nil
	}
	if err := write(f.real, out, f.opts.replace); err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return rejected, notWritable(f.path, err)
		}
		return rejected, fmt.Errorf("write hosts file %s: %w", f.path, err)
	}
	f.opts.flush(f.real)
	return rejected, nil
}

// flushDNS asks the OS to forget cached answers when the file is the one its resolver reads.
// Best effort: most Linux machines cache nothing (txeh then reports no resolver), and the file
// is right either way.
func flushDNS(real string) {
	sys, err := filepath.EvalSymlinks(SystemPath())
	if err != nil || sys != real {
		return
	}
	_ = txeh.FlushDNSCache()
}
