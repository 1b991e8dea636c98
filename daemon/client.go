package daemon

import (
	"bufio"
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
	"syscall"
	"time"

	"github.com/meshjoin/meshjoin/mesh"
)

// Client talks to the daemon of a state directory. Safe for concurrent use.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the daemon serving stateDir (which may not run).
func NewClient(stateDir string) *Client {
	socket := SocketPath(stateDir)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
		DisableCompression: true,
	}
	return &Client{socket: socket, http: &http.Client{Transport: tr}}
}

// Close closes idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// base is a placeholder host: the transport always dials the socket.
const base = "http://meshjoin"

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.dialError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return decodeError(resp)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// dialError makes "no socket" and "nobody listening" ErrNotRunning.
func (c *Client) dialError(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
		return ErrNotRunning
	}
	if errors.Is(err, fs.ErrPermission) {
		return errorf(codePermission, "run meshjoin as the user who started the session", "refused by the control socket %s: %v", c.socket, err)
	}
	return err
}

func decodeError(resp *http.Response) error {
	var e ErrorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxRequestBody))
	if json.Unmarshal(b, &e) != nil || e.Message == "" {
		return fmt.Errorf("control socket: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return &RemoteError{e}
}

// Status is the session's and the daemon's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	return st, c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// AddServices joins names too and returns once they are (or the start failed).
func (c *Client) AddServices(ctx context.Context, req ServicesRequest) (Status, error) {
	var st Status
	return st, c.do(ctx, http.MethodPost, "/v1/services", req, &st)
}

// Down ends the session now (grace 0) or after grace.
func (c *Client) Down(ctx context.Context, grace time.Duration) (DownReply, error) {
	var r DownReply
	return r, c.do(ctx, http.MethodPost, "/v1/down", DownRequest{Grace: grace}, &r)
}

// Env is the session's environment for programs.
func (c *Client) Env(ctx context.Context) ([]EnvVar, error) {
	var vars []EnvVar
	return vars, c.do(ctx, http.MethodGet, "/v1/env", nil, &vars)
}

// Catalog is what can be joined.
func (c *Client) Catalog(ctx context.Context) ([]mesh.Service, error) {
	var svcs []mesh.Service
	return svcs, c.do(ctx, http.MethodGet, "/v1/catalog", nil, &svcs)
}

// Release lets go of an attachment's lease and says whether that ended the session (which
// is then gone).
func (c *Client) Release(ctx context.Context, lease string) (bool, error) {
	var r ReleaseReply
	err := c.do(ctx, http.MethodPost, "/v1/release?lease="+url.QueryEscape(lease), nil, &r)
	return r.Ended, err
}

// Attachment is a client held by the daemon until Close.
type Attachment struct {
	Lease string
	// Updates delivers the status every second; it is closed when the stream ends (the
	// session ended, or Close).
	Updates <-chan Status
	cancel  context.CancelFunc
	done    chan struct{}
}

// Close ends the attachment (without releasing first, a run's reference is dropped by the
// daemon when it sees the connection close).
func (a *Attachment) Close() {
	a.cancel()
	<-a.done
}

// Attach holds the daemon's attention: run (a `meshjoin run`) holds the session itself.
func (c *Client) Attach(ctx context.Context, run bool) (*Attachment, error) {
	ctx, cancel := context.WithCancel(ctx)
	path := "/v1/attach"
	if run {
		path += "?run=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		return nil, c.dialError(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		cancel()
		return nil, decodeError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var first Attached
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &first) != nil {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("control socket: bad attach reply: %v", sc.Err())
	}
	updates := make(chan Status, 1)
	a := &Attachment{Lease: first.Lease, Updates: updates, cancel: cancel, done: make(chan struct{})}
	updates <- first.Status
	go func() {
		defer close(a.done)
		defer close(updates)
		defer resp.Body.Close()
		for sc.Scan() {
			var st Status
			if json.Unmarshal(sc.Bytes(), &st) != nil {
				return
			}
			select {
			case updates <- st:
			case <-ctx.Done():
				return
			default: // the reader is behind: it gets the next one
			}
		}
	}()
	return a, nil
}
