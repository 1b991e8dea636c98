package idetest

import (
	"os"
	"syscall"
)

// groupAttr: no process groups of the Unix kind on Windows.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// signalGroup ends the process: Windows cannot send SIGTERM to another process.
func signalGroup(p *os.Process, _ bool) { _ = p.Kill() }
