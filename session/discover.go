package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/mesh"
)

// discover reads the mesh settings, finds the gateway and syncs the catalogue. The informers
// live until stopCatalog (teardown), not as long as ctx.
func (s *Session) discover(ctx context.Context) error {
	return s.step(StepDiscover, func() (string, error) {
		cfg, gw, err := readMesh(ctx, &s.cfg, s.identity.Namespace)
		if err != nil {
			return "", err
		}
		s.meshCfg, s.gateway = cfg, gw
		for _, w := range cfg.Warnings {
			s.log.Warn(w)
		}
		s.identity.TrustDomain = cfg.TrustDomain
		s.catalog = newCatalog(&s.cfg, cfg)
		catalogCtx, stopCatalog := context.WithCancel(context.WithoutCancel(ctx))
		s.stopCatalog = stopCatalog
		unhook := context.AfterFunc(ctx, stopCatalog) // Ctrl-C while listing still stops it
		err = s.catalog.Start(catalogCtx)
		unhook()
		if err != nil {
			return "", err
		}
		// The first list decoded every object of the cluster and kept a slim copy of each: give
		// that transient memory back now rather than keep it resident for the session's life.
		debug.FreeOSMemory()
		s.mu.Lock()
		s.state.Identity = s.identity.SPIFFEID()
		s.state.Gateway = s.GatewayAddr()
		s.mu.Unlock()
		return fmt.Sprintf("%d services in the catalogue, gateway %s", len(s.catalog.Services()), s.GatewayAddr()), nil
	})
}

// readMesh loads the mesh settings and finds (and probes) the east-west gateway; it fills in
// cfg.CAAddress when it was left to the defaults. It only reads.
func readMesh(ctx context.Context, cfg *Config, rootsNamespace string) (*mesh.Config, envoy.Gateway, error) {
	if cfg.MeshFile != nil {
		return readStatic(ctx, cfg)
	}
	meshCfg, err := mesh.LoadConfig(ctx, cfg.Client, mesh.ConfigOptions{Revision: cfg.Revision, RootsNamespace: rootsNamespace})
	if err != nil {
		return nil, envoy.Gateway{}, err
	}
	var gw envoy.Gateway
	if cfg.GatewayOverride != "" {
		host, port, err := splitHostPort(cfg.GatewayOverride)
		if err != nil {
			return nil, gw, &UsageError{Msg: fmt.Sprintf("--gateway %q: %v", cfg.GatewayOverride, err), Hint: "give host:port, e.g. --gateway 203.0.113.10:15443"}
		}
		gw = envoy.Gateway{Host: host, Port: port}
	} else {
		found, err := mesh.FindGateway(ctx, cfg.Client, meshCfg.Network)
		if err != nil {
			return nil, gw, err
		}
		gw = envoy.Gateway{Host: found.Host, Port: found.Port}
		if found.CAPort != 0 {
			// This cluster's istiod: explains a refusal from a CA elsewhere (--ca-address).
			meshCfg.ClusterCAAddress = net.JoinHostPort(found.Host, strconv.Itoa(int(found.CAPort)))
		}
		if cfg.CAAddress == "" {
			cfg.CAAddress = meshCfg.ClusterCAAddress
		}
	}
	if cfg.CAAddress == "" && meshCfg.CAAddress != "" {
		cfg.CAAddress = meshCfg.CAAddress
	}
	if cfg.CAAddress == "" {
		cfg.CAAddress = net.JoinHostPort(gw.Host, strconv.Itoa(DefaultCAPort))
	}
	return meshCfg, gw, probeGateway(ctx, gw)
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

// planInputs are the planning inputs of this session.
func (s *Session) planInputs() planInput {
	return planInput{
		Lookup:       s.catalog.Lookup,
		Gateway:      s.gateway,
		TrustDomains: append([]string{s.meshCfg.TrustDomain}, s.meshCfg.Aliases...),
		AddressRange: s.cfg.AddressRange,
		BareNames:    s.cfg.BareNames,
		Transcodings: s.cfg.transcodings,
		Proxy:        s.cfg.proxyListener(),
	}
}

// planFor resolves names into the Envoy plan and what the hosts file gets, logging what the
// user should know.
func (s *Session) planFor(names []string) (envoy.Plan, []JoinedService, error) {
	plan, joined, warnings, err := makePlan(s.planInputs(), names)
	for _, w := range warnings {
		s.log.Warn(w.Msg, "service", w.Service)
	}
	return plan, joined, err
}
