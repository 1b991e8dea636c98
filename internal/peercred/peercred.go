// Package peercred tells who is at the other end of a unix socket (the kernel's peer
// credentials, SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS), so that local control
// endpoints (the session daemon's socket, the privileged helper's) can check the caller's uid
// on every request.
package peercred

import (
	"context"
	"errors"
	"net"
)

// Peer is the uid of a connection's other end, or why it could not be read.
type Peer struct {
	UID int
	Err error
}

type peerKey struct{}

// ConnContext records the peer of each connection, read once from the kernel at accept time;
// it fits http.Server.ConnContext.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, peerKey{}, Of(c))
}

// FromContext is the peer ConnContext recorded; a context without one gives an error.
func FromContext(ctx context.Context) Peer {
	p, ok := ctx.Value(peerKey{}).(Peer)
	if !ok {
		return Peer{UID: -1, Err: errors.New("no peer credentials recorded for this connection")}
	}
	return p
}

// Of reads the peer of c, which must be a unix socket.
func Of(c net.Conn) Peer {
	p := Peer{UID: -1, Err: errors.New("not a unix socket")}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return p
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		p.Err = err
		return p
	}
	if cerr := raw.Control(func(fd uintptr) { p.UID, p.Err = peerUID(fd) }); cerr != nil {
		p.Err = cerr
	}
	return p
}
