//go:build !windows

package session

import (
	"errors"
	"os"
	"syscall"
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
