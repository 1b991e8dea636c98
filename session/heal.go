package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshjoin/meshjoin/envoy"
)

// Self-healing: a session nobody watches (in the background, or a terminal left open) brings
// its Envoy back when it exits or its container is removed, with the same bootstrap and the
// certificate it already has. When the Docker engine itself goes away (restarted, or Docker
// Desktop quit and reopened), the session waits for it without giving up and restarts Envoy
// as soon as it answers again.

// Health is what happened to a session's background work, for `status` and the TUI. It is
// part of State (its fields appear at the top level of the state file).
type Health struct {
	// EnvoyRestarts counts the times the session brought its Envoy back.
	EnvoyRestarts int `json:"envoyRestarts,omitempty"`
	// EnvoyProblem is what is wrong with Envoy now ("" when it serves): exited and being
	// restarted, or given up on.
	EnvoyProblem string `json:"envoyProblem,omitempty"`
	// EnvoyGaveUp: the restarts failed restartDelays times in a row; ProxyDone is closed.
	EnvoyGaveUp bool `json:"envoyGaveUp,omitempty"`
	// LastRenewal is when the certificate was last renewed (zero: not yet).
	LastRenewal time.Time `json:"lastRenewal,omitzero"`
	// RenewalError is the last failed renewal ("" once one succeeds); State.CertNotAfter says
	// how long the certificate in use stays valid meanwhile.
	RenewalError string `json:"renewalError,omitempty"`
}

// restartDelays are the waits before each restart of an Envoy that exited: the first at once
// (a container removed by mistake comes back in about a second), then backing off; after the
// last one fails, the session gives up and says so.
var restartDelays = []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}

// restartTimeout bounds one restart: start, first configuration, every listener serving.
const restartTimeout = 30 * time.Second

// healthyAfter is how long a restarted Envoy must run for its restart to count as a success
// that starts the back-off over; an Envoy that keeps dying sooner is a crash loop.
const healthyAfter = time.Minute

// errReplaced says the Envoy that exited is no longer the session's: replaced on purpose
// (relaunch) or the session ended.
var errReplaced = errors.New("envoy replaced")

// watch follows one Envoy: when it exits while it is still the session's Envoy, heal.
func (s *Session) watch(p envoy.Proxy) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		select {
		case <-p.Done():
			s.heal(p)
		case <-s.life.Done():
		}
	}()
}

// heal restarts dead after the back-off, each attempt an operation of its own so that other
// operations (Leave above all) get their turn between attempts.
func (s *Session) heal(dead envoy.Proxy) {
	s.mu.Lock()
	if time.Since(s.lastRestart) > healthyAfter {
		s.restartStreak = 0
	}
	s.mu.Unlock()
	var lastErr error
	for {
		s.mu.Lock()
		n := s.restartStreak
		s.restartStreak++
		s.mu.Unlock()
		if n >= len(restartDelays) {
			s.giveUp(lastErr)
			return
		}
		select {
		case <-time.After(restartDelays[n]):
		case <-s.life.Done():
			return
		}
		if s.waitEngine() {
			// The engine was away (restarted, or Docker Desktop quit): that explains the
			// failures so far, so the back-off starts over now that it answers.
			s.mu.Lock()
			n, s.restartStreak = 0, 1
			s.mu.Unlock()
		}
		if s.life.Err() != nil {
			return
		}
		err := s.restartEnvoy(dead, n+1)
		if err == nil || errors.Is(err, errReplaced) || s.life.Err() != nil {
			return
		}
		s.log.Warn("restart Envoy failed", "attempt", n+1, "err", err)
		lastErr = err
	}
}

// enginePollInterval is how often a session whose Docker engine went away asks whether it
// is back: a fraction of the 5 s from the engine answering to names answering, the
// rest being Envoy's start (about a second).
const enginePollInterval = 250 * time.Millisecond

// enginePingTimeout bounds one such question; an engine that answers does so in milliseconds.
const enginePingTimeout = 2 * time.Second

