package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/helper"
	"github.com/meshjoin/meshjoin/hosts"
)

// helperTimeout bounds one request to the privileged helper.
const helperTimeout = 30 * time.Second

// viaHelper is the helper's writer when the path is the system hosts file and a helper is
// installed: nil, nil when there is none (or, for a caller that may write the file itself,
// when it does not answer). A helper that is installed but refuses or does not answer is an
// error for everyone else, rather than a silent fall back to sudo.
func viaHelper(path, owner string, elevate bool) (hostsWriter, error) {
	c, err := systemHelper(path, elevate)
	if c == nil {
		return nil, err
	}
	return &helperHosts{c: c, session: owner}, nil
}

// systemHelper is a client of the helper that serves this user for path, if any.
func systemHelper(path string, elevate bool) (*helper.Client, error) {
	if path == "" {
		path = hosts.SystemPath()
	}
	if runtime.GOOS == "windows" || !isSystemHosts(path) {
		return nil, nil
	}
	c := helper.NewClient("")
	if !c.Installed() {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	if _, err := c.Hello(ctx); err != nil {
		if !elevate {
			return nil, nil // root, or a writable file: no need for the helper
		}
		return nil, &HostsFileError{Err: err}
	}
	return c, nil
}

// HelperServes tells whether the hosts file at path is written through the privileged helper
// for this user (so that nothing asks for sudo).
func HelperServes(path string) bool {
	c, _ := systemHelper(path, true)
	return c != nil
}

func hasSudo() bool {
	_, err := exec.LookPath("sudo")
	return err == nil
}

// helperHosts writes the block through the helper, which tags it with this user's uid.
type helperHosts struct {
	c       *helper.Client
	session string
}

func (h *helperHosts) Apply(entries []hosts.Entry) ([]hosts.Rejected, error) {
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	return h.c.ApplyHosts(ctx, h.session, entries)
}

// Owner is this session's id when the block is this user's, else the block's raw owner tag
// (which no session id equals).
func (h *helperHosts) Owner() (string, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	o, err := h.c.HostsOwner(ctx, h.session)
	if err != nil {
		return "", false, err
	}
	if o.Session != "" {
		return o.Session, true, nil
	}
	return o.Owner, o.Found, nil
}

func (h *helperHosts) Close() error { return nil }

// errNoHelper is why a port below 1024 could not be had without root.
var errNoHelper = errors.New("no privileged helper is installed (`sudo meshjoin helper install` once)")

// helperListen is how the published-ports forwarder listens on a service's port below 1024
// without root: the privileged helper opens the socket, in its range, and hands it over.
func helperListen(session string) envoy.PrivilegedListen {
	return func(addr netip.AddrPort) (net.Listener, error) {
		c := helper.NewClient("")
		if runtime.GOOS == "windows" || !c.Installed() {
			return nil, errNoHelper
		}
		ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
		defer cancel()
		l, err := c.Listen(ctx, session, addr)
		if he := (*helper.Error)(nil); errors.As(err, &he) && he.Kind == helper.KindConflict {
			return nil, fmt.Errorf("%w: %w", syscall.EADDRINUSE, err)
		}
		return l, err
	}
}
