// Package helper is meshjoin's privileged helper: a small root service, installed once with
// `sudo meshjoin helper install`, that lets an ordinary user's meshjoin edit what only root
// may edit, so that join, up, run and the TUI never call sudo while kube credentials, the CA
// conversation and Envoy stay in the user's own process.
//
// Its powers are exactly three, and it refuses everything else:
//
//   - write meshjoin's marked block in the system hosts file (never another path), with names
//     that pass the hosts package's rules and addresses inside the range configured at
//     install time; the block's owner is tagged with the caller's uid, so one user cannot
//     replace or remove another user's block;
//   - on macOS, add and remove loopback aliases on lo0 for addresses inside the range (on
//     Linux all of 127.0.0.0/8 is local and alias requests are a validated no-op);
//   - open a TCP socket listening on an address inside the range and pass it to the caller
//     (SCM_RIGHTS), keeping no copy: how published-ports mode listens on a port below 1024.
//
// It listens on a unix socket (HTTP and JSON, like the session daemon's control socket). The
// socket is open to everyone (0666) because every request is authenticated by the kernel's
// peer credentials: the caller's uid must be root, one of the allowed users, or a member of
// the allowed group, as written in the root-owned configuration file. Every action is logged
// (stderr, so the journal or launchd's log), without the request's content beyond names and
// addresses.
//
// The package must stay narrow: it imports hosts and internal packages only, never session,
// tui, envoy or client-go.
package helper
