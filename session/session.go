// Package session is the join lifecycle, the one API both the CLI and the TUI drive: plan →
// token → certificate → Envoy → hosts, undone in reverse, with a state file so that a session
// whose process died is cleaned up by `leave` or by the next `join`.
package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshjoin/meshjoin/certs"
	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/mesh"
)

// Config is everything a join needs. Zero values mean the documented defaults.
type Config struct {
	Client   kubernetes.Interface
	Dynamic  dynamic.Interface
	Context  string // kube context name, for status
	Identity string // "<namespace>/<serviceaccount>"
	Services []string
	Revision string

	GatewayOverride string // host:port of the east-west gateway's 15443
	CAAddress       string // host:port of the mesh CA; default gateway:15012
	CAServerName    string // default istiod.istio-system.svc (istiod-<rev>... with a revision)
	ClusterID       string // default "Kubernetes"
	CertTTL         time.Duration

	HostsFile    string       // default the system hosts file
	AddressRange netip.Prefix // default 127.77.0.0/16
	BareNames    bool         // also map the bare service name when unambiguous
	ElevateHosts bool         // write the hosts file through sudo (when not root)

	Runtime string // "docker" (default) or "native"
	// EnvoyNetwork is the docker runtime's envoy.NetworkMode: "auto" (default), "host" or
	// "published".
	EnvoyNetwork string
	EnvoyImage   string // docker runtime; default envoyproxy/envoy:v1.40.0
	EnvoyPath    string // native runtime; default `envoy` on PATH
	EnvoyLogs    io.Writer
	PullOutput   io.Writer // progress of an image pull

	StateDir string
	Log      *slog.Logger
	// Progress, when set, hears about each step (for the TUI and the CLI's progress lines).
	Progress func(Event)
}

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

// DefaultEnvoyImage is the image real users run; tests and the demo use the local one.
const DefaultEnvoyImage = "envoyproxy/envoy:v1.40.0"

// Session is a joined workstation. Methods are safe for concurrent use.
type Session struct {
	cfg         Config
	log         *slog.Logger
	store       *store
	id          string
	meshCfg     *mesh.Config
	catalog     *mesh.Catalog
	stopCatalog context.CancelFunc
	gateway     envoy.Gateway
	clusterCA   string // istiod as the cluster's east-west gateway exposes it, "" when unknown
	identity    certs.Identity
	issuer      *certs.Issuer
	ca          *certs.CAClient
	xds         *envoy.Server
	rt          envoy.Runtime
	bootstrap   []byte // holds the ADS secret; kept to start Envoy again (relaunch)
	adminPort   int
	adminToken  string
	published   bool // Envoy runs in envoy.NetworkPublished mode
	hostsW      hostsWriter
	// proxyDone is closed when the local Envoy exits on its own (not when relaunch replaces it).
	proxyDone     chan struct{}
	proxyDoneOnce sync.Once

	mu             sync.Mutex
	state          State
	bundle         *certs.Bundle
	plan           envoy.Plan
	proxy          envoy.Proxy
	publishedPorts []envoy.PublishedPort
	cancel         context.CancelFunc
	rotating       sync.WaitGroup
}

