//go:build !windows

package session

import (
	"errors"
	"os"
	"syscall"

	"github.com/google/renameio/v2"
)

// askToStop asks a running session to leave: SIGTERM, which it handles like Ctrl-C. A process
// already gone is not an error.
func askToStop(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// killProcess ends a process at once (an orphaned native Envoy).
func killProcess(p *os.Process) { _ = p.Signal(syscall.SIGKILL) }

// writeFileAtomic replaces path with data so that a reader sees the old file or the new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return renameio.WriteFile(path, data, perm)
}
