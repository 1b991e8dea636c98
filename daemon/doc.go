// Package daemon runs a session in a background process of its own and gives other meshjoin
// commands a control channel to it: HTTP+JSON over a unix socket in the session's state
// directory (0700), the socket 0600, and every connection's peer uid checked (SO_PEERCRED on
// Linux, LOCAL_PEERCRED on macOS): only the same user or root may talk to it.
//
// The Daemon owns one session and serialises the operations clients ask for (add services,
// end), counts the `meshjoin run`s that share it (each holds an attach stream; the last to
// let go ends a session that no `up` asked to keep), ends itself after `down --grace` unless an
// `up` or `run` arrives first, and after an idle period without clients or traffic when asked.
// Client is the other half, used by up, down, run, env, status and the TUI.
package daemon
