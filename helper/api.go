package helper

import (
	"fmt"
	"net/netip"

	"github.com/meshjoin/meshjoin/hosts"
)

// The helper's API over its socket (HTTP and JSON; every request passes the peer check):
//
//	GET  /v1/hello            → Hello: who the helper takes the caller for, and its range
//	GET  /v1/hosts?session=ID → HostsOwner: whose block the system hosts file holds
//	POST /v1/hosts            HostsRequest → HostsReply: the caller's block becomes Entries
//	POST /v1/aliases          AliasRequest → AliasReply
//	POST /v1/listen           ListenRequest → ListenReply, with the listening socket itself
//	                          passed along (SCM_RIGHTS) on the same connection
//
// Refusals come back as an ErrorBody with a 4xx status.
const (
	pathHello   = "/v1/hello"
	pathHosts   = "/v1/hosts"
	pathAliases = "/v1/aliases"
	pathListen  = "/v1/listen"
)

// Hello tells a caller what the helper knows of it.
type Hello struct {
	UID       int          `json:"uid"`
	Range     netip.Prefix `json:"range"`
	HostsFile string       `json:"hostsFile"`
	Aliases   bool         `json:"aliases"` // this OS needs loopback aliases
}

// HostsRequest asks for the caller's block to hold exactly Entries (none removes it). Session
// is the caller's session id; the block is tagged with it and the caller's uid. There is no
// path: the helper writes the system hosts file only.
type HostsRequest struct {
	Session string        `json:"session"`
	Entries []hosts.Entry `json:"entries"`
}

// HostsReply lists the names the hosts file left out (a line of the user's own resolves them).
type HostsReply struct {
	Rejected []hosts.Rejected `json:"rejected,omitempty"`
}

// HostsOwner says whose block the system hosts file holds. Session is set when the block is
// the caller's (its uid's); otherwise Owner is the block's raw owner tag.
type HostsOwner struct {
	Found   bool   `json:"found"`
	Session string `json:"session,omitempty"`
	Owner   string `json:"owner,omitempty"`
}

// AliasRequest adds and removes loopback aliases.
type AliasRequest struct {
	Add    []netip.Addr `json:"add,omitempty"`
	Remove []netip.Addr `json:"remove,omitempty"`
}

// AliasReply lists the commands run (none on Linux, where Note says why).
type AliasReply struct {
	Ran  [][]string `json:"ran,omitempty"`
	Note string     `json:"note,omitempty"`
}

// ListenRequest asks for a TCP socket listening on Address, which must lie in the helper's
// range: a port below 1024 there needs root (on Linux for any address, on macOS for one
// address), and meshjoin's published-ports forwarder listens on the services' own ports.
// Session names the caller's session in the helper's log.
type ListenRequest struct {
	Session string         `json:"session"`
	Address netip.AddrPort `json:"address"`
}

// ListenReply comes with the socket; Address is where it listens.
type ListenReply struct {
	Address netip.AddrPort `json:"address"`
}

// Kinds of refusal, which the CLI turns into exit codes and hints.
const (
	KindNotRunning = "not-running" // no helper answers on the socket
	KindPermission = "permission"  // the socket cannot be opened, or the caller is not allowed
	KindRefused    = "refused"     // the request breaks a rule (name, range, path)
	KindConflict   = "conflict"    // another uid's block
	KindUsage      = "usage"       // a malformed request
	KindFailed     = "failed"      // the helper tried and the system said no
)

// ErrorBody is a refusal as sent over the socket.
type ErrorBody struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Next    string `json:"next,omitempty"`
}

// Error is a refusal or failure of the helper, as the client returns it.
type Error struct{ ErrorBody }

func (e *Error) Error() string { return "meshjoin helper: " + e.Message }

// Hint is the Next: line for the error.
func (e *Error) Hint() string { return e.Next }

func refusal(kind, next, format string, args ...any) *Error {
	return &Error{ErrorBody{Kind: kind, Message: fmt.Sprintf(format, args...), Next: next}}
}
