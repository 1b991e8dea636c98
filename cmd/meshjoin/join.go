package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/project"
	"github.com/meshjoin/meshjoin/session"
)

type joinOptions struct {
	identity, gateway, caAddress, caServerName, clusterID, revision string
	meshFile                                                        string // a static mesh file instead of the cluster (meshfile.go)
	certTTL                                                         time.Duration
	hostsFile, addressRange                                         string
	bareNames                                                       bool
	runtime, envoyNetwork, envoyImage, envoyPath                    string
	mode                                                            string // hosts or proxy
	proxyPort                                                       int
	sudo                                                            string
	config, profile                                                 string           // the project file and its profile (projectfile.go)
	project                                                         project.Resolved // what the project file said, applied under the flags
	dryRun                                                          bool             // print the plan, change nothing (dryrun.go)
	grpcJSON                                                        []string         // --grpc-json SERVICE[:PORT]=DESCRIPTOR_SET
}

func newJoinCmd(g *globals) *cobra.Command {
	o := &joinOptions{}
	cmd := &cobra.Command{
		Use:   "join [SERVICE...]",
		Short: "Make mesh services answer on this machine by name, until Ctrl-C",
		Example: `  meshjoin join ratings.bookinfo productpage.bookinfo --identity dev/alice
  curl http://ratings.bookinfo:9080/ratings/0
  meshjoin join --profile web   # the services and identity of meshjoin.yaml's profile web`,
		RunE: func(cmd *cobra.Command, args []string) error { return joinRun(cmd.Context(), g, o, args) },
	}
	addSessionFlags(cmd.Flags(), o, "service account to act as, <namespace>/<name> ($MESHJOIN_IDENTITY)")
	addDryRunFlag(cmd.Flags(), o)
	return cmd
}