// Join runs every step: Open, then Start with cfg.Services. On failure everything already done
// is undone before it returns.
func Join(ctx context.Context, cfg Config) (*Session, error) {
	if len(cfg.Services) == 0 {
		return nil, &UsageError{Msg: "no services to join", Hint: "name at least one, e.g. `meshjoin join ratings.bookinfo`; `meshjoin services` lists them"}
	}
	s, err := Open(ctx, cfg)
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
func Open(ctx context.Context, cfg Config) (_ *Session, err error) {
	s, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := s.openHosts(); err != nil {
		return nil, err
	}
	if err := s.discover(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Start joins the named services: certificate, Envoy, hosts. On failure what it did is undone
// and the session is closed.
func (s *Session) Start(ctx context.Context, services []string) (err error) {
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	plan, joined, err := s.planFor(services)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.plan, s.state.Services = plan, joined
	s.mu.Unlock()
	if err := s.certify(ctx); err != nil {
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
	return nil
}

// Close undoes whatever was done and releases the lock, without the leaving phase: for a
// session that failed or was never started.
func (s *Session) Close() error {
	err := s.teardown(context.Background())
	s.store.lock.Unlock()
	return err
}

// TrustDomain, Gateway and Identity describe the mesh this session talks to (for headers).
func (s *Session) TrustDomain() string { return s.meshCfg.TrustDomain }

// GatewayAddr is the east-west gateway host:port.
func (s *Session) GatewayAddr() string {
	return net.JoinHostPort(s.gateway.Host, strconv.Itoa(int(s.gateway.Port)))
}

// Identity is the SPIFFE ID the session acts as.
func (s *Session) Identity() string { return s.identity.SPIFFEID() }

func prepare(cfg Config) (*Session, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir()
	}
	if cfg.CertTTL == 0 {
		cfg.CertTTL = time.Hour
	}
	if !cfg.AddressRange.IsValid() {
		cfg.AddressRange = netip.MustParsePrefix("127.77.0.0/16")
	}
	if !cfg.AddressRange.Addr().IsLoopback() {
		return nil, fmt.Errorf("--address-range %s is not a loopback range: use one inside 127.0.0.0/8", cfg.AddressRange)
	}
	if cfg.Runtime == "" {
		cfg.Runtime = "docker"
	}
	if _, err := envoy.ParseNetworkMode(cfg.EnvoyNetwork); err != nil {
		return nil, &UsageError{Msg: err.Error(), Hint: "use --envoy-network auto, host or published"}
	}
	if cfg.Runtime != "docker" && cfg.EnvoyNetwork != "" && cfg.EnvoyNetwork != string(envoy.NetworkAuto) {
		return nil, &UsageError{Msg: fmt.Sprintf("--envoy-network %s applies to the docker runtime only", cfg.EnvoyNetwork),
			Hint: "drop --envoy-network, or use --runtime docker"}
	}
	if cfg.EnvoyImage == "" {
		cfg.EnvoyImage = DefaultEnvoyImage
	}
	if cfg.HostsFile == "" {
		cfg.HostsFile = hosts.SystemPath()
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
			st.lock.Unlock()
			return nil, fmt.Errorf("clean up the previous session: %w", err)
		}
	}
	s := &Session{cfg: cfg, log: cfg.Log, store: st, id: newID(), identity: id, proxyDone: make(chan struct{})}
	s.state = State{ID: s.id, PID: os.Getpid(), Started: time.Now(), Context: cfg.Context, Runtime: cfg.Runtime, HostsFile: cfg.HostsFile, Phase: PhaseJoining}
	return s, nil
}

func (s *Session) step(name string, f func() (string, error)) error {
	start := time.Now()
	if s.cfg.Progress != nil {
		s.cfg.Progress(Event{Step: name})
	}
	detail, err := f()
	d := time.Since(start)
	s.log.Info("step", "step", name, "duration", d.Round(time.Millisecond), "ok", err == nil)
	if s.cfg.Progress != nil {
		s.cfg.Progress(Event{Step: name, Done: true, Duration: d, Err: err, Detail: detail})
	}
	return err
}

// discover reads the mesh settings, finds the gateway and resolves the chosen services.
func (s *Session) discover(ctx context.Context) error {
	return s.step(StepDiscover, func() (string, error) {
		cfg, err := mesh.LoadConfig(ctx, s.cfg.Client, mesh.ConfigOptions{Revision: s.cfg.Revision, RootsNamespace: s.identity.Namespace})
		if err != nil {
			return "", err
		}
		s.meshCfg = cfg
		for _, w := range cfg.Warnings {
			s.log.Warn(w)
		}
		s.identity.TrustDomain = cfg.TrustDomain
		if err := s.findGateway(ctx); err != nil {
			return "", err
		}
		s.catalog = mesh.NewCatalog(s.cfg.Client, s.cfg.Dynamic, cfg, mesh.CatalogOptions{})
		// The informers live as long as the session, not as long as this call.
		catalogCtx, stopCatalog := context.WithCancel(context.WithoutCancel(ctx))
		s.stopCatalog = stopCatalog
		unhook := context.AfterFunc(ctx, stopCatalog) // Ctrl-C while listing still stops it
		err = s.catalog.Start(catalogCtx)
		unhook()
		if err != nil {
			return "", err
		}
		s.mu.Lock()
		s.state.Identity = s.identity.SPIFFEID()
		s.state.Gateway = s.GatewayAddr()
		s.mu.Unlock()
		return fmt.Sprintf("%d services in the catalogue, gateway %s", len(s.catalog.Services()), s.state.Gateway), nil
	})
}

func (s *Session) findGateway(ctx context.Context) error {
	if s.cfg.GatewayOverride != "" {
		host, port, err := splitHostPort(s.cfg.GatewayOverride)
		if err != nil {
			return &UsageError{Msg: fmt.Sprintf("--gateway %q: %v", s.cfg.GatewayOverride, err), Hint: "give host:port, e.g. --gateway 203.0.113.10:15443"}
		}
		s.gateway = envoy.Gateway{Host: host, Port: port}
	} else {
		gw, err := mesh.FindGateway(ctx, s.cfg.Client, s.meshCfg.Network)
		if err != nil {
			return err
		}
		s.gateway = envoy.Gateway{Host: gw.Host, Port: gw.Port}
		if gw.CAPort != 0 {
			s.clusterCA = net.JoinHostPort(gw.Host, strconv.Itoa(int(gw.CAPort)))
		}
		if s.cfg.CAAddress == "" {
			s.cfg.CAAddress = s.clusterCA
		}
	}
	if s.cfg.CAAddress == "" && s.meshCfg.CAAddress != "" {
		s.cfg.CAAddress = s.meshCfg.CAAddress
	}
	if s.cfg.CAAddress == "" {
		s.cfg.CAAddress = net.JoinHostPort(s.gateway.Host, "15012")
	}
	return probeGateway(ctx, s.gateway)
}

// ErrGatewayUnreachable means no TCP connection to the east-west gateway could be opened.
var ErrGatewayUnreachable = errors.New("east-west gateway unreachable")

// probeGateway opens (and closes) one TCP connection, so an unreachable gateway is reported
// before anything is started rather than as failing requests later.
func probeGateway(ctx context.Context, gw envoy.Gateway) error {
	addr := net.JoinHostPort(gw.Host, strconv.Itoa(int(gw.Port)))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: cannot connect to %s: %v", ErrGatewayUnreachable, addr, err)
	}
	return conn.Close()
}

// planFor resolves names into the Envoy plan and what the hosts file gets.
func (s *Session) planFor(names []string) (envoy.Plan, []JoinedService, error) {
	plan := envoy.Plan{Gateway: s.gateway, TrustDomains: append([]string{s.meshCfg.TrustDomain}, s.meshCfg.Aliases...)}
	var joined []JoinedService
	taken := map[netip.Addr]bool{}
	seen := map[string]bool{}
	for _, name := range names {
		svc, err := s.catalog.Lookup(name)
		if err != nil {
			return plan, nil, err
		}
		if seen[svc.Key()] {
			continue
		}
		seen[svc.Key()] = true
		// Before reachability: a ServiceEntry whose every host was refused is "unreachable"
		// too, but the names are what the user must hear about.
		if len(svc.Hosts) == 0 {
			why := strings.Join(svc.Warnings, "; ")
			if why == "" {
				why = "it declares none"
			}
			hint := "fix the names in the cluster object"
			if svc.Kind == mesh.KindServiceEntry {
				hint = "the ServiceEntry's hosts must be DNS names (RFC 1123, no wildcard): fix them in the cluster, or join another service"
			}
			return plan, nil, &UsageError{Msg: fmt.Sprintf("%s has no usable host name: %s", svc.Key(), why), Hint: hint}
		}
		if !svc.Reachable {
			return plan, nil, &UsageError{Msg: fmt.Sprintf("%s is not reachable through the east-west gateway: %s", svc.Key(), svc.Reason),
				Hint: "only services in mesh namespaces with sidecars and mTLS can be joined; `meshjoin services` marks them"}
		}
		// What the catalogue dropped from the cluster's data (names unfit for a hosts file, bad
		// ports or identities), already quoted and escaped.
		for _, w := range svc.Warnings {
			s.log.Warn(w, "service", svc.Key())
		}
		addr, err := hosts.Allocator{Prefix: s.cfg.AddressRange}.AddressFor(svc.Key(), taken)
		if err != nil {
			return plan, nil, err
		}
		taken[addr] = true
		es := envoy.Service{Key: svc.Key(), Host: svc.Hosts[0], ListenIP: addr}
		if svc.IdentitiesExact {
			es.Identities = svc.Identities
		} else {
			s.log.Warn("pods could not be read: accepting any identity of the trust domain", "service", svc.Key())
		}
		js := JoinedService{Key: svc.Key(), Addr: addr.String(), Identities: es.Identities, Exact: svc.IdentitiesExact, Warnings: svc.Warnings}
		for _, p := range svc.Ports {
			proto := envoyProtocol(p.Protocol)
			es.Ports = append(es.Ports, envoy.Port{Number: p.Number, Protocol: proto})
			name := envoy.ListenerName(svc.Key(), p.Number)
			js.Ports = append(js.Ports, Port{Number: p.Number, Protocol: string(proto), Listener: name, Cluster: name})
		}
		js.Names = namesFor(svc, false)
		plan.Services = append(plan.Services, es)
		joined = append(joined, js)
	}
	if s.cfg.BareNames {
		s.addBareNames(joined)
	}
	return plan, joined, nil
}

// addBareNames maps "ratings" too, but only when one joined service has that name: two
// namespaces' "ratings" would make the bare name mean whichever line comes first.
func (s *Session) addBareNames(joined []JoinedService) {
	count := map[string]int{}
	for _, js := range joined {
		count[bareName(js)]++
	}
	for i, js := range joined {
		if name := bareName(js); name != "" && count[name] == 1 {
			joined[i].Names = append(joined[i].Names, name)
		} else if name != "" {
			s.log.Warn("bare name is ambiguous; not mapped", "name", name)
		}
	}
}

func bareName(js JoinedService) string {
	if len(js.Names) < 3 || !strings.HasSuffix(js.Names[1], ".svc") {
		return "" // ServiceEntries keep their declared hosts only
	}
	name, _, _ := strings.Cut(js.Key, ".")
	return name
}

// namesFor is what a developer types: <svc>.<ns>.svc.<domain>, <svc>.<ns>.svc, <svc>.<ns>
// for Services; the declared hosts for ServiceEntries.
func namesFor(svc mesh.Service, bare bool) []string {
	if svc.Kind == mesh.KindServiceEntry {
		return slices.Clone(svc.Hosts)
	}
	fqdn := svc.Hosts[0]
	names := []string{fqdn, svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace}
	if bare {
		names = append(names, svc.Name)
	}
	return names
}

func envoyProtocol(p mesh.Protocol) envoy.Protocol {
	switch p.Codec() {
	case mesh.CodecHTTP1:
		return envoy.HTTP
	case mesh.CodecHTTP2:
		return envoy.HTTP2
	default:
		return envoy.TCP
	}
}

// certify takes a token for the identity and has the mesh CA sign a fresh key.
func (s *Session) certify(ctx context.Context) error {
	return s.step(StepCertificate, func() (string, error) {
		serverName := s.cfg.CAServerName
		if serverName == "" {
			serverName = "istiod.istio-system.svc"
			if s.cfg.Revision != "" && s.cfg.Revision != "default" {
				serverName = "istiod-" + s.cfg.Revision + ".istio-system.svc"
			}
		}
		roots, err := certs.ParseRoots(s.meshCfg.RootsPEM)
		if err != nil {
			return "", err
		}
		s.ca, err = certs.DialCA(ctx, certs.CAConfig{
			Address: s.cfg.CAAddress, ServerName: serverName, RootsPEM: s.meshCfg.RootsPEM, ClusterID: s.cfg.ClusterID,
			ClusterName: s.meshCfg.ClusterName, ClusterCAAddress: s.clusterCA,
		})
		if err != nil {
			return "", err
		}
		s.issuer = &certs.Issuer{
			CA:       s.ca,
			Tokens:   s.timedTokens(certs.NewServiceAccountTokenSource(s.cfg.Client, s.identity)),
			Identity: s.identity,
			Roots:    roots,
			TTL:      s.cfg.CertTTL,
		}
		b, err := s.issuer.Issue(ctx)
		if err != nil {
			return "", err
		}
		s.mu.Lock()
		s.bundle = b
		s.state.CertNotAfter = b.NotAfter
		s.mu.Unlock()
		return fmt.Sprintf("%s until %s", s.identity.SPIFFEID(), b.NotAfter.Format(time.TimeOnly)), nil
	})
}

// timedTokens reports each token request as its own step (the TUI and benchmarks show it).
func (s *Session) timedTokens(inner certs.TokenSource) certs.TokenSource {
	return certs.TokenSourceFunc(func(ctx context.Context) (string, error) {
		var tok string
		err := s.step(StepToken, func() (string, error) {
			var err error
			tok, err = inner.Token(ctx)
			return s.identity.String(), err
		})
		return tok, err
	})
}

func (s *Session) credentials() envoy.Credentials {
	return envoy.Credentials{CertChainPEM: s.bundle.CertChainPEM(), KeyPEM: s.bundle.KeyPEM(), RootsPEM: s.meshCfg.RootsPEM}
}

// startEnvoy serves the config over ADS and starts the local Envoy, then waits until every
// listener is serving.
func (s *Session) startEnvoy(ctx context.Context) error {
	nodeID := "meshjoin~" + s.id
	var err error
	if s.xds, err = envoy.NewServer(nodeID); err != nil {
		return err
	}
	if s.adminToken, err = envoy.NewAdminToken(); err != nil {
		return err
	}
	ctx, started, stop := s.watchConfigContact(ctx)
	defer stop()
	err = s.step(StepEnvoyStart, func() (string, error) {
		rt, err := s.runtime(ctx)
		if err != nil {
			return "", err
		}
		s.rt = rt
		xdsAddr := s.xds.Addr()
		adminSocket := envoy.ContainerAdminSocket
		if d, ok := rt.(*envoy.DockerRuntime); ok {
			s.mu.Lock()
			s.state.Network = string(d.Network())
			s.published = d.Network() == envoy.NetworkPublished
			s.mu.Unlock()
			if s.published {
				// The ADS server stays on 127.0.0.1: Docker Desktop forwards the container's
				// connections to HostAlias to the workstation's loopback.
				_, port, _ := net.SplitHostPort(xdsAddr)
				xdsAddr = net.JoinHostPort(envoy.HostAlias, port)
			}
		} else {
			// A native Envoy's admin socket goes in the state directory (0700), and a
			// crashed run's is removed first (a unix socket cannot be bound twice).
			adminSocket = nativeAdminSocket(s.cfg.StateDir)
			if err := removeIfExists(adminSocket); err != nil {
				return "", err
			}
		}
		served, ports := s.served(s.plan)
		if err := s.xds.Update(served, s.credentials()); err != nil {
			return "", err
		}
		adminPort, err := freeLoopbackPort()
		if err != nil {
			return "", err
		}
		s.bootstrap, err = envoy.Bootstrap(envoy.BootstrapOptions{NodeID: nodeID, XDSAddr: xdsAddr, Secret: s.xds.Secret(),
			AdminPort: adminPort, AdminInContainer: s.published, AdminToken: s.adminToken, AdminSocket: adminSocket})
		if err != nil {
			return "", err
		}
		s.adminPort = adminPort
		if err := s.launch(ctx, ports, started); err != nil {
			return "", noContact(ctx, err)
		}
		return s.currentProxy().ID(), nil
	})
	if err != nil {
		return err
	}
	return s.step(StepConfig, func() (string, error) {
		names := envoy.ListenerNames(s.plan)
		err := envoy.WaitReady(ctx, s.currentProxy().Admin(), names)
		return fmt.Sprintf("%d listeners", len(names)), noContact(ctx, err)
	})
}

// configContactTimeout is how long a started Envoy may take to ask for its configuration.
// Envoy asks within milliseconds of starting; silence means it cannot reach the server.
const configContactTimeout = 20 * time.Second

// watchConfigContact returns a ctx that ends with ErrNoConfigContact as its cause when Envoy
// has not asked the ADS server for configuration configContactTimeout after started is
// called (in published mode: host.docker.internal not forwarded); stop ends the watch. Only
// the start-up uses ctx: the runtimes detach Envoy's lifetime from it. Envoy's admin listener
// answers only after that first fetch, so without this the start would wait for ctx alone.
func (s *Session) watchConfigContact(ctx context.Context) (_ context.Context, started, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	start := make(chan struct{})
	go func() {
		select {
		case <-start:
		case <-ctx.Done():
			return
		}
		select {
		case <-s.xds.Contacted():
		case <-ctx.Done():
		case <-time.After(configContactTimeout):
			where := "127.0.0.1"
			if s.published {
				where = envoy.HostAlias + ", which Docker Desktop forwards to this machine's loopback"
			}
			cancel(fmt.Errorf("%w in %s: Envoy reaches it at %s", ErrNoConfigContact, configContactTimeout, where))
		}
	}()
	return ctx, sync.OnceFunc(func() { close(start) }), func() { cancel(nil) }
}

// noContact is err, or the watchdog's ErrNoConfigContact when that is why ctx ended.
func noContact(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrNoConfigContact) {
		return cause
	}
	return err
}

