package envoy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Runtime starts the local Envoy: in a container (DockerRuntime) or as a child process
// (NativeRuntime).
type Runtime interface {
	// Start launches Envoy with spec.Bootstrap and returns once Envoy has read it (its admin
	// interface answers). Envoy is not yet serving then: call WaitReady.
	Start(ctx context.Context, spec ProxySpec) (Proxy, error)
}

// ProxySpec is what a Runtime needs to start one Envoy.
type ProxySpec struct {
	SessionID  string // labels the container; names the temp files
	Bootstrap  []byte // from Bootstrap(); holds the ADS secret
	AdminPort  int    // the bootstrap's admin port, on 127.0.0.1
	AdminToken string // the bootstrap's admin token
	Image      string // DockerRuntime only
	LogLevel   string // Envoy's --log-level; "" means info
	// Started, when not nil, is called once the Envoy process runs (after any image pull).
	Started func()
	// Published are the listener ports Docker publishes (NetworkPublished only; see Publish).
	// The admin port is published on 127.0.0.1 as well.
	Published []PublishedPort
	// Logs receives Envoy's output (stdout and stderr). Nil discards it; the last lines are
	// kept anyway for error messages.
	Logs io.Writer
}

// String leaves the bootstrap (which holds the ADS secret) out, so a stray %v cannot log it.
func (s ProxySpec) String() string {
	return fmt.Sprintf("ProxySpec{session %s, admin port %d, image %q, log level %q, bootstrap and admin token [redacted]}", s.SessionID, s.AdminPort, s.Image, s.LogLevel)
}

// GoString is String, for %#v.
func (s ProxySpec) GoString() string { return s.String() }

// Proxy is a running Envoy.
type Proxy interface {
	ID() string           // container id, or "pid <n>"
	Admin() AdminEndpoint // 127.0.0.1:<admin port> and the token
	// Stop ends Envoy (SIGTERM, then SIGKILL when ctx ends or after a grace period) and
	// removes what was started for it. Calling it again is harmless.
	Stop(ctx context.Context) error
	// Done is closed once Envoy has exited, for whatever reason.
	Done() <-chan struct{}
}

const (
	defaultLogLevel = "info"
	stopGrace       = 5 * time.Second
	// concurrency: two worker threads are plenty for one developer's traffic and keep Envoy
	// small on a laptop (the default is one per CPU).
	concurrency = "2"
)

// envoyArgs are the command-line flags for both runtimes. Nothing secret goes here.
func envoyArgs(bootstrapPath, logLevel string) []string {
	if logLevel == "" {
		logLevel = defaultLogLevel
	}
	return []string{
		"-c", bootstrapPath,
		// Several Envoys (several sessions, or the user's own) must coexist on one host.
		"--disable-hot-restart",
		"--log-level", logLevel,
		"--concurrency", concurrency,
	}
}

func validateSpec(spec ProxySpec) error {
	if spec.SessionID == "" {
		return errors.New("start envoy: empty session id")
	}
	if len(spec.Bootstrap) == 0 {
		return errors.New("start envoy: empty bootstrap")
	}
	if spec.AdminPort <= 0 || spec.AdminPort > 65535 {
		return fmt.Errorf("start envoy: admin port %d out of range", spec.AdminPort)
	}
	if spec.AdminToken == "" {
		return errors.New("start envoy: empty admin token")
	}
	return nil
}

func adminEndpoint(spec ProxySpec) AdminEndpoint {
	return AdminEndpoint{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.AdminPort)), Token: spec.AdminToken}
}

// waitAdmin waits until Envoy's admin interface answers. Through the admin listener that is
// once Envoy has initialised, which includes its first fetch from the ADS server: an Envoy
// that cannot reach the server never answers, and the caller's ctx ends the wait. When nodeID is known, the answer must come from an Envoy of that node
// id: on the host network another process may hold the port (our Envoy then exits, and the
// exit, with its last output, is the error). exited is closed if Envoy dies.
func waitAdmin(ctx context.Context, admin AdminEndpoint, nodeID string, exited <-chan struct{}, tail *tailBuffer) error {
	client := &http.Client{Timeout: time.Second}
	// Often: this wait is the end of a join's critical path, and a refused connection to a
	// loopback port that is not listening yet costs next to nothing.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if body, err := admin.Get(ctx, client, "/server_info"); err == nil {
			var info struct {
				Node struct {
					ID string `json:"id"`
				} `json:"node"`
			}
			if nodeID == "" || (json.Unmarshal(body, &info) == nil && info.Node.ID == nodeID) {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("envoy exited during start-up; its last output:\n%s", tail.String())
		case <-ctx.Done():
			return fmt.Errorf("envoy admin %s did not answer: %w; envoy's last output:\n%s", admin.Addr, ctx.Err(), tail.String())
		case <-tick.C:
		}
	}
}

// bootstrapNodeID reads the node id from a JSON bootstrap, or "" if it cannot.
func bootstrapNodeID(bootstrap []byte) string {
	var b struct {
		Node struct {
			ID string `json:"id"`
		} `json:"node"`
	}
	if json.Unmarshal(bootstrap, &b) != nil {
		return ""
	}
	return b.Node.ID
}

// tailBuffer keeps the last bytes written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func newTailBuffer() *tailBuffer { return &tailBuffer{max: 16 << 10} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns the last 20 lines.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(t.buf), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

func logWriter(tail *tailBuffer, user io.Writer) io.Writer {
	if user == nil {
		return tail
	}
	return io.MultiWriter(tail, user)
}
