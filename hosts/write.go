package hosts

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// write puts data in the hosts file, atomically when it can. When rename cannot replace the
// file, as with a bind-mounted /etc/hosts in a container (EBUSY) or a directory that takes no
// new files, it rewrites the file in place, as tailscale's net/dns/direct.go does.
func write(path string, data []byte, replace func(string, []byte) error) error {
	err := replace(path, data)
	if err == nil || !inPlaceMayWork(err) {
		return err
	}
	if ierr := writeInPlace(path, data); ierr != nil {
		return fmt.Errorf("replace by rename: %v; then rewrite in place: %w", err, ierr)
	}
	return nil
}

func inPlaceMayWork(err error) bool {
	for _, e := range []error{syscall.EBUSY, syscall.EXDEV, syscall.EPERM, syscall.EACCES, syscall.EROFS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// writeInPlace overwrites the file through its own inode. It writes before truncating, so a
// reader never sees an empty hosts file (localhost keeps resolving), at the cost of a moment
// in which a shorter new file is followed by the old file's tail.
func writeInPlace(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