// served is the plan as Envoy gets it, and the ports Docker must publish for it (none on
// the host network).
func (s *Session) served(plan envoy.Plan) (envoy.Plan, []envoy.PublishedPort) {
	if !s.published {
		return plan, nil
	}
	return envoy.Publish(plan)
}

// launch starts an Envoy from the session's bootstrap, publishing ports, and records it.
// started, when not nil, is called once the Envoy process runs.
func (s *Session) launch(ctx context.Context, ports []envoy.PublishedPort, started func()) error {
	p, err := s.rt.Start(ctx, envoy.ProxySpec{SessionID: s.id, Bootstrap: s.bootstrap, AdminPort: s.adminPort, AdminToken: s.adminToken,
		Image: s.cfg.EnvoyImage, Logs: s.cfg.EnvoyLogs, Published: ports, Started: started})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proxy, s.publishedPorts = p, ports
	s.state.AdminAddr, s.state.AdminToken = p.Admin().Addr, p.Admin().Token
	if s.cfg.Runtime == "docker" {
		s.state.ContainerID = p.ID()
	} else if pp, ok := p.(interface{ PID() int }); ok {
		s.state.EnvoyPID = pp.PID()
	}
	s.mu.Unlock()
	s.save()
	go func() {
		<-p.Done()
		if s.currentProxy() == p { // not one replaced by relaunch
			s.proxyDoneOnce.Do(func() { close(s.proxyDone) })
		}
	}()
	return nil
}

