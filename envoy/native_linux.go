package envoy

import "syscall"

// procAttr: SIGKILL Envoy when meshjoin dies, and keep it out of the terminal's process group.
//
// Pdeathsig fires when the thread that started the child exits. The Go runtime only ends
// threads locked by a goroutine that exits locked, and Start does not lock its thread, so the
// signal comes when the meshjoin process dies.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
