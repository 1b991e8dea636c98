package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/session"
)

// serveOptions are the background session's own flags, which up and run pass on.
type serveOptions struct {
	keep bool
	idle time.Duration
}

// newServeCmd is the hidden command up and run start in a process of its own: the session,
// served on the control socket until down, the last run, the idle timeout or a signal.
func newServeCmd(g *globals) *cobra.Command {
	o := &joinOptions{}
	so := &serveOptions{}
	cmd := &cobra.Command{
		Use:    "serve SERVICE...",
		Short:  "Run a session in the background, controlled through its socket (started by up and run)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE:   func(cmd *cobra.Command, args []string) error { return serveRun(cmd.Context(), g, o, so, args) },
	}
	addSessionFlags(cmd.Flags(), o, "service account to act as, <namespace>/<name> ($MESHJOIN_IDENTITY)")
	addProfileFlag(cmd.Flags())
	cmd.Flags().BoolVar(&so.keep, "keep", false, "only down ends the session (started by up), not the last run")
	addIdleFlag(cmd.Flags(), &so.idle)
	return cmd
}

func serveRun(ctx context.Context, g *globals, o *joinOptions, so *serveOptions, services []string) error {
	// No terminal: nothing should end it but the control socket, SIGTERM (leave) and SIGINT.
	signal.Ignore(syscall.SIGHUP)
	keepRunningOnBrokenPipe()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := daemon.Listen(g.stateDir)
	if err != nil {
		return err
	}
	defer l.Close()
	d := daemon.New(daemon.Options{
		StateDir: g.stateDir, Keep: so.keep, IdleTimeout: so.idle, Classify: classify, Log: g.log,
		Status:  func(ctx context.Context) (session.Status, error) { return session.ReadStatus(ctx, g.stateDir) },
		Traffic: func(ctx context.Context) (uint64, bool) { return envoyTraffic(ctx, g.stateDir) },
	})
	served := make(chan error, 1)
	go func() { served <- d.Serve(l) }()
	err = d.Run(ctx, func(ctx context.Context) (daemon.Session, error) {
		if o.identity == "" && o.meshFile == "" { // a mesh file may name the identity
			return nil, errNoIdentity
		}
		cfg, err := o.sessionConfig(g, services)
		if err != nil {
			return nil, err
		}
		cfg.Progress, cfg.PullOutput = d.Progress, g.streams.Err
		s, err := session.Join(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return daemon.Adapt(s), nil
	})
	<-served
	return err
}

// envoyTraffic sums the requests and connections of every joined service so far, and says
// whether one is open.
func envoyTraffic(ctx context.Context, stateDir string) (total uint64, open bool) {
	st, err := session.ReadStatus(ctx, stateDir)
	if err != nil {
		return 0, false
	}
	for _, s := range st.Services {
		total += s.Requests + s.Errors
		open = open || s.ActiveConns > 0
	}
	return total, open
}