// relaunch replaces the Envoy container with one that publishes ports. Docker cannot add a
// published port to a running container, so in NetworkPublished mode a change of services
// costs a restart (about 1 s; open connections to the other services are cut).
func (s *Session) relaunch(ctx context.Context, ports []envoy.PublishedPort) error {
	s.mu.Lock()
	old := s.proxy
	s.proxy = nil
	s.mu.Unlock()
	if err := old.Stop(ctx); err != nil {
		return fmt.Errorf("stop Envoy to publish the new ports: %w", err)
	}
	return s.launch(ctx, ports, nil)
}

func (s *Session) currentProxy() envoy.Proxy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proxy
}

func (s *Session) runtime(ctx context.Context) (envoy.Runtime, error) {
	switch s.cfg.Runtime {
	case "docker":
		return envoy.NewDockerRuntime(ctx, envoy.DockerOptions{PullOutput: s.cfg.PullOutput, Network: envoy.NetworkMode(s.cfg.EnvoyNetwork)})
	case "native":
		path := s.cfg.EnvoyPath
		if path == "" {
			path = "envoy"
		}
		return envoy.NewNativeRuntime(path), nil
	default:
		return nil, &UsageError{Msg: fmt.Sprintf("unknown runtime %q", s.cfg.Runtime), Hint: "use --runtime docker or --runtime native"}
	}
}