// engine is a runtime whose engine can go away under a running session (Docker); a native
// Envoy has none.
type engine interface {
	Ping(ctx context.Context) error
	Endpoint() envoy.DockerEndpoint
}

// waitEngine returns once the runtime's engine answers, or the session ends. While it does
// not answer, the health record says so (an engine restart stops every container, Envoy
// included; nothing can bring Envoy back before the engine is). It reports whether it had
// to wait. It runs outside any operation, so Leave is never held up by a missing engine.
func (s *Session) waitEngine() bool {
	eng, ok := s.rt.(engine)
	if !ok {
		return false
	}
	waited := false
	for {
		ctx, cancel := context.WithTimeout(s.life, enginePingTimeout)
		err := eng.Ping(ctx)
		cancel()
		if err == nil || s.life.Err() != nil {
			if waited {
				s.log.Info("the Docker engine answers again; restarting Envoy", "endpoint", eng.Endpoint().String())
			}
			return waited
		}
		if !waited {
			waited = true
			s.log.Warn("the Docker engine does not answer; Envoy is restarted once it does", "err", err)
			s.setHealth(func(h *Health) {
				h.EnvoyProblem = fmt.Sprintf("the Docker engine at %s does not answer; Envoy is restarted (same certificate) once it does", eng.Endpoint())
			})
		}
		select {
		case <-time.After(enginePollInterval):
		case <-s.life.Done():
			return waited
		}
	}
}

// restartEnvoy is the operation "restart Envoy": it replaces dead with a new Envoy from the
// same bootstrap; the xDS server still holds the current plan and certificate.
func (s *Session) restartEnvoy(dead envoy.Proxy, attempt int) error {
	if err := s.begin(s.life, "restart Envoy"); err != nil {
		return errReplaced
	}
	defer s.finish()
	if s.proxy != dead {
		return errReplaced
	}
	s.log.Warn("the local Envoy exited; restarting it", "attempt", attempt)
	s.setHealth(func(h *Health) {
		h.EnvoyProblem = fmt.Sprintf("Envoy %s exited; restarting it (attempt %d of %d)", dead.ID(), attempt, len(restartDelays))
	})
	ctx, cancel := context.WithTimeout(s.life, restartTimeout)
	defer cancel()
	// The dead container keeps its name (and, published, its network) until removed.
	if err := dead.Stop(ctx); err != nil {
		s.log.Warn("remove the exited Envoy", "err", err)
	}
	if err := s.launch(ctx, s.publishedPorts, nil); err != nil {
		return err
	}
	if err := envoy.WaitReady(ctx, s.proxy.Admin(), envoy.ListenerNames(s.plan)); err != nil {
		return err
	}
	s.mu.Lock()
	s.lastRestart = time.Now()
	s.mu.Unlock()
	s.setHealth(func(h *Health) {
		h.EnvoyRestarts++
		h.EnvoyProblem = ""
	})
	s.log.Info("the local Envoy is back", "proxy", s.proxy.ID())
	return nil
}

// giveUp records that Envoy stays down and closes ProxyDone, so that join and the TUI end.
func (s *Session) giveUp(err error) {
	msg := fmt.Sprintf("Envoy exited and %d restarts failed; gave up", len(restartDelays))
	if err != nil {
		msg += ": " + err.Error()
	}
	s.log.Error(msg)
	s.setHealth(func(h *Health) {
		h.EnvoyProblem = msg
		h.EnvoyGaveUp = true
	})
	s.proxyGone()
}

// proxyGone closes ProxyDone (once).
func (s *Session) proxyGone() { s.proxyDoneOnce.Do(func() { close(s.proxyDone) }) }

// setHealth changes the health record and saves the state file.
func (s *Session) setHealth(f func(*Health)) {
	s.mu.Lock()
	f(&s.state.Health)
	s.mu.Unlock()
	s.save()
}
