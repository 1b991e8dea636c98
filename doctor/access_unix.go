//go:build !windows

package doctor

import "golang.org/x/sys/unix"

// checkWritable is access(2) for writing, with the real uid.
func checkWritable(path string) error { return unix.Access(path, unix.W_OK) }