// openHosts opens (and locks) the hosts file once per session; it stays open until teardown.
func (s *Session) openHosts() error {
	if s.hostsW != nil {
		return nil
	}
	w, err := newHostsWriter(s.cfg.HostsFile, s.id, s.cfg.ElevateHosts)
	if err != nil {
		return err
	}
	s.hostsW = w
	return nil
}

func (s *Session) writeHosts() error {
	return s.step(StepHosts, func() (string, error) {
		if err := s.openHosts(); err != nil {
			return "", err
		}
		s.mu.Lock()
		entries := hostsEntries(s.state.Services)
		s.state.HostsWritten = true // before the write: a crash mid-write still cleans up
		s.mu.Unlock()
		s.save()
		rejected, err := s.hostsW.Apply(entries)
		for _, r := range rejected {
			s.log.Warn("name not written to the hosts file", "name", r.Name, "reason", r.Reason)
		}
		return fmt.Sprintf("%d names in %s", countNames(entries), s.cfg.HostsFile), err
	})
}

func hostsEntries(svcs []JoinedService) []hosts.Entry {
	var out []hosts.Entry
	for _, js := range svcs {
		out = append(out, hosts.Entry{IP: netip.MustParseAddr(js.Addr), Names: js.Names})
	}
	return out
}

func countNames(es []hosts.Entry) (n int) {
	for _, e := range es {
		n += len(e.Names)
	}
	return n
}

