package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"

	"github.com/meshjoin/meshjoin/internal/peercred"
)

// Files of the daemon in the state directory.
const (
	socketName = "control.sock"
	lockName   = "daemon.lock" // held by the daemon for its life: one per state directory
	// LogName is the daemon's log (its stdout and stderr).
	LogName = "daemon.log"
)

// SocketPath is the control socket of the session in stateDir.
func SocketPath(stateDir string) string { return filepath.Join(stateDir, socketName) }

// LogPath is the daemon's log in stateDir.
func LogPath(stateDir string) string { return filepath.Join(stateDir, LogName) }

// ErrAlreadyServing means another daemon holds the state directory.
var ErrAlreadyServing = errors.New("another meshjoin daemon serves this state directory")

// Listener is the control socket, bound while the daemon's lock is held.
type Listener struct {
	net.Listener
	lock *flock.Flock
}

// Close closes the socket (removing it) and releases the lock.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	l.lock.Unlock()
	return err
}

// Listen takes the daemon lock of stateDir (created 0700), removes a socket left by a daemon
// that died, and listens on a fresh one, 0600.
func Listen(stateDir string) (*Listener, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w", stateDir, err)
	}
	lock := flock.New(filepath.Join(stateDir, lockName))
	ok, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", lock.Path(), err)
	}
	if !ok {
		return nil, ErrAlreadyServing
	}
	path := SocketPath(stateDir)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		lock.Unlock()
		return nil, err
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		lock.Unlock()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ul.SetUnlinkOnClose(true)
	// The directory (0700) already keeps others out; the mode and the peer check below are
	// the second and third fence.
	if err := os.Chmod(path, 0o600); err != nil {
		ul.Close()
		lock.Unlock()
		return nil, err
	}
	return &Listener{Listener: ul, lock: lock}, nil
}

// allowPeer lets through only the daemon's own user and root.
func allowPeer(next http.Handler) http.Handler {
	self := os.Getuid()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := peercred.FromContext(r.Context())
		switch {
		case p.Err != nil:
			writeError(w, http.StatusForbidden, errorf(codePermission, "", "refused: cannot check who is connecting: %v", p.Err))
		case p.UID != self && p.UID != 0:
			writeError(w, http.StatusForbidden, errorf(codePermission, "run meshjoin as the user who started the session (uid %d)",
				"refused: the session belongs to uid %d and only that user or root may control it (you are uid %d)", self, p.UID))
		default:
			next.ServeHTTP(w, r)
		}
	})
}
