package session

import (
	"errors"
	"fmt"
)

// ErrNoConfigContact marks a local Envoy that never reached meshjoin's config (ADS) server.
var ErrNoConfigContact = errors.New("the local Envoy did not reach meshjoin's config server")

// UsageError is a mistake in what the user asked for; Hint says what to do instead.
type UsageError struct{ Msg, Hint string }

func (e *UsageError) Error() string { return e.Msg }

// AlreadyJoinedError refuses a second session while one runs: one owner per hosts block.
type AlreadyJoinedError struct{ State *State }

func (e *AlreadyJoinedError) Error() string {
	if e.State == nil {
		return "another meshjoin session is running"
	}
	return fmt.Sprintf("a meshjoin session (id %s, pid %d) is already running with %d services", e.State.ID, e.State.PID, len(e.State.Services))
}

// HostsFileError is a hosts file that cannot be opened for editing: missing, not a regular
// file, not writable, or locked by another meshjoin. Its message is the hosts package's.
type HostsFileError struct{ Err error }

func (e *HostsFileError) Error() string { return e.Err.Error() }
func (e *HostsFileError) Unwrap() error { return e.Err }

// ErrEnded matches (errors.Is) the error of any operation on a session that has ended.
var ErrEnded = errors.New("the meshjoin session has ended")

// EndedError refuses an operation on a session that has left, was closed, or failed to start.
type EndedError struct {
	Op string // the refused operation, e.g. "change services"
	ID string // the session
}

func (e *EndedError) Error() string {
	return fmt.Sprintf("%s: meshjoin session %s has ended (left, closed or failed to start): start a new one", e.Op, e.ID)
}

// Is makes errors.Is(err, ErrEnded) true.
func (e *EndedError) Is(target error) bool { return target == ErrEnded }
