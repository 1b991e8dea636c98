//go:build !windows

package idetest

import (
	"os"
	"syscall"
)

// groupAttr starts a process in a group of its own, as IDEs do.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// signalGroup sends SIGTERM (SIGKILL when force) to the process group p leads.
func signalGroup(p *os.Process, force bool) {
	sig := syscall.SIGTERM
	if force {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-p.Pid, sig)
}
