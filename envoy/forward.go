package envoy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"
)

// Forwarder is the workstation's side of NetworkPublished: it listens on each joined service's
// loopback address and port, and carries every connection to the one port Docker publishes
// for Envoy (PublishedEntry), first sending a PROXY protocol (v2) header that names the
// address the connection came to. Envoy's listener picks the service's filter chain by that
// address (see Publish). So a change of services is a change of listening sockets here and of
// filter chains in Envoy: the container, and its published ports, stay as they are.
//
// It listens on loopback addresses only. Set and Close may be called from any goroutine; they
// are serialised. Connections are served on goroutines of their own until either side closes,
// or until Close.
type Forwarder struct {
	target string // 127.0.0.1:<published host port>
	// privileged opens an address this process may not bind (see SetPrivilegedListen).
	privileged PrivilegedListen

	mu        sync.Mutex
	listeners map[netip.AddrPort]net.Listener
	conns     map[net.Conn]struct{} // both sides of every open connection, for Close
	closed    bool
	wg        sync.WaitGroup // accept loops and connections
}

// NewForwarder returns a Forwarder, listening nowhere yet, that carries connections to target.
func NewForwarder(target netip.AddrPort) *Forwarder {
	return &Forwarder{target: target.String(), listeners: map[netip.AddrPort]net.Listener{}, conns: map[net.Conn]struct{}{}}
}

// PrivilegedListen opens a listening socket on an address this process may not bind itself
// (a port below 1024): the privileged helper's Listen. An error wrapping syscall.EADDRINUSE
// means something else listens there.
type PrivilegedListen func(addr netip.AddrPort) (net.Listener, error)

// SetPrivilegedListen makes Set ask open for the addresses it may not bind (EACCES), instead
// of failing at once.
func (f *Forwarder) SetPrivilegedListen(open PrivilegedListen) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.privileged = open
}

// Set makes the Forwarder listen on exactly the addresses of plan's service ports (and gRPC-JSON listeners): it opens
// the new ones, then closes those no longer in plan (their open connections go on until
// Envoy or the client ends them, as they would on the host network). When an address cannot
// be opened nothing changes, and the error is an *AddressInUseError, an
// *AddressUnavailableError or an *AddressPermissionError naming the listener.
func (f *Forwarder) Set(plan Plan) error {
	type wanted struct {
		name string
		addr netip.AddrPort
	}
	var want []wanted
	keep := map[netip.AddrPort]bool{}
	for _, svc := range plan.Services {
		for _, p := range svc.Ports {
			addr := netip.AddrPortFrom(svc.ListenIP, uint16(p.Number))
			want = append(want, wanted{ListenerName(svc.Key, p.Number), addr})
			keep[addr] = true
		}
		for _, j := range svc.GRPCJSON {
			addr := netip.AddrPortFrom(svc.ListenIP, uint16(j.Port))
			want = append(want, wanted{GRPCJSONListenerName(svc.Key, j), addr})
			keep[addr] = true
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("forwarder: closed")
	}
	opened := map[netip.AddrPort]net.Listener{}
	undo := func() {
		for _, l := range opened {
			l.Close()
		}
	}
	for _, w := range want {
		if _, ok := f.listeners[w.addr]; ok {
			continue
		}
		if !w.addr.Addr().IsLoopback() {
			undo()
			return fmt.Errorf("listener %s: %s is not a loopback address: the forwarder listens on this machine's loopback only", w.name, w.addr)
		}
		l, err := net.Listen("tcp", w.addr.String())
		if errors.Is(err, syscall.EACCES) && f.privileged != nil {
			if l, err = f.privileged(w.addr); err != nil && !errors.Is(err, syscall.EADDRINUSE) {
				err = &AddressPermissionError{Listener: w.name, Address: w.addr.String(), Cause: err}
			}
		}
		if err != nil {
			undo()
			return bindError(w.name, w.addr, err)
		}
		opened[w.addr] = l
	}
	for addr, l := range f.listeners {
		if !keep[addr] {
			l.Close()
			delete(f.listeners, addr)
		}
	}
	for addr, l := range opened {
		f.listeners[addr] = l
		f.wg.Add(1)
		go f.serve(l)
	}
	return nil
}

// Addrs lists the addresses listened on, sorted.
func (f *Forwarder) Addrs() []netip.AddrPort {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]netip.AddrPort, 0, len(f.listeners))
	for a := range f.listeners {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

// Close stops listening, closes every connection and waits until they are all done. Set is
// refused afterwards; calling Close again is harmless.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	f.closed = true
	for addr, l := range f.listeners {
		l.Close()
		delete(f.listeners, addr)
	}
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	return nil
}

