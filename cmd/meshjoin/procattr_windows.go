//go:build windows

package main

import "syscall"

// commandProcAttr: Windows has no process groups of the Unix kind; run's command shares the
// console with meshjoin.
func commandProcAttr(bool) *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