func joinRun(ctx context.Context, g *globals, o *joinOptions, args []string) error {
	services, err := o.servicesOrFile(args)
	if err != nil {
		return err
	}
	if o.identity == "" && o.meshFile == "" { // a mesh file may name the identity
		return &session.UsageError{Msg: "no identity given", Hint: "pass --identity <namespace>/<serviceaccount> (or set MESHJOIN_IDENTITY)"}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	keepRunningOnBrokenPipe()
	errOut := g.streams.Err
	cfg, err := o.sessionConfig(g, services)
	if err != nil {
		return err
	}
	if o.dryRun {
		return printDryRun(ctx, g.streams, cfg)
	}
	cfg.PullOutput = errOut
	cfg.Progress = func(e session.Event) {
		if e.Done && e.Err == nil {
			fmt.Fprintf(errOut, "  ✓ %-12s %6s  %s\n", e.Step, e.Duration.Round(time.Millisecond), e.Detail)
		}
	}
	start := time.Now()
	s, err := session.Join(ctx, cfg)
	if err != nil {
		return err
	}
	printJoined(g.streams, s.Services(), time.Since(start))
	select {
	case <-ctx.Done():
	case <-s.ProxyDone():
		fmt.Fprintln(errOut, "The local Envoy is gone and could not be restarted; leaving.", s.State().EnvoyProblem)
	}
	fmt.Fprintln(errOut, "Leaving ...")
	leaveCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Leave(leaveCtx); err != nil {
		return fmt.Errorf("leave: %w (run `meshjoin leave` to finish cleaning up)", err)
	}
	fmt.Fprintln(errOut, "Left the mesh; hosts file and Envoy cleaned up.")
	return nil
}

// sessionConfig is the session these options describe (join's, and the background
// session's of up and run), connected to the cluster.
func (o *joinOptions) sessionConfig(g *globals, services []string) (session.Config, error) {
	prefix, err := o.prefix()
	if err != nil {
		return session.Config{}, err
	}
	transcode, err := o.transcodings()
	if err != nil {
		return session.Config{}, err
	}
	if o.meshFile != "" {
		return o.meshFileConfig(g, services, transcode, prefix)
	}
	k, err := g.connect()
	if err != nil {
		return session.Config{}, err
	}
	return o.withSessionFlags(g, session.Config{
		Client: k.client, Dynamic: k.dynamic, Context: k.contextName, Services: qualify(services, k.namespace),
		GRPCJSON: qualifyTranscodings(transcode, k.namespace),
	}, prefix), nil
}

// qualifyTranscodings adds the -n namespace to the bare service names of --grpc-json.
func qualifyTranscodings(transcode []session.GRPCJSON, ns string) []session.GRPCJSON {
	for i := range transcode {
		transcode[i].Service = qualify([]string{transcode[i].Service}, ns)[0]
	}
	return transcode
}

// withSessionFlags is cfg (connection, services, mesh file, transcodings) with what the
// session flags say.
func (o *joinOptions) withSessionFlags(g *globals, cfg session.Config, prefix netip.Prefix) session.Config {
	more := session.Config{
		Identity: o.identity, Revision: o.revision,
		GatewayOverride: o.gateway, CAAddress: o.caAddress, CAServerName: o.caServerName, ClusterID: o.clusterID,
		CertTTL: o.certTTL, HostsFile: o.hostsFile, AddressRange: prefix, BareNames: o.bareNames,
		ElevateHosts: o.elevateHosts(),
		Mode:         o.mode, ProxyPort: o.proxyPort,
		Runtime: o.runtime, EnvoyNetwork: o.envoyNetwork, EnvoyImage: o.envoyImage, EnvoyPath: o.envoyPath,
		StateDir: g.stateDir, Log: g.log,
	}
	more.Client, more.Dynamic, more.Context, more.Services, more.MeshFile, more.GRPCJSON = cfg.Client, cfg.Dynamic, cfg.Context, cfg.Services, cfg.MeshFile, cfg.GRPCJSON
	return more
}

// elevateHosts is whether the hosts file is written through sudo: never in proxy mode, which
// leaves it alone.
func (o *joinOptions) elevateHosts() bool {
	if o.mode == session.ModeProxy {
		return false
	}
	return o.sudo == "always" || (o.sudo == "auto" && needsSudo(o.hostsFile))
}

// transcodings parses --grpc-json; a relative descriptor set path is made absolute, as the
// background session may run in another directory.
func (o *joinOptions) transcodings() ([]session.GRPCJSON, error) {
	var out []session.GRPCJSON
	for _, v := range o.grpcJSON {
		g, err := session.ParseGRPCJSON(v)
		if err != nil {
			return nil, err
		}
		if abs, err := filepath.Abs(g.DescriptorSet); err == nil {
			g.DescriptorSet = abs
		}
		out = append(out, g)
	}
	return out, nil
}

// prefix parses --address-range.
func (o *joinOptions) prefix() (netip.Prefix, error) {
	p, err := netip.ParsePrefix(o.addressRange)
	if err != nil {
		return p, &session.UsageError{Msg: fmt.Sprintf("--address-range %q: %v", o.addressRange, err), Hint: "give a CIDR inside 127.0.0.0/8, e.g. " + session.DefaultAddressRange.String()}
	}
	return p, nil
}

// needsSudo reports whether this user cannot write the hosts file itself.
func needsSudo(path string) bool {
	if path == "" {
		path = hosts.SystemPath()
	}
	return !isElevated() && !mayWrite(path)
}

// qualify adds the -n namespace to bare names ("ratings" → "ratings.<ns>").
func qualify(names []string, ns string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !strings.Contains(n, ".") && ns != "" && ns != "default" {
			n += "." + ns
		}
		out = append(out, n)
	}
	return out
}

func printJoined(st Streams, svcs []session.JoinedService, took time.Duration) {
	fmt.Fprintf(st.Err, "Joined %d services in %s. Ctrl-C leaves.\n", len(svcs), took.Round(time.Millisecond))
	tw := tabwriter.NewWriter(st.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tADDRESS\tPORTS\tTRY")
	for _, js := range svcs {
		var ports []string
		for _, p := range js.Ports {
			ports = append(ports, mesh.PortLabel(p.Number, p.Protocol))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", js.Key, js.Where(), strings.Join(ports, ","), js.TryCommand())
	}
	tw.Flush()
	printGRPCJSON(st.Out, svcs)
}

// printGRPCJSON says where each gRPC-JSON listener answers.
func printGRPCJSON(w io.Writer, svcs []session.JoinedService) {
	for _, js := range svcs {
		for _, l := range js.GRPCJSON {
			fmt.Fprintf(w, "%s: JSON at %s (gRPC port %d; %s)\n", js.Key, js.GRPCJSONURL(l), l.GRPCPort, strings.Join(l.Services, ", "))
		}
	}
}

// keepRunningOnBrokenPipe makes a write to a closed stdout or stderr an error instead of the
// end of the process. `meshjoin join ... | tee log`, then Ctrl-C: the terminal's SIGINT ends tee
// as well, and Go would otherwise die of SIGPIPE at the first line written while leaving,
// before the container and the hosts block are gone.
func keepRunningOnBrokenPipe() { signal.Ignore(syscall.SIGPIPE) }
