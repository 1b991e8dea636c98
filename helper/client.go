package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/meshjoin/meshjoin/hosts"
)

// Client talks to the helper over its socket. It is safe for use by several goroutines.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient is a client of the helper at socket ("" for SocketPath()).
func NewClient(socket string) *Client {
	if socket == "" {
		socket = SocketPath()
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	return &Client{socket: socket, http: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		}},
	}}
}

// Socket is the socket the client uses.
func (c *Client) Socket() string { return c.socket }

// Installed tells whether a helper is meant to be there: its socket or configuration file
// exists, or the socket was named explicitly ($MESHJOIN_HELPER_SOCKET). Without it, callers
// fall back to writing directly or through sudo.
func (c *Client) Installed() bool {
	if _, err := os.Lstat(c.socket); err == nil {
		return true
	}
	if _, err := os.Stat(DefaultConfig); err == nil {
		return true
	}
	return os.Getenv(SocketEnv) != ""
}

// Hello checks that the helper answers and allows the caller.
func (c *Client) Hello(ctx context.Context) (*Hello, error) {
	var h Hello
	return &h, c.do(ctx, http.MethodGet, pathHello, nil, &h)
}

// ApplyHosts makes the caller's block in the system hosts file hold entries (none removes it).
func (c *Client) ApplyHosts(ctx context.Context, session string, entries []hosts.Entry) ([]hosts.Rejected, error) {
	var reply HostsReply
	err := c.do(ctx, http.MethodPost, pathHosts, HostsRequest{Session: session, Entries: entries}, &reply)
	return reply.Rejected, err
}

// HostsOwner says whose block the system hosts file holds.
func (c *Client) HostsOwner(ctx context.Context, session string) (*HostsOwner, error) {
	var reply HostsOwner
	return &reply, c.do(ctx, http.MethodGet, pathHosts+"?session="+url.QueryEscape(session), nil, &reply)
}

// Aliases adds and removes loopback aliases.
func (c *Client) Aliases(ctx context.Context, req AliasRequest) (*AliasReply, error) {
	var reply AliasReply
	return &reply, c.do(ctx, http.MethodPost, pathAliases, req, &reply)
}

// Do sends any request; tests use it to send what a session never would.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	return c.do(ctx, method, path, body, out)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://meshjoin-helper"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.dialError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("meshjoin helper at %s: %w", c.socket, err)
	}
	return c.decode(resp, data, out)
}

// decode turns an answer into out, or into the *Error it carries.
func (c *Client) decode(resp *http.Response, data []byte, out any) error {
	if resp.StatusCode != http.StatusOK {
		var e Error
		if json.Unmarshal(data, &e.ErrorBody) != nil || e.Kind == "" {
			return fmt.Errorf("meshjoin helper at %s: %s: %s", c.socket, resp.Status, bytes.TrimSpace(data))
		}
		return &e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("meshjoin helper at %s: unreadable answer: %w", c.socket, err)
	}
	return nil
}

// dialError words why the socket could not be reached.
func (c *Client) dialError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED):
		return refusal(KindNotRunning, startHint(),
			"no helper answers on %s (%v)", c.socket, rootCause(err))
	case errors.Is(err, fs.ErrPermission):
		return refusal(KindPermission, "the socket should be 0666 in a 0755 directory: restart the helper (`sudo meshjoin helper install` again)",
			"permission denied opening the helper's socket %s", c.socket)
	}
	return fmt.Errorf("meshjoin helper at %s: %w", c.socket, err)
}

// startHint says how to start the installed helper on this OS.
func startHint() string {
	switch {
	case ServiceFile() == UnitPath && systemdRuns():
		return "start it: `sudo systemctl start " + ServiceName + "` (or install it: `sudo meshjoin helper install`)"
	case ServiceFile() == PlistPath:
		return "start it: `sudo launchctl kickstart system/" + LaunchdLabel + "` (or install it: `sudo meshjoin helper install`)"
	}
	return "install and start it: `sudo meshjoin helper install` (without systemd, run `sudo meshjoin helper serve` yourself)"
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// systemdRuns tells whether systemd is the init system (sd_booted's test).
func systemdRuns() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}
