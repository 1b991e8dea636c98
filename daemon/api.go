package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/meshjoin/meshjoin/session"
)

// Phases of a daemon's session.
const (
	PhaseStarting = "starting" // joining the first services
	PhaseReady    = "ready"    // joined: certificate, Envoy and hosts block in place
	PhaseFailed   = "failed"   // the start failed; Status.Error says why
	PhaseEnding   = "ending"   // leaving
)

// Status is GET /v1/status: the session's status as `meshjoin status` shows it (inline, the
// same JSON as without a daemon) and the daemon's own.
type Status struct {
	session.Status
	Daemon Info `json:"daemon"`
}

// Info is what the daemon adds to a session's status.
type Info struct {
	PID   int    `json:"pid"`
	Phase string `json:"phase"`
	// Step is the join step running while starting ("certificate", "envoy" ...).
	Step  string     `json:"step,omitempty"`
	Error *ErrorBody `json:"error,omitempty"`
	// Runs counts the `meshjoin run`s holding the session; Clients every attached client.
	Runs    int `json:"runs"`
	Clients int `json:"clients"`
	// Kept is true when an `up` asked for the session: only `down` (or the idle timeout)
	// ends it, not the last `run`.
	Kept bool `json:"kept"`
	// EndsAt is when a `down --grace` ends the session unless an `up` or `run` comes first.
	EndsAt      time.Time     `json:"endsAt,omitzero"`
	IdleTimeout time.Duration `json:"idleTimeout,omitempty"`
	Log         string        `json:"log,omitempty"`
}

// Ready reports whether the session is joined and serving.
func (s Status) Ready() bool { return s.Daemon.Phase == PhaseReady }

// ServicesRequest is POST /v1/services: join these services too (names as `join` takes
// them), and keep the session until `down` when Keep is set. An empty Add only waits for the
// start and cancels a pending `down --grace`.
type ServicesRequest struct {
	Add  []string `json:"add"`
	Keep bool     `json:"keep"`
	// Replace makes Add the whole set of services (the TUI removing one).
	Replace bool `json:"replace,omitempty"`
}

// DownRequest is POST /v1/down.
type DownRequest struct {
	Grace time.Duration `json:"grace"`
}

// DownReply says when the session ends (now: Ended).
type DownReply struct {
	ID     string    `json:"id"`
	Ended  bool      `json:"ended"`
	EndsAt time.Time `json:"endsAt,omitzero"`
	// StartFailed is why the session never started (then there was nothing to end).
	StartFailed string `json:"startFailed,omitempty"`
}

// EnvVar is one variable of GET /v1/env, in order.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Attached is the first line of GET /v1/attach: the lease to release.
type Attached struct {
	Lease  string `json:"lease"`
	Status Status `json:"status"`
}

// ReleaseReply is POST /v1/release: whether releasing ended the session.
type ReleaseReply struct {
	Ended bool `json:"ended"`
}

// ErrorBody is every error reply: the message, the next step for the user and the exit code
// the CLI gives it (the daemon classifies errors as the CLI does).
type ErrorBody struct {
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	Code    int    `json:"code"`
}

// RemoteError is an error the daemon replied with.
type RemoteError struct{ ErrorBody }

func (e *RemoteError) Error() string { return e.Message }

// ExitCode is the exit code the CLI gives this error.
func (e *RemoteError) ExitCode() int { return e.Code }

// NextStep is the hint for the user.
func (e *RemoteError) NextStep() string { return e.Hint }

// ErrNotRunning means no daemon answers on the state directory's socket.
var ErrNotRunning = errors.New("no background meshjoin session is running")

// Exit codes the daemon itself gives (the CLI's: see cmd/meshjoin/errors.go).
const (
	codeFailure    = 1
	codeUsage      = 2
	codePermission = 3
	codeConflict   = 5
)

func errorf(code int, hint, format string, args ...any) *RemoteError {
	return &RemoteError{ErrorBody{Message: fmt.Sprintf(format, args...), Hint: hint, Code: code}}
}
