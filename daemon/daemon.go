package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

// Session is what the daemon needs of a joined session (*session.Session through Adapt;
// tests give a fake).
type Session interface {
	State() session.State
	SetServices(ctx context.Context, names []string) error
	Leave(ctx context.Context) error
	ProxyDone() <-chan struct{}
	// Lookup resolves a name the user typed to a catalogue service.
	Lookup(name string) (mesh.Service, error)
	// CatalogServices is the catalogue (for an attached TUI's picker).
	CatalogServices() []mesh.Service
}

// Adapt makes a *session.Session a daemon Session.
func Adapt(s *session.Session) Session { return adapted{s} }

type adapted struct{ *session.Session }

func (a adapted) Lookup(name string) (mesh.Service, error) { return a.Catalog().Lookup(name) }

func (a adapted) CatalogServices() []mesh.Service { return a.Catalog().Services() }

// Options configure a Daemon.
type Options struct {
	StateDir string
	// Keep: started by `up`, so only `down` ends it; otherwise (started by `run`) the last
	// run to finish ends it.
	Keep bool
	// IdleTimeout ends the session after this long without clients or traffic; 0 never.
	IdleTimeout time.Duration
	// Classify gives an error its exit code and next step, as the CLI does.
	Classify func(error) (code int, hint string)
	// Traffic returns a number that grows with each request or connection through the local
	// Envoy, and whether a connection is open now (for the idle timeout); nil counts clients
	// alone.
	Traffic func(ctx context.Context) (total uint64, open bool)
	// Status reads the session's status (state file and Envoy counters).
	Status func(ctx context.Context) (session.Status, error)
	Log    *slog.Logger
}

// orphanTimeout ends a session started by a `run` that died before holding it.
const orphanTimeout = time.Minute

// leaveTimeout bounds the leave at the end.
const leaveTimeout = 45 * time.Second

// Daemon owns one session. Its methods and HTTP handlers may be called from any goroutine:
// operations on the session (add services, leave) run one at a time under ops, and the
// bookkeeping (phase, leases, timers) is guarded by mu, never held across an operation.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	started chan struct{} // closed when the first start returned
	ended   chan struct{} // closed when the session is gone
	endOnce sync.Once
	ops     sync.Mutex

	mu         sync.Mutex
	sess       Session
	phase      string
	step       string
	failure    *ErrorBody
	failRead   chan struct{} // closed when a client has read the failure
	failOnce   sync.Once
	leases     map[string]bool // lease → holds a reference (a run)
	keep       bool
	downTimer  *time.Timer
	endsAt     time.Time
	lastActive time.Time
	traffic    uint64
	endErr     error
}

// New returns a daemon that has not started its session yet.
func New(o Options) *Daemon {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Classify == nil {
		o.Classify = func(error) (int, string) { return codeFailure, "" }
	}
	return &Daemon{opts: o, log: o.Log, started: make(chan struct{}), ended: make(chan struct{}), failRead: make(chan struct{}),
		phase: PhaseStarting, leases: map[string]bool{}, keep: o.Keep, lastActive: time.Now()}
}

// Progress records the join step running, for status while starting.
func (d *Daemon) Progress(e session.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !e.Done {
		d.step = e.Step
	}
}

// failureLinger is how long a daemon whose start failed waits for a client to read why.
const failureLinger = 10 * time.Second

// Run starts the session with start and serves it until it ends: `down`, the last run, the
// idle timeout, Envoy exiting, or ctx (a signal). It returns the start's error, or the leave's.
func (d *Daemon) Run(ctx context.Context, start func(context.Context) (Session, error)) error {
	s, err := start(ctx)
	d.mu.Lock()
	if err != nil {
		code, hint := d.opts.Classify(err)
		d.phase, d.failure = PhaseFailed, &ErrorBody{Message: err.Error(), Hint: hint, Code: code}
	} else {
		d.sess, d.phase, d.step = s, PhaseReady, ""
	}
	d.mu.Unlock()
	close(d.started)
	if err != nil {
		d.log.Error("start failed", "err", err)
		select {
		case <-d.failRead:
		case <-time.After(failureLinger):
		case <-ctx.Done():
		}
		d.endOnce.Do(func() { close(d.ended) })
		return err
	}
	d.log.Info("session ready", "session", s.State().ID)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go d.watchIdle(watchCtx)
	select {
	case <-ctx.Done():
		d.end("signal")
	case <-s.ProxyDone():
		d.mu.Lock()
		unexpected := d.phase == PhaseReady // not Envoy stopped by a leave under way
		d.mu.Unlock()
		if unexpected {
			d.log.Error("the local Envoy exited; leaving")
		}
		d.end("envoy exited")
	case <-d.ended:
	}
	<-d.ended
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.endErr
}

