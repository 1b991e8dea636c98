package envoy

import "syscall"

// procAttr: Windows has no parent-death signal nor process groups of this kind; the
// session's cleanup stops Envoy.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
