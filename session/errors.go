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