// Ended is closed when the session is gone (or its start failed and the failure was read).
func (d *Daemon) Ended() <-chan struct{} { return d.ended }

// end leaves the session (once); later callers wait for the first.
func (d *Daemon) end(reason string) {
	d.ops.Lock()
	defer d.ops.Unlock()
	d.mu.Lock()
	if d.phase != PhaseReady {
		d.mu.Unlock()
		return
	}
	d.phase = PhaseEnding
	if d.downTimer != nil {
		d.downTimer.Stop()
	}
	s := d.sess
	d.mu.Unlock()
	d.log.Info("ending the session", "reason", reason)
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	err := s.Leave(ctx)
	if err != nil {
		d.log.Error("leave", "err", err)
	}
	d.mu.Lock()
	d.endErr = err
	d.mu.Unlock()
	d.endOnce.Do(func() { close(d.ended) })
}

// waitStarted waits for the first start; it returns the start's failure (marking it read).
func (d *Daemon) waitStarted(ctx context.Context) error {
	select {
	case <-d.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.phase {
	case PhaseFailed:
		d.failOnce.Do(func() { close(d.failRead) })
		return &RemoteError{*d.failure}
	case PhaseEnding:
		return errEnding
	}
	return nil
}

var errEnding = errorf(codeConflict, "wait a moment and run it again: a new session starts then", "the session is ending")

// touch records client activity and cancels a pending `down --grace` when asked.
func (d *Daemon) touch(cancelDown bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastActive = time.Now()
	if cancelDown && d.downTimer != nil {
		d.downTimer.Stop()
		d.downTimer, d.endsAt = nil, time.Time{}
		d.log.Info("pending down cancelled")
	}
}

// AddServices joins names too (a no-op when all are joined), keeping the session when keep;
// with replace, names are the whole set (an attached TUI removing one).
func (d *Daemon) AddServices(ctx context.Context, names []string, keep, replace bool) error {
	if err := d.waitStarted(ctx); err != nil {
		return err
	}
	d.touch(true)
	d.ops.Lock()
	defer d.ops.Unlock()
	d.mu.Lock()
	if d.phase != PhaseReady {
		d.mu.Unlock()
		return errEnding
	}
	s := d.sess
	if keep {
		d.keep = true
	}
	d.mu.Unlock()
	var keys []string
	for _, js := range s.State().Services {
		keys = append(keys, js.Key)
	}
	before := slices.Clone(keys)
	if replace {
		keys = nil
	}
	added := false
	for _, n := range names {
		svc, err := s.Lookup(n)
		if err != nil {
			return d.classified(err)
		}
		if !slices.Contains(keys, svc.Key()) {
			keys = append(keys, svc.Key())
			added = added || !slices.Contains(before, svc.Key())
		}
	}
	if !added && (!replace || slices.Equal(keys, before)) {
		return nil
	}
	d.log.Info("adding services", "services", keys)
	if err := s.SetServices(ctx, keys); err != nil {
		return d.classified(err)
	}
	return nil
}

func (d *Daemon) classified(err error) *RemoteError {
	code, hint := d.opts.Classify(err)
	return &RemoteError{ErrorBody{Message: err.Error(), Hint: hint, Code: code}}
}

// Down ends the session now, or after grace unless an `up` or `run` comes first.
func (d *Daemon) Down(ctx context.Context, grace time.Duration) (DownReply, error) {
	if err := d.waitStarted(ctx); err != nil {
		d.mu.Lock()
		failed := d.phase == PhaseFailed
		d.mu.Unlock()
		if failed { // nothing to end: the daemon exits now that the failure is read
			return DownReply{Ended: true, StartFailed: err.Error()}, nil
		}
		return DownReply{}, err
	}
	d.mu.Lock()
	s := d.sess
	d.mu.Unlock()
	id := s.State().ID
	if grace <= 0 {
		d.end("down")
		return DownReply{ID: id, Ended: true}, nil
	}
	d.mu.Lock()
	if d.downTimer != nil {
		d.downTimer.Stop()
	}
	d.endsAt = time.Now().Add(grace)
	d.downTimer = time.AfterFunc(grace, func() { d.end("down --grace") })
	reply := DownReply{ID: id, EndsAt: d.endsAt}
	d.mu.Unlock()
	d.log.Info("down pending", "grace", grace)
	return reply, nil
}

// attach registers a client; a run (ref) holds the session and cancels a pending down.
func (d *Daemon) attach(ref bool) string {
	d.touch(ref)
	d.mu.Lock()
	defer d.mu.Unlock()
	lease := newLease()
	d.leases[lease] = ref
	return lease
}

// release lets go of a lease; it reports whether that ended the session (the last run of a
// session no `up` keeps). Releasing twice is harmless.
func (d *Daemon) release(lease string) bool {
	d.mu.Lock()
	ref, ok := d.leases[lease]
	delete(d.leases, lease)
	d.lastActive = time.Now()
	last := ok && ref && d.runsLocked() == 0 && !d.keep && d.phase == PhaseReady
	d.mu.Unlock()
	if last {
		d.end("the last run finished")
	}
	return last
}

func (d *Daemon) runsLocked() (n int) {
	for _, ref := range d.leases {
		if ref {
			n++
		}
	}
	return n
}

// idleCheckEvery is how often the idle timeout looks at clients and traffic.
func idleCheckEvery(timeout time.Duration) time.Duration {
	return min(max(timeout/4, 100*time.Millisecond), 15*time.Second)
}

// watchIdle ends the session after IdleTimeout without clients or traffic, and a session of
// runs none of which holds it after orphanTimeout.
func (d *Daemon) watchIdle(ctx context.Context) {
	timeout := d.opts.IdleTimeout
	every := idleCheckEvery(orphanTimeout)
	if timeout > 0 {
		every = min(every, idleCheckEvery(timeout))
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.ended:
			return
		case <-t.C:
		}
		var traffic uint64
		var open bool
		if d.opts.Traffic != nil {
			traffic, open = d.opts.Traffic(ctx)
		}
		d.mu.Lock()
		if len(d.leases) > 0 || open || traffic != d.traffic {
			d.lastActive, d.traffic = time.Now(), traffic
		}
		idle := time.Since(d.lastActive)
		orphan := !d.keep && len(d.leases) == 0 && idle > orphanTimeout
		expired := timeout > 0 && idle > timeout
		d.mu.Unlock()
		switch {
		case expired:
			d.end("idle timeout")
			return
		case orphan:
			d.end("no run holds it")
			return
		}
	}
}

