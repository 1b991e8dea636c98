//go:build unix

package main

import "syscall"

// commandProcAttr puts run's command in a process group of its own unless it shares the
// terminal with meshjoin (see execForwarding).
func commandProcAttr(interactive bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: !interactive}
}
