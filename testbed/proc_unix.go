//go:build !windows

package testbed

import (
	"os"
	"syscall"
)

// signalGroup sends SIGTERM (or SIGKILL when force) to the process group p leads.
func signalGroup(p *os.Process, force bool) {
	sig := syscall.SIGTERM
	if force {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-p.Pid, sig)
}
