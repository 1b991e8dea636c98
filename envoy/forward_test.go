package envoy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// proxyProtocolEcho stands in for the published Envoy in the forwarder's unit tests: it reads
// the PROXY header, answers "<source> -> <destination>\n", then echoes. The real Envoy is in
// the session's published-mode tests.
func proxyProtocolEcho(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				h, err := proxyproto.Read(r)
				if err != nil {
					fmt.Fprintf(c, "no PROXY header: %v\n", err)
					return
				}
				fmt.Fprintf(c, "%s -> %s\n", h.SourceAddr, h.DestinationAddr)
				io.Copy(c, r)
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// exchange connects to addr, reads the greeting, checks the echo, and half-closes: the
// forwarder must pass the end on, so the read then ends.
func exchange(t *testing.T, addr netip.AddrPort) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	greeting, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	if want := " -> " + addr.String() + "\n"; !strings.HasSuffix(greeting, want) || !strings.HasPrefix(greeting, c.LocalAddr().String()+" ") {
		t.Fatalf("%s: Envoy was told %q, want %s%s", addr, greeting, c.LocalAddr(), want)
	}
	io.WriteString(c, "ping\n")
	if echo, err := r.ReadString('\n'); err != nil || echo != "ping\n" {
		t.Fatalf("%s: echo %q, %v", addr, echo, err)
	}
	c.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Fatalf("%s: after the half-close: %q, %v", addr, rest, err)
	}
	return greeting
}

func forwardPlan(services ...Service) Plan {
	return Plan{Gateway: Gateway{Host: "127.0.0.1", Port: 15443}, TrustDomains: []string{"cluster.local"}, Services: services}
}

func TestForwarder(t *testing.T) {
	f := NewForwarder(proxyProtocolEcho(t))
	defer f.Close()
	ratings := svc("ratings.bookinfo", HTTP, 9080)
	ratings.ListenIP = nextLoopback(t)
	reviews := svc("reviews.bookinfo", TCP, 9080)
	reviews.ListenIP = nextLoopback(t)
	reviews.Ports = append(reviews.Ports, Port{Number: 3306, Protocol: TCP})
	at := func(s Service, port uint16) netip.AddrPort { return netip.AddrPortFrom(s.ListenIP, port) }

	if err := f.Set(forwardPlan(ratings, reviews)); err != nil {
		t.Fatal(err)
	}
	for _, a := range []netip.AddrPort{at(ratings, 9080), at(reviews, 9080), at(reviews, 3306)} {
		exchange(t, a)
	}

	// A connection open across a change that keeps its service goes on.
	kept, err := net.Dial("tcp", at(ratings, 9080).String())
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	keptR := bufio.NewReader(kept)
	if _, err := keptR.ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	// Removing a service closes its listeners.
	if err := f.Set(forwardPlan(ratings)); err != nil {
		t.Fatal(err)
	}
	if got := f.Addrs(); !slices.Equal(got, []netip.AddrPort{at(ratings, 9080)}) {
		t.Fatalf("listening on %v after removing reviews", got)
	}
	for _, a := range []netip.AddrPort{at(reviews, 9080), at(reviews, 3306)} {
		if c, err := net.DialTimeout("tcp", a.String(), time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after its service was removed", a)
		}
	}
	io.WriteString(kept, "still\n")
	if echo, err := keptR.ReadString('\n'); err != nil || echo != "still\n" {
		t.Fatalf("connection across the change: %q, %v", echo, err)
	}

	// A taken address fails the change whole, naming the listener; nothing changes.
	taken, err := net.Listen("tcp", at(reviews, 9080).String())
	if err != nil {
		t.Fatal(err)
	}
	err = f.Set(forwardPlan(ratings, reviews))
	taken.Close()
	var inUse *AddressInUseError
	if !errors.As(err, &inUse) || inUse.Listener != "reviews.bookinfo:9080" || inUse.Address != at(reviews, 9080).String() {
		t.Fatalf("Set with an address taken: %v", err)
	}
	if got := f.Addrs(); !slices.Equal(got, []netip.AddrPort{at(ratings, 9080)}) {
		t.Fatalf("listening on %v after a failed change", got)
	}
	if c, err := net.DialTimeout("tcp", at(reviews, 3306).String(), time.Second); err == nil {
		c.Close()
		t.Errorf("the failed change left %s listening", at(reviews, 3306))
	}

	// Only loopback addresses.
	outside := ratings
	outside.Key, outside.ListenIP = "outside.ns", netip.MustParseAddr("192.0.2.1")
	if err := f.Set(forwardPlan(ratings, outside)); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("non-loopback address: %v", err)
	}

	// Close ends the open connections and the listeners; Set is refused afterwards.
	f.Close()
	kept.SetDeadline(time.Now().Add(10 * time.Second))
	if rest, err := io.ReadAll(keptR); len(rest) != 0 || (err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset")) {
		t.Errorf("open connection after Close: %q, %v", rest, err)
	}
	if c, err := net.DialTimeout("tcp", at(ratings, 9080).String(), time.Second); err == nil {
		c.Close()
		t.Error("still listening after Close")
	}
	if err := f.Set(forwardPlan(ratings)); err == nil {
		t.Error("Set after Close accepted")
	}
	f.Close() // harmless
}

// When Envoy does not take the connection (restarting), the client's connection is closed
// at once rather than left hanging.
func TestForwarderEnvoyDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	f := NewForwarder(down)
	defer f.Close()
	s := svc("ratings.bookinfo", HTTP, 9080)
	s.ListenIP = nextLoopback(t)
	if err := f.Set(forwardPlan(s)); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", netip.AddrPortFrom(s.ListenIP, 9080).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || os.IsTimeout(err) {
		t.Fatalf("read from a connection Envoy did not take: %d bytes, %v; want it closed", n, err)
	}
}

func TestBindError(t *testing.T) {
	addr := netip.MustParseAddrPort("127.77.0.5:80")
	for _, tc := range []struct {
		errno error
		is    error
	}{{syscall.EADDRINUSE, ErrAddressInUse}, {syscall.EADDRNOTAVAIL, ErrAddressUnavailable}, {syscall.EACCES, ErrAddressPermission}} {
		err := bindError("web.bookinfo:80", addr, &net.OpError{Op: "listen", Net: "tcp", Err: tc.errno})
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), "web.bookinfo:80") || !strings.Contains(err.Error(), "127.77.0.5:80") {
			t.Errorf("%v: %v", tc.errno, err)
		}
	}
}
