package main

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// mayWrite reports whether this process may write path: Windows has no access(2), so the file
// is opened for writing (without truncation, which changes nothing).
func mayWrite(path string) bool {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// isElevated reports whether this process runs with an elevated (Administrator) token.
func isElevated() bool { return windows.GetCurrentProcessToken().IsElevated() }

// writeFileAtomic writes a temporary file next to path and renames it over path (renameio
// does not build on Windows; os.Rename replaces an existing file there).
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