// serve accepts until l is closed.
func (f *Forwarder) serve(l net.Listener) {
	defer f.wg.Done()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, or the like: wait a little rather than spin (as net/http).
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !f.track(c) {
			c.Close()
			return
		}
		f.wg.Add(1)
		go f.forward(c)
	}
}

// forward carries one client connection to Envoy and back. A connection Envoy does not take
// (it is restarting) is closed: the client sees what it would see on the host network.
func (f *Forwarder) forward(client net.Conn) {
	defer f.wg.Done()
	defer f.untrack(client)
	up, err := net.DialTimeout("tcp", f.target, connectTimeout)
	if err != nil {
		return
	}
	if !f.track(up) {
		up.Close()
		return
	}
	defer f.untrack(up)
	header := proxyproto.HeaderProxyFromAddrs(2, client.RemoteAddr(), client.LocalAddr())
	if _, err := header.WriteTo(up); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(up, client)
	}()
	pipe(client, up)
	<-done
}

// pipe copies src to dst (with splice(2) between TCP sockets on Linux). At src's end it
// passes the end on with a half-close; on an error (a reset) it closes both.
func pipe(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		cw.CloseWrite()
		return
	}
	dst.Close()
	src.Close()
}

func (f *Forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Forwarder) untrack(c net.Conn) {
	c.Close()
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// ErrAddressPermission marks a listener address this process may not bind.
var ErrAddressPermission = errors.New("address needs privileges")

// AddressPermissionError is an address the Forwarder, or a native Envoy (ByEnvoy), may not
// bind: a port below 1024 needs root on Linux, and on macOS on one address (Docker Desktop's
// privileged helper bound them when Docker published each service). Cause is why the
// privileged helper did not open it either, when it was asked.
type AddressPermissionError struct {
	Listener string
	Address  string // host:port
	Cause    error
	ByEnvoy  bool // the native runtime's Envoy, which runs as the user, tried
}

func (e *AddressPermissionError) Error() string {
	who := "this process lacks"
	if e.ByEnvoy {
		who = "the local Envoy, running as you, lacks"
	}
	msg := fmt.Sprintf("listener %s: binding %s needs privileges %s (a port below 1024 needs root on Linux, and on macOS on one address)", e.Listener, e.Address, who)
	if e.Cause != nil {
		msg += ", and the privileged helper did not open it: " + e.Cause.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrAddressPermission) true.
func (e *AddressPermissionError) Is(target error) bool { return target == ErrAddressPermission }

// Unwrap is the helper's answer, whose hint says what to do about it.
func (e *AddressPermissionError) Unwrap() error { return e.Cause }

// bindError names the listener in a failed bind, with the kind of failure when known.
func bindError(listener string, addr netip.AddrPort, err error) error {
	var perm *AddressPermissionError
	switch {
	case errors.As(err, &perm):
		return err
	case errors.Is(err, syscall.EADDRINUSE):
		return &AddressInUseError{Listener: listener, Address: addr.String()}
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return &AddressUnavailableError{Listener: listener, Address: addr.String()}
	case errors.Is(err, syscall.EACCES):
		return &AddressPermissionError{Listener: listener, Address: addr.String()}
	}
	return fmt.Errorf("listener %s: listen on %s: %w", listener, addr, err)
}
