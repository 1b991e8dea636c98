package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/hosts"
)

// LeaveResult says what Leave did.
type LeaveResult struct {
	Stopped  *State // a running session that was asked to stop
	Cleaned  *State // a dead session whose traces were removed
	NotFound bool
}

// Leave ends the session of stateDir: a running one is sent SIGTERM and waited for; a dead
// one's container, Envoy process and hosts block are removed here.
func Leave(ctx context.Context, stateDir string, elevateHosts bool, log *slog.Logger) (LeaveResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := newStore(stateDir)
	if err != nil {
		return LeaveResult{}, err
	}
	prev, err := st.read()
	if err != nil {
		return LeaveResult{}, err
	}
	alive, err := st.alive()
	if err != nil {
		return LeaveResult{}, err
	}
	if alive && prev != nil && prev.PID > 0 {
		if err := askToStop(prev.PID); err != nil {
			return LeaveResult{}, fmt.Errorf("signal meshjoin (pid %d): %w", prev.PID, err)
		}
		// The session removes its own traces; wait until it lets go of the lock.
		for alive {
			select {
			case <-ctx.Done():
				return LeaveResult{}, fmt.Errorf("session pid %d did not stop in time: %w", prev.PID, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
			if alive, err = st.alive(); err != nil {
				return LeaveResult{}, err
			}
		}
		after, err := st.read()
		if err != nil {
			return LeaveResult{}, err
		}
		if after == nil {
			return LeaveResult{Stopped: prev}, nil
		}
		prev = after // it stopped without removing its traces: clean them up below
	}
	if prev == nil {
		return LeaveResult{NotFound: true}, nil
	}
	ok, err := st.lock.TryLock()
	if err != nil || !ok {
		return LeaveResult{}, fmt.Errorf("a session started while cleaning up: run `meshjoin leave` again")
	}
	defer func() {
		if uerr := st.lock.Unlock(); uerr != nil { // the flock ends with the process anyway
			log.Warn("release the state directory's lock", "err", uerr)
		}
	}()
	prev.HostsFile = orDefault(prev.HostsFile, hosts.SystemPath())
	if err := cleanupWith(ctx, st, prev, log, elevateHosts); err != nil {
		return LeaveResult{}, err
	}
	return LeaveResult{Cleaned: prev}, nil
}

// cleanupWith removes what a dead session recorded; the caller holds the lock.
func cleanupWith(ctx context.Context, st *store, prev *State, log *slog.Logger, elevate bool) error {
	var errs []error
	if prev.HostsWritten && prev.HostsFile != "" {
		if err := removeHostsBlock(prev, elevate, log); err != nil {
			errs = append(errs, fmt.Errorf("remove the hosts block of session %s: %w", prev.ID, err))
		}
	}
	if prev.ContainerID != "" || prev.Runtime == "docker" {
		if rt, err := envoy.NewDockerRuntime(ctx, envoy.DockerOptions{}); err != nil {
			errs = append(errs, err)
		} else {
			if err := rt.RemoveSession(ctx, prev.ID); err != nil {
				errs = append(errs, err)
			}
			rt.Close()
		}
	}
	if err := removeIfExists(nativeAdminSocket(st.dir)); err != nil {
		errs = append(errs, err)
	}
	if err := removeAliases(prev); err != nil {
		errs = append(errs, fmt.Errorf("remove the loopback aliases of session %s: %w", prev.ID, err))
	}
	if prev.EnvoyPID > 0 {
		// Pdeathsig normally ends it with its parent; this covers platforms without it.
		if p, err := os.FindProcess(prev.EnvoyPID); err == nil && isEnvoy(prev.EnvoyPID) {
			killProcess(p)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return st.remove()
}

// removeHostsBlock removes the block a dead session may have written. What cannot hold a
// block of ours is no reason to keep the record, which would block every later join and
// leave: a hosts file that is gone, or one whose markers make no sense (nothing is ever
// written to such a file, and the next join to it says how to fix it).
func removeHostsBlock(prev *State, elevate bool, log *slog.Logger) error {
	if _, err := os.Stat(prev.HostsFile); errors.Is(err, fs.ErrNotExist) {
		log.Info("the hosts file of the previous session is gone; nothing to remove", "path", prev.HostsFile)
		return nil
	}
	w, err := newHostsWriter(prev.HostsFile, prev.ID, elevate)
	if err != nil {
		return err
	}
	defer w.Close()
	owner, found, err := w.Owner()
	switch {
	case isStrangeHosts(err):
		log.Warn("the hosts file's meshjoin markers are broken; left as it is", "path", prev.HostsFile, "err", err)
		return nil
	case err != nil:
		return err
	case found && owner == prev.ID:
		_, err = w.Apply(nil)
		return err
	case found:
		log.Warn("hosts block belongs to another session; left alone", "owner", owner)
	}
	return nil
}

// isStrangeHosts tells whether err says the hosts file's meshjoin markers cannot be trusted
// (through sudo, only the message comes back).
func isStrangeHosts(err error) bool {
	var se *hosts.StrangeFileError
	return err != nil && (errors.As(err, &se) || strings.Contains(err.Error(), "strange hosts file"))
}

// ownsHostsBlock tells whether the hosts file now holds this session's block: after a failed
// write, whether there is anything to undo.
func ownsHostsBlock(w hostsWriter, id string) bool {
	owner, found, err := w.Owner()
	return err != nil && !isStrangeHosts(err) || found && owner == id
}

func isEnvoy(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), "envoy")
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
