package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/meshjoin/meshjoin/certs"
	"github.com/meshjoin/meshjoin/envoy"
)

// The proxy: the in-process xDS server, the runtime that runs the local Envoy, and starting,
// replacing and restarting that Envoy. Everything here runs inside an operation (see Session).

// prepareEnvoy starts the ADS server, connects to the runtime (deciding the Docker network)
// and writes the bootstrap: all Envoy needs to start, none of which needs the plan or the
// certificate.
func (s *Session) prepareEnvoy(ctx context.Context) error {
	nodeID := "meshjoin~" + s.id
	var err error
	if s.xds, err = envoy.NewServer(nodeID); err != nil {
		return err
	}
	if s.adminToken, err = envoy.NewAdminToken(); err != nil {
		return err
	}
	rt, err := s.runtime(ctx)
	if err != nil {
		return err
	}
	s.rt = rt
	xdsAddr := s.xds.Addr()
	adminSocket := envoy.ContainerAdminSocket
	if d, ok := rt.(*envoy.DockerRuntime); ok {
		s.published = d.Network() == envoy.NetworkPublished
		s.mu.Lock()
		s.state.Network = string(d.Network())
		s.mu.Unlock()
		if s.published {
			// The ADS server stays on 127.0.0.1: Docker Desktop forwards the container's
			// connections to HostAlias to the workstation's loopback.
			_, port, _ := net.SplitHostPort(xdsAddr)
			xdsAddr = net.JoinHostPort(envoy.HostAlias, port)
		}
	} else {
		// A native Envoy's admin socket goes in the state directory (0700).
		adminSocket = nativeAdminSocket(s.cfg.StateDir)
	}
	adminPort, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	s.bootstrap, err = envoy.Bootstrap(envoy.BootstrapOptions{NodeID: nodeID, XDSAddr: xdsAddr, Secret: s.xds.Secret(),
		AdminPort: adminPort, AdminInContainer: s.published, AdminToken: s.adminToken, AdminSocket: adminSocket})
	s.adminPort = adminPort
	return err
}

// launchStep is the Envoy start step: Envoy launched, until its admin interface answers
// (which is after its first configuration: see envoy.Runtime).
func (s *Session) launchStep(ctx context.Context, ports []envoy.PublishedPort) error {
	ctx, started, stop := s.watchConfigContact(ctx)
	defer stop()
	return s.step(StepEnvoyStart, func() (string, error) {
		if err := s.launch(ctx, ports, started); err != nil {
			return "", noContact(ctx, err)
		}
		return s.proxy.ID(), nil
	})
}

// startEnvoy serves the plan and certificate over ADS to the Envoy the early launch started
// (or, with published ports, starts it now that the plan says which), then waits until every
// listener is serving.
func (s *Session) startEnvoy(ctx context.Context) error {
	l := s.early
	if err := l.waitDecided(ctx); err != nil {
		return err
	}
	if err := s.push(); err != nil {
		return err
	}
	if l.launched {
		if err := l.wait(ctx); err != nil {
			return err
		}
	} else {
		ports, err := s.startForwarder()
		if err != nil {
			return err
		}
		if err := s.launchStep(ctx, ports); err != nil {
			return err
		}
	}
	return s.step(StepConfig, func() (string, error) {
		names := envoy.ListenerNames(s.plan)
		err := envoy.WaitReady(ctx, s.proxy.Admin(), names)
		return fmt.Sprintf("%d listeners", len(names)), err
	})
}

// push sends Envoy the session's current plan and certificate together. Every xDS update goes
// through here, inside an operation, so the newest plan and the newest certificate always
// travel together and a later push can never be overtaken by an earlier one.
func (s *Session) push() error {
	return s.xds.Update(s.served(s.plan), credentials(s.bundle, s.meshCfg.RootsPEM))
}

