//go:build !windows

package helper

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestListenHandsOverASocket: the helper opens a socket in its range and passes it over its
// own socket; the caller accepts on it, and once the caller closes it nothing listens there
// (the helper kept no copy). Addresses outside the range, a missing port and a port in use
// are refused with their kinds.
func TestListenHandsOverASocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "helper.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: &Config{UIDs: []int{os.Getuid()}, Range: testRange}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), hostsPath: filepath.Join(t.TempDir(), "hosts")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })

	c := NewClient(sock)
	ctx5, cancel5 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel5()
	addr := netip.MustParseAddrPort("127.77.251.7:80")
	ln, err := c.Listen(ctx5, "s1", addr)
	if err != nil {
		t.Fatal(err)
	}
	if got := ln.Addr().(*net.TCPAddr).AddrPort(); got != addr {
		t.Fatalf("listening on %s, want %s", got, addr)
	}
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			conn.Write([]byte("hello"))
			conn.Close()
		}
	}()
	conn, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(conn)
	conn.Close()
	if string(got) != "hello" {
		t.Fatalf("read %q through the handed-over socket", got)
	}
	// A port in use (by the socket just handed over) is a conflict.
	if _, err := c.Listen(ctx5, "s1", addr); kindOf(err) != KindConflict {
		t.Errorf("second listen on %s: %v, want kind %q", addr, err, KindConflict)
	}
	ln.Close()
	if conn, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts after the caller closed its socket: the helper kept one", addr)
	}

	for _, bad := range []struct {
		addr, kind string
	}{
		{"127.0.0.1:80", KindRefused},
		{"10.1.2.3:80", KindRefused},
		{"127.77.251.7:0", KindUsage},
	} {
		if _, err := c.Listen(ctx5, "s1", netip.MustParseAddrPort(bad.addr)); kindOf(err) != bad.kind {
			t.Errorf("listen on %s: %v, want kind %q", bad.addr, err, bad.kind)
		}
	}
	if _, err := c.Listen(ctx5, "not one word", addr); kindOf(err) != KindUsage {
		t.Errorf("a bad session id: %v, want kind %q", err, KindUsage)
	}
}
