package session

import (
	"errors"
	"os"
	"path/filepath"
)

// askToStop ends a running session. Windows cannot deliver SIGTERM to another console
// process, so the session is terminated and its traces are then removed by the caller's
// clean-up of a dead session (Leave does that once the lock is free).
func askToStop(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil // gone already
	}
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// killProcess ends a process at once (an orphaned native Envoy).
func killProcess(p *os.Process) { _ = p.Kill() }

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
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
