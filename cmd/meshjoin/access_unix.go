//go:build !windows

package main

import (
	"golang.org/x/sys/unix"
)

// mayWrite reports whether this process may write path (access(2) with the real uid).
func mayWrite(path string) bool { return unix.Access(path, unix.W_OK) == nil }

// isElevated reports whether this process runs as root.
func isElevated() bool { return unix.Geteuid() == 0 }
