// Package session is the join lifecycle, the one API the CLI, the TUI and the background
// session drive: plan → token → certificate → Envoy → hosts (Envoy's start runs beside the
// first three), undone in reverse, with a state file so that a session whose process died is
// cleaned up by `leave` or by the next `join`.
//
// The files follow the seams: config.go (defaults and validation), plan.go (pure planning),
// discover.go (mesh settings, gateway, catalogue), rotation.go (certificate and renewal),
// proxy.go, early.go and heal.go (xDS server, Envoy's start beside the discovery, restarts), hostsstep.go (the hosts block),
// preview.go (--dry-run), and this file, the orchestrator and its operation contract.
package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/meshjoin/meshjoin/certs"
	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/mesh"
)

// Steps of a join, in order.
const (
	StepDiscover    = "discover"
	StepToken       = "token"
	StepCertificate = "certificate"
	StepEnvoyStart  = "envoy"
	StepConfig      = "config"
	StepHosts       = "hosts"
)

// Event reports a step starting (Done false) or ending (Done true, with Err on failure).
type Event struct {
	Step     string
	Done     bool
	Duration time.Duration
	Err      error
	Detail   string
}

// Session is a joined workstation.
//
// # Operation contract
//
// A session runs one operation at a time. The operations are Start, SetServices, Leave and
// Close, called by its users, and two the session runs by itself: pushing a renewed
// certificate to Envoy, and restarting an Envoy that exited. Each holds the operation lock
// from its first step to its last, so operations never overlap, whichever goroutines, TUIs or
// control-socket clients call them: a caller waits its turn, or gives up with ctx's error when
// ctx ends first, having changed nothing.
//
// Every configuration Envoy receives is built inside an operation from the session's current
// plan and current certificate together (see push): a renewal cannot bring back an older set of
// services, nor a change of services an older certificate. When an operation fails, Envoy, the
// hosts block and the state file are brought back to what they were before it.
//
// Leave and Close end the session; a failed Start ends it too. Every operation after the end is
// refused with an *EndedError (errors.Is(err, ErrEnded)), except Close, which is then harmless.
// Leave first stops the background work (renewal, Envoy restarts), then waits for its turn.
//
// State, Services, Catalog, ProxyDone, TrustDomain, GatewayAddr and Identity are not
// operations: any goroutine may call them at any time, during an operation too (they see the
// state as of its last finished step).
type Session struct {
	cfg      Config
	log      *slog.Logger
	store    *store
	id       string
	identity certs.Identity

	// Set by Open, read-only afterwards.
	meshCfg     *mesh.Config
	catalog     mesh.Source
	stopCatalog context.CancelFunc
	gateway     envoy.Gateway

	// ops is the operation lock: a one-slot semaphore, so that waiting for it can end with a
	// ctx. The fields below it belong to the operation holding it.
	ops            chan struct{}
	started, ended bool
	issuer         *certs.Issuer
	ca             *certs.CAClient
	xds            *envoy.Server
	rt             envoy.Runtime
	bootstrap      []byte // holds the ADS secret; kept to start Envoy again
	adminPort      int
	adminToken     string
	published      bool // Envoy runs in envoy.NetworkPublished mode
	hostsW         hostsWriter
	plan           envoy.Plan
	bundle         *certs.Bundle
	proxy          envoy.Proxy
	publishedPorts []envoy.PublishedPort // NetworkPublished: the one Docker publishes for Envoy's listener
	fwd            *envoy.Forwarder      // NetworkPublished: from the services' addresses to that port
	early          *earlyLaunch          // Envoy's start, begun beside discovery or the certificate

	progressMu sync.Mutex // one Progress call at a time: steps overlap (see earlyLaunch)

	// life ends with the session (or when Leave begins): renewal and Envoy watchers stop.
	life    context.Context
	endLife context.CancelFunc
	bg      sync.WaitGroup // renewal and Envoy watchers

	// proxyDone is closed when Envoy is gone for good: restarts gave up, or a failed change
	// could not bring it back.
	proxyDone     chan struct{}
	proxyDoneOnce sync.Once

	mu            sync.Mutex // guards what follows; never held across I/O
	state         State
	lastRestart   time.Time
	restartStreak int

	saveMu sync.Mutex // one state-file write at a time, so the newest state is the last written
}