func credentials(b *certs.Bundle, roots []byte) envoy.Credentials {
	return envoy.Credentials{CertChainPEM: b.CertChainPEM(), KeyPEM: b.KeyPEM(), RootsPEM: roots}
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
		published := s.published // set before Envoy starts, so before start is closed
		select {
		case <-s.xds.Contacted():
		case <-ctx.Done():
		case <-time.After(configContactTimeout):
			where := "127.0.0.1"
			if published {
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

// served is the plan as Envoy gets it.
func (s *Session) served(plan envoy.Plan) envoy.Plan {
	if !s.published {
		return plan
	}
	return envoy.Publish(plan)
}

// startForwarder, in NetworkPublished mode, starts the forwarder from the services' loopback
// addresses to the port Docker publishes for Envoy's listener, and returns that port (nothing
// on the host network; proxy mode's own port, and no forwarder, in proxy mode). Like the admin
// port, it stays for the session: a restarted Envoy publishes it again, and the forwarder
// never needs telling.
func (s *Session) startForwarder() ([]envoy.PublishedPort, error) {
	if !s.published {
		return nil, nil
	}
	if p := s.plan.Proxy; p != nil {
		// Proxy mode's one listener routes by name: Docker publishes it, and nothing else.
		return []envoy.PublishedPort{envoy.PublishedProxy(*p)}, nil
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	entry := envoy.PublishedEntry(uint16(port))
	s.fwd = envoy.NewForwarder(netip.AddrPortFrom(entry.HostIP, uint16(port)))
	s.fwd.SetPrivilegedListen(helperListen(s.id))
	return []envoy.PublishedPort{entry}, s.fwd.Set(s.plan)
}

// forward makes the forwarder (NetworkPublished mode) listen on s.plan's addresses.
func (s *Session) forward() error {
	if s.fwd == nil {
		return nil
	}
	return s.fwd.Set(s.plan)
}

// launch starts an Envoy from the session's bootstrap, publishing ports, records it, and
// watches it (see watch). started, when not nil, is called once the Envoy process runs.
func (s *Session) launch(ctx context.Context, ports []envoy.PublishedPort, started func()) error {
	s.xds.Rearm() // the ADS server serves this Envoy, and no other (see envoy.Server)
	if s.cfg.Runtime == RuntimeNative {
		// A crashed run's admin socket is removed first: a unix socket cannot be bound twice.
		if err := removeIfExists(nativeAdminSocket(s.cfg.StateDir)); err != nil {
			return err
		}
	}
	// The state file names the runtime before the engine creates anything: a kill -9 from
	// here on is cleaned up by `leave` or the next join (which wait for a creation in flight).
	s.save()
	p, err := s.rt.Start(ctx, envoy.ProxySpec{SessionID: s.id, Bootstrap: s.bootstrap, AdminPort: s.adminPort, AdminToken: s.adminToken,
		Image: s.cfg.EnvoyImage, Logs: s.cfg.EnvoyLogs, Published: ports, Started: started})
	if err != nil {
		return err
	}
	s.proxy, s.publishedPorts = p, ports
	s.mu.Lock()
	s.state.AdminAddr, s.state.AdminToken = p.Admin().Addr, p.Admin().Token
	if s.cfg.Runtime == RuntimeDocker {
		s.state.ContainerID = p.ID()
	} else if pp, ok := p.(interface{ PID() int }); ok {
		s.state.EnvoyPID = pp.PID()
	}
	s.mu.Unlock()
	s.save()
	s.watch(p)
	return nil
}

// restore brings Envoy, the forwarder and the hosts block back to s.plan and the state's
// services (already the previous ones) after a failed change.
func (s *Session) restore(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.forward(); err != nil {
		return err
	}
	if err := s.push(); err != nil {
		return err
	}
	select {
	case <-s.proxy.Done():
		// An Envoy that exited is its watcher's to restart, after this operation.
	default:
		if err := envoy.WaitReady(ctx, s.proxy.Admin(), envoy.ListenerNames(s.plan)); err != nil {
			return err
		}
	}
	return s.writeHosts()
}

func (s *Session) runtime(ctx context.Context) (envoy.Runtime, error) {
	if s.cfg.Runtime == RuntimeNative {
		return envoy.NewNativeRuntime(s.cfg.EnvoyPath), nil
	}
	return envoy.NewDockerRuntime(ctx, envoy.DockerOptions{PullOutput: s.cfg.PullOutput, Network: envoy.NetworkMode(s.cfg.EnvoyNetwork)})
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

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
