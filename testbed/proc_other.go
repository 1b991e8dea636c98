//go:build !linux && !windows

package testbed

import "syscall"

// procAttr: the test mesh runs on Linux (CI); elsewhere it only has to compile so that the
// tests that use it build for darwin. No parent-death signal here.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
