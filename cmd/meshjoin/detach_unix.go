//go:build unix

package main

import "syscall"

// detached puts the background session in a session of its own: no controlling terminal,
// so closing the terminal (SIGHUP to its process group) does not reach it.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
