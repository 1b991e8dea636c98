//go:build !linux && !windows

package envoy

import "syscall"

// procAttr: no parent-death signal outside Linux; the session's cleanup stops Envoy. Envoy
// stays out of the terminal's process group so Ctrl-C reaches meshjoin first.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