// Join runs every step: Open, then Start with cfg.Services. On failure everything already done
// is undone before it returns.
func Join(ctx context.Context, cfg Config) (*Session, error) {
	if len(cfg.Services) == 0 {
		return nil, &UsageError{Msg: "no services to join", Hint: "name at least one, e.g. `meshjoin join ratings.bookinfo`; `meshjoin services` lists them"}
	}
	// Envoy starts while the mesh is read: it needs nothing from it until its first
	// configuration (see earlyLaunch).
	s, err := open(ctx, cfg, true)
	if err != nil {
		return nil, err
	}
	if err := s.Start(ctx, cfg.Services); err != nil {
		return nil, err
	}
	return s, nil
}

// Open takes the session lock (cleaning up after a session whose process died), reads the
// mesh settings, finds the gateway and syncs the catalogue. Nothing is started yet: the TUI
// shows the catalogue from here. Start joins; Close releases a session that never started.
func Open(ctx context.Context, cfg Config) (*Session, error) {
	return open(ctx, cfg, false)
}

// open is Open; with early, Envoy starts beside the discovery (Join's case: Start follows).
func open(ctx context.Context, cfg Config, early bool) (_ *Session, err error) {
	s, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	// Opened (and locked) now, so that a hosts file we cannot write fails before anything
	// starts; proxy mode never touches it.
	if s.cfg.Mode != ModeProxy {
		if err := s.openHosts(); err != nil {
			return nil, err
		}
	}
	if early {
		s.early = s.launchEarly(ctx)
	}
	if err := s.discover(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Start is the operation that joins the named services: certificate, Envoy, hosts. On failure
// what it did is undone and the session ends.
func (s *Session) Start(ctx context.Context, services []string) (err error) {
	if err := s.begin(ctx, "start"); err != nil {
		return err
	}
	defer s.finish()
	if s.started {
		return errors.New("the session has already started: use SetServices to change its services")
	}
	s.started = true
	defer func() {
		if err != nil {
			s.end(context.WithoutCancel(ctx))
		}
	}()
	plan, joined, err := s.planFor(services)
	if err != nil {
		return err
	}
	s.plan = plan
	s.setServices(joined)
	if s.early == nil {
		s.early = s.launchEarly(ctx) // beside the certificate
	}
	if err := s.early.failed(); err != nil {
		return err // before a certificate is signed for a join that cannot finish
	}
	if err := s.certify(ctx); err != nil {
		return err
	}
	if err := s.syncAliases(joined); err != nil { // macOS: Envoy binds these addresses
		return err
	}
	if err := s.startEnvoy(ctx); err != nil {
		return err
	}
	if err := s.writeHosts(); err != nil {
		return err
	}
	s.mu.Lock()
	s.state.Phase = PhaseJoined
	s.mu.Unlock()
	s.save()
	s.startRotation()
	s.followFreshness()
	return nil
}

// SetServices is the operation that changes the joined services live: a new configuration
// for Envoy (no restart, other services' connections untouched), then the hosts block. In
// NetworkPublished mode the forwarder's listening sockets change too; the container stays.
// When any step fails, the previous services are restored.
func (s *Session) SetServices(ctx context.Context, names []string) error {
	if err := s.begin(ctx, "change services"); err != nil {
		return err
	}
	defer s.finish()
	if !s.started {
		return errors.New("the session has not started: call Start first")
	}
	plan, joined, err := s.planFor(names)
	if err != nil {
		if f := s.catalog.Freshness(); f.Stale() { // the name may be one the catalogue missed
			return fmt.Errorf("%w; with the catalogue as it is: %v", &mesh.StaleError{Freshness: f}, err)
		}
		return err
	}
	if err := s.refuseNewWhileStale(joined); err != nil {
		return err
	}
	prevPlan, prevJoined := s.plan, s.Services()
	s.plan = plan
	s.setServices(joined)
	err = s.applyServices(ctx)
	if err == nil {
		return nil
	}
	s.log.Error("change of services failed; restoring the previous services", "err", err)
	s.plan = prevPlan
	s.setServices(prevJoined)
	if rerr := s.restore(context.WithoutCancel(ctx)); rerr != nil {
		// No Envoy serves now: say so, as when restarts give up, so that join and the TUI end.
		s.proxyGone()
		return errors.Join(err, rerr)
	}
	return err
}

// applyServices brings Envoy and the hosts block to s.plan and the state's services.
func (s *Session) applyServices(ctx context.Context) error {
	if err := s.syncAliases(s.Services()); err != nil {
		return err
	}
	if err := s.forward(); err != nil {
		return err
	}
	if err := s.push(); err != nil {
		return err
	}
	select {
	case <-s.proxy.Done():
		return errors.New("the local Envoy exited and is being restarted: try again in a moment")
	default:
	}
	if err := envoy.WaitReady(ctx, s.proxy.Admin(), envoy.ListenerNames(s.plan)); err != nil {
		return err
	}
	if err := s.xds.WaitApplied(ctx); err != nil {
		return err
	}
	return s.writeHosts()
}

// Leave is the operation that undoes everything in reverse order and ends the session.
func (s *Session) Leave(ctx context.Context) error {
	s.endLife() // no renewal or restart from now on; an operation running still finishes
	if err := s.begin(ctx, "leave"); err != nil {
		return err
	}
	defer s.finish()
	s.mu.Lock()
	s.state.Phase = PhaseLeaving
	s.mu.Unlock()
	s.save()
	return s.end(ctx)
}

// Close undoes whatever was done and ends the session without the leaving phase: for a
// session that failed or never started. After the end it does nothing.
func (s *Session) Close() error {
	s.endLife()
	if err := s.begin(context.Background(), "close"); err != nil {
		if errors.Is(err, ErrEnded) {
			return nil
		}
		return err
	}
	defer s.finish()
	return s.end(context.Background())
}

// begin waits for the operation lock; it refuses once the session has ended.
func (s *Session) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.ops <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.ended {
		<-s.ops
		return &EndedError{Op: op, ID: s.id}
	}
	return nil
}

// finish releases the operation lock.
func (s *Session) finish() { <-s.ops }

// end undoes everything and releases the state directory; inside an operation.
func (s *Session) end(ctx context.Context) error {
	s.ended = true
	err := s.teardown(ctx)
	// Nothing can be done about a failed unlock: the flock ends with this process's descriptor.
	if uerr := s.store.lock.Unlock(); uerr != nil {
		s.log.Warn("release the state directory's lock", "err", uerr)
	}
	return err
}

// TrustDomain is the mesh's trust domain.
func (s *Session) TrustDomain() string { return s.meshCfg.TrustDomain }

// GatewayAddr is the east-west gateway host:port.
func (s *Session) GatewayAddr() string {
	return net.JoinHostPort(s.gateway.Host, strconv.Itoa(int(s.gateway.Port)))
}

// Identity is the SPIFFE ID the session acts as.
func (s *Session) Identity() string { return s.identity.SPIFFEID() }

// Services returns what is joined now.
func (s *Session) Services() []JoinedService {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.state.Services)
}

