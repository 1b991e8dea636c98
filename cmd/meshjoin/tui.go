package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/session"
	"github.com/meshjoin/meshjoin/tui"
)

func newTUICmd(g *globals) *cobra.Command {
	o := &joinOptions{}
	cmd := &cobra.Command{
		Use:   "tui",
		Short: "Pick services, join them and watch them, interactively (also: meshjoin with no arguments)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return tuiRun(cmd, g, o) },
	}
	addSessionFlags(cmd.Flags(), o, "service account to act as, <namespace>/<name> ($MESHJOIN_IDENTITY); empty: choose in the TUI")
	return cmd
}

// openTUIWithoutArgs makes `meshjoin` alone on a terminal open the TUI (with the flags of
// `meshjoin tui`); elsewhere it prints the help.
func openTUIWithoutArgs(root *cobra.Command, g *globals) {
	o := &joinOptions{}
	addSessionFlags(root.Flags(), o, "service account to act as, <namespace>/<name> ($MESHJOIN_IDENTITY); empty: choose in the TUI")
	root.Args = cobra.NoArgs
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if !g.streams.IsTTY {
			return cmd.Help()
		}
		return tuiRun(cmd, g, o)
	}
}

// addSessionFlags registers the flags of a session (identity, gateway, image, hosts file ...),
// shared by join and the TUI; the project file (--config, --profile) fills those not given.
func addSessionFlags(f *pflag.FlagSet, o *joinOptions, identityHelp string) {
	f.StringVar(&o.identity, "identity", os.Getenv("MESHJOIN_IDENTITY"), identityHelp)
	f.StringVar(&o.gateway, "gateway", "", "east-west gateway host:port (default: discovered)")
	f.StringVar(&o.caAddress, "ca-address", "", fmt.Sprintf("mesh CA host:port (default: the gateway's %d)", session.DefaultCAPort))
	f.StringVar(&o.caServerName, "ca-server-name", "", fmt.Sprintf("TLS server name of the mesh CA (default %s, or istiod-<revision>...)", session.DefaultCAServerName("")))
	f.StringVar(&o.clusterID, "cluster-id", "", "cluster name sent to the CA (default Kubernetes)")
	f.StringVar(&o.revision, "revision", "", "istiod revision whose settings to use")
	f.StringVar(&o.meshFile, "mesh-file", "", "join from this static mesh file, without reading the cluster (docs/mesh-file.md)")
	f.DurationVar(&o.certTTL, "cert-ttl", session.DefaultCertTTL, fmt.Sprintf("lifetime of the workload certificate, at least %s; renewed at half-life", session.MinCertTTL))
	f.StringVar(&o.hostsFile, "hosts-file", "", "hosts file to write (default the system's)")
	f.StringVar(&o.addressRange, "address-range", session.DefaultAddressRange.String(), "loopback range for the services' addresses")
	f.BoolVar(&o.bareNames, "bare-names", false, "also map the bare service name (e.g. ratings) when unambiguous")
	StringEnumFlag(f, &o.runtime, "runtime", "", session.DefaultRuntime, runtimeValues, "how to run Envoy")
	StringEnumFlag(f, &o.mode, "mode", "", session.DefaultMode, modeValues, "hosts: a loopback address per service, names in the hosts file; proxy: an HTTP proxy on 127.0.0.1 (no hosts file, no root; clients use HTTP_PROXY)")
	f.IntVar(&o.proxyPort, "proxy-port", session.DefaultProxyPort, "proxy mode: the HTTP proxy's port on 127.0.0.1")
	StringEnumFlag(f, &o.envoyNetwork, "envoy-network", "", session.DefaultEnvoyNetwork, envoyNetworkValues, "how the Envoy container reaches this machine (host: Linux engines, published: Docker Desktop)")
	f.StringVar(&o.envoyImage, "envoy-image", session.DefaultEnvoyImage, "Envoy image (docker runtime)")
	f.StringVar(&o.envoyPath, "envoy-path", session.DefaultEnvoyPath, "Envoy binary (native runtime)")
	StringEnumFlag(f, &o.sudo, "sudo", "", "auto", sudoValues, "write the hosts file through sudo")
	f.StringArrayVar(&o.grpcJSON, "grpc-json", nil, fmt.Sprintf("SERVICE[:PORT]=DESCRIPTOR_SET: also take JSON for the service's gRPC port, on its port + %d (repeatable; docs/how-it-works.md)", envoy.GRPCJSONPortOffset))
	addProjectFlags(f, o)
}

func tuiRun(cmd *cobra.Command, g *globals, o *joinOptions) error {
	ctx := cmd.Context()
	if !g.streams.IsTTY {
		return &session.UsageError{Msg: "the TUI needs a terminal", Hint: "run `meshjoin join SERVICE...` in scripts"}
	}
	if c, st, ok := backgroundForTUI(ctx, g.stateDir); ok {
		return tuiAttach(ctx, g, c, st)
	}
	keepRunningOnBrokenPipe()
	// Logs go to a file while the TUI owns the screen, and to the log pane.
	logPath := g.logFile
	if logPath == "" {
		if err := os.MkdirAll(g.stateDir, 0o700); err != nil {
			return fmt.Errorf("create state directory: %w", err)
		}
		logPath = filepath.Join(g.stateDir, "tui.log")
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open the log file: %w", err)
	}
	defer lf.Close()
	ring := tui.NewLogRing(200)
	logW := io.MultiWriter(lf, ring)
	log := slog.New(slog.NewTextHandler(logW, &slog.HandlerOptions{Level: slog.LevelInfo}))
	klog.SetOutput(logW)
	klog.LogToStderr(false)
	defer klog.SetOutput(g.streams.Err)

	// The session flags as join reads them (a mesh file too); the TUI asks for the rest.
	cfg, err := o.sessionConfig(g, nil)
	if err != nil {
		return err
	}
	identity := o.identity
	if f := cfg.MeshFile; identity == "" && f != nil && f.Certificate != nil {
		identity = f.Certificate.Identity
	}
	elevate := o.elevateHosts()
	if elevate && !session.HelperServes(o.hostsFile) {
		// sudo cannot ask for a password once the TUI owns the screen: ask now.
		fmt.Fprintln(g.streams.Err, "meshjoin writes the hosts file through sudo:")
		c := exec.CommandContext(ctx, "sudo", "-v")
		c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := c.Run(); err != nil {
			return &session.UsageError{Msg: "sudo -v failed: " + err.Error(), Hint: "run as a user who may sudo, or give --hosts-file with --sudo never"}
		}
	}
	cfg.Identity, cfg.ElevateHosts, cfg.EnvoyLogs, cfg.PullOutput, cfg.Log = "", elevate, lf, logW, log
	backend := tui.NewSessionBackend(cfg)
	var toBackground []string
	err = tui.Run(ctx, tui.Options{
		Backend:     backend,
		KubeContext: cfg.Context,
		Identity:    identity,
		Hint:        func(err error) string { _, h := classify(err); return h },
		Logs:        ring.Lines,
		Color:       true,
		OnBackground: func(services []string) {
			toBackground = services
			if id := backend.CurrentIdentity(); id != "" {
				o.identity = id
			}
		},
	})
	if err == nil {
		fmt.Fprintf(g.streams.Err, "Left the mesh; hosts file and Envoy cleaned up. Logs: %s\n", logPath)
	}
	if err != nil || len(toBackground) == 0 {
		return err
	}
	return continueInBackground(cmd, g, o, toBackground)
}