// startRotation renews the certificate at half-life and pushes each new one to Envoy.
func (s *Session) startRotation() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.rotating.Add(1)
	go func() {
		defer s.rotating.Done()
		r := &certs.Rotator{
			Issuer: s.issuer,
			OnRenew: func(b *certs.Bundle) {
				s.mu.Lock()
				s.bundle = b
				s.state.CertNotAfter = b.NotAfter
				s.state.Renewals++
				s.state.LastError = ""
				plan, _ := s.served(s.plan)
				s.mu.Unlock()
				if err := s.xds.Update(plan, s.credentials()); err != nil {
					s.log.Error("push renewed certificate", "err", err)
				}
				s.log.Info("certificate renewed", "notAfter", b.NotAfter)
				s.save()
			},
			OnError: func(err error) {
				s.log.Warn("certificate renewal failed; retrying", "err", err)
				s.mu.Lock()
				s.state.LastError = err.Error()
				s.mu.Unlock()
				s.save()
			},
		}
		s.mu.Lock()
		b := s.bundle
		s.mu.Unlock()
		_ = r.Run(ctx, b)
	}()
}

// SetServices changes the joined services live: a new snapshot (no Envoy restart, other
// services' connections untouched), then the hosts block. In NetworkPublished mode a change
// of ports recreates the container (see relaunch); if that fails, the previous services are
// restored.
func (s *Session) SetServices(ctx context.Context, names []string) error {
	plan, joined, err := s.planFor(names)
	if err != nil {
		return err
	}
	served, ports := s.served(plan)
	s.mu.Lock()
	prevPlan, prevJoined, prevPorts := s.plan, s.state.Services, s.publishedPorts
	s.plan = plan
	s.state.Services = joined
	creds := s.credentials()
	s.mu.Unlock()
	if err := s.xds.Update(served, creds); err != nil {
		return err
	}
	if s.published && !slices.Equal(ports, prevPorts) {
		if err := s.relaunch(ctx, ports); err != nil {
			s.log.Error("restart Envoy with the new ports; restoring the previous services", "err", err)
			s.mu.Lock()
			s.plan, s.state.Services = prevPlan, prevJoined
			s.mu.Unlock()
			if rerr := s.restore(context.WithoutCancel(ctx), prevPlan, prevPorts, creds); rerr != nil {
				// No Envoy runs now: say so, as when Envoy dies, so that join and the TUI end.
				s.proxyDoneOnce.Do(func() { close(s.proxyDone) })
				return errors.Join(err, rerr)
			}
			return err
		}
	}
	if err := envoy.WaitReady(ctx, s.currentProxy().Admin(), envoy.ListenerNames(plan)); err != nil {
		return err
	}
	return s.writeHosts()
}