// State is a copy of the session's state.
func (s *Session) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.Services = slices.Clone(st.Services)
	return st
}

// Catalog is the catalogue (for the TUI's picker): the live one, or the mesh file's.
func (s *Session) Catalog() mesh.Source { return s.catalog }

// ProxyDone is closed when the local Envoy is gone for good: it exited and the restarts failed
// (State's EnvoyProblem says why), or a failed change of services could not bring it back.
func (s *Session) ProxyDone() <-chan struct{} { return s.proxyDone }

func prepare(cfg Config) (*Session, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	id, err := certs.ParseIdentity(cfg.Identity)
	if err != nil {
		return nil, err
	}
	st, err := newStore(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	// One session per state directory: a second join is refused while the first runs, and
	// cleans up after the first when it died.
	ok, err := st.lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", st.lock.Path(), err)
	}
	if !ok {
		prev, _ := st.read()
		return nil, &AlreadyJoinedError{State: prev}
	}
	if prev, err := st.read(); err != nil || prev != nil {
		if err == nil {
			cfg.Log.Info("cleaning up a session whose process died", "session", prev.ID, "pid", prev.PID)
			err = cleanupWith(context.Background(), st, prev, cfg.Log, false)
		}
		if err != nil {
			if uerr := st.lock.Unlock(); uerr != nil { // see end
				cfg.Log.Warn("release the state directory's lock", "err", uerr)
			}
			return nil, fmt.Errorf("clean up the previous session: %w", err)
		}
	}
	life, endLife := context.WithCancel(context.Background())
	s := &Session{cfg: cfg, log: cfg.Log, store: st, id: newID(), identity: id, ops: make(chan struct{}, 1),
		life: life, endLife: endLife, proxyDone: make(chan struct{})}
	s.state = State{ID: s.id, PID: os.Getpid(), Started: time.Now(), Context: cfg.Context, Runtime: cfg.Runtime, HostsFile: cfg.HostsFile, Phase: PhaseJoining, Mode: cfg.Mode}
	if p := cfg.proxyListener(); p != nil {
		s.state.ProxyAddr, s.state.HostsFile = p.Addr(), ""
	}
	return s, nil
}