// Status is the session's status and the daemon's.
func (d *Daemon) Status(ctx context.Context) Status {
	var out Status
	d.mu.Lock()
	s := d.sess
	out.Daemon = Info{PID: os.Getpid(), Phase: d.phase, Step: d.step, Error: d.failure, Runs: d.runsLocked(), Clients: len(d.leases),
		Kept: d.keep, EndsAt: d.endsAt, IdleTimeout: d.opts.IdleTimeout, Log: LogPath(d.opts.StateDir)}
	if d.phase == PhaseFailed {
		d.failOnce.Do(func() { close(d.failRead) })
	}
	d.mu.Unlock()
	if s == nil {
		return out
	}
	if d.opts.Status != nil {
		st, err := d.opts.Status(ctx)
		if err == nil && st.State != nil {
			out.Status = st
			return out
		}
	}
	st := s.State()
	out.Running, out.State = true, &st
	for _, js := range st.Services {
		out.Services = append(out.Services, session.ServiceStatus{JoinedService: js})
	}
	return out
}

// Env is the session's environment for programs (see env.go).
func (d *Daemon) Env(ctx context.Context) ([]EnvVar, error) {
	if err := d.waitStarted(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	s := d.sess
	d.mu.Unlock()
	vars, warnings := Environment(s.State(), s.Lookup)
	for _, w := range warnings {
		d.log.Warn(w)
	}
	return vars, nil
}

func newLease() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// errorBody turns any error into what the client gets.
func (d *Daemon) errorBody(err error) *RemoteError {
	var re *RemoteError
	if errors.As(err, &re) {
		return re
	}
	return d.classified(err)
}