// restore brings back the previous services' Envoy after a failed relaunch.
func (s *Session) restore(ctx context.Context, plan envoy.Plan, ports []envoy.PublishedPort, creds envoy.Credentials) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	served, _ := s.served(plan)
	if err := s.xds.Update(served, creds); err != nil {
		return err
	}
	if err := s.launch(ctx, ports, nil); err != nil {
		return fmt.Errorf("restart Envoy with the previous services: %w", err)
	}
	return envoy.WaitReady(ctx, s.currentProxy().Admin(), envoy.ListenerNames(plan))
}

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

// Catalog is the live catalogue (for the TUI's picker).
func (s *Session) Catalog() *mesh.Catalog { return s.catalog }

// ProxyDone is closed when the local Envoy exits.
func (s *Session) ProxyDone() <-chan struct{} { return s.proxyDone }

// Leave undoes everything in reverse order and releases the session.
func (s *Session) Leave(ctx context.Context) error {
	s.mu.Lock()
	s.state.Phase = PhaseLeaving
	s.mu.Unlock()
	s.save()
	err := s.teardown(ctx)
	s.store.lock.Unlock()
	return err
}

func (s *Session) teardown(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
		s.rotating.Wait()
	}
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
	if p := s.currentProxy(); p != nil {
		if err := p.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop Envoy: %w", err))
		}
	}
	if s.cfg.Runtime == "native" {
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

func (s *Session) save() {
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	if err := s.store.write(&st); err != nil {
		s.log.Error("write state file", "err", err)
	}
}

// nativeAdminSocket is where a native Envoy's admin interface listens: in the state
// directory, which is the user's alone (0700).
func nativeAdminSocket(stateDir string) string { return filepath.Join(stateDir, "envoy-admin.sock") }

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func newID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func splitHostPort(hp string) (string, uint32, error) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("bad port %q", port)
	}
	if host == "" {
		return "", 0, errors.New("empty host")
	}
	return host, uint32(n), nil
}
