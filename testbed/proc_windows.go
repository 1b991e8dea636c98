package testbed

import (
	"os"
	"syscall"
)

// procAttr: the test mesh runs on Linux (CI); on Windows it only has to compile so that the
// tests that use it build.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// signalGroup ends the process: Windows has no SIGTERM for another process.
func signalGroup(p *os.Process, _ bool) { _ = p.Kill() }
