//go:build darwin

package peercred

import "golang.org/x/sys/unix"

// peerUID is the uid of the process at the other end of a unix socket (LOCAL_PEERCRED).
func peerUID(fd uintptr) (int, error) {
	cred, err := unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}
