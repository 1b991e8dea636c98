package session

import (
	"errors"
	"os"
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
