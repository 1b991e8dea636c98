//go:build linux

package peercred

import "golang.org/x/sys/unix"

// peerUID is the uid of the process at the other end of a unix socket (SO_PEERCRED: the
// credentials at connect time, set by the kernel).
func peerUID(fd uintptr) (int, error) {
	cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}