func (s *Session) step(name string, f func() (string, error)) error {
	start := time.Now()
	s.progress(Event{Step: name})
	detail, err := f()
	d := time.Since(start)
	s.log.Info("step", "step", name, "duration", d.Round(time.Millisecond), "ok", err == nil)
	s.progress(Event{Step: name, Done: true, Duration: d, Err: err, Detail: detail})
	return err
}

// progress tells cfg.Progress about e, one call at a time (steps overlap: see earlyLaunch).
func (s *Session) progress(e Event) {
	if s.cfg.Progress != nil {
		s.progressMu.Lock()
		defer s.progressMu.Unlock()
		s.cfg.Progress(e)
	}
}

func (s *Session) setServices(joined []JoinedService) {
	s.mu.Lock()
	s.state.Services = joined
	s.mu.Unlock()
}

// teardown stops the background work, then removes the hosts block, Envoy, the xDS server and
// the informers; the state file goes last, and stays when something could not be undone so
// that `meshjoin leave` can finish the job.
func (s *Session) teardown(ctx context.Context) error {
	s.endLife()
	s.early.stop() // before the proxy fields it owns are read
	s.bg.Wait()
	var errs []error
	s.mu.Lock()
	wroteHosts := s.state.HostsWritten
	s.mu.Unlock()
	if wroteHosts {
		if err := s.openHosts(); err != nil {
			errs = append(errs, err)
		} else if _, err := s.hostsW.Apply(nil); err != nil {
			errs = append(errs, fmt.Errorf("remove the hosts block: %w", err))
		}
	}
	if s.hostsW != nil {
		s.hostsW.Close()
		s.hostsW = nil
	}
	if s.fwd != nil {
		s.fwd.Close() // first: no new connection finds Envoy gone
		s.fwd = nil
	}
	if s.proxy != nil {
		if err := s.proxy.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop Envoy: %w", err))
		}
	}
	if err := s.syncAliases(nil); err != nil {
		errs = append(errs, err)
	}
	if s.cfg.Runtime == RuntimeNative {
		if err := removeIfExists(nativeAdminSocket(s.cfg.StateDir)); err != nil {
			errs = append(errs, err)
		}
	}
	if s.xds != nil {
		s.xds.Close()
	}
	if s.ca != nil {
		s.ca.Close()
	}
	if c, ok := s.rt.(interface{ Close() error }); ok {
		c.Close()
	}
	if s.stopCatalog != nil {
		s.stopCatalog()
	}
	if len(errs) == 0 {
		if err := s.store.remove(); err != nil {
			errs = append(errs, err)
		}
	} else {
		s.save() // keep the record so `meshjoin leave` can finish the job
	}
	return errors.Join(errs...)
}

// save writes the state file. Writes are serialised and each takes the state as it is when
// its turn comes, so the file never ends older than the state.
func (s *Session) save() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	if err := s.store.write(&st); err != nil {
		s.log.Error("write state file", "err", err)
	}
}

func newID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
