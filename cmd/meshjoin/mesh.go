package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

// The static mesh file: `meshjoin mesh export` writes one from a cluster the user can read;
// --mesh-file joins from one without reading the cluster (docs/mesh-file.md).

// meshFileHint is the next step for a mesh file that cannot be used.
const meshFileHint = "fix the mesh file (the fields: docs/mesh-file.md; its schema: docs/meshfile.schema.json), or export a new one with `meshjoin mesh export`"

// meshFileConfig is the session of a mesh file: no cluster connection, except for tokens when
// the file names no other source of the workload certificate.
func (o *joinOptions) meshFileConfig(g *globals, services []string, transcode []session.GRPCJSON, prefix netip.Prefix) (session.Config, error) {
	f, err := mesh.LoadStaticFile(o.meshFile)
	if err != nil {
		return session.Config{}, &session.UsageError{Msg: err.Error(), Hint: meshFileHint}
	}
	cfg := session.Config{MeshFile: f, Context: "mesh file " + o.meshFile, Services: qualify(services, g.namespace),
		GRPCJSON: qualifyTranscodings(transcode, g.namespace)}
	if wc := f.Certificate; wc == nil || (wc.CertFile == "" && wc.TokenFile == "" && wc.TokenCommand == nil) {
		k, err := g.connect() // tokens only
		if err != nil {
			return session.Config{}, err
		}
		cfg.Client = k.client
	}
	return o.withSessionFlags(g, cfg, prefix), nil
}

func newMeshCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mesh",
		Short: "Work with static mesh files (join without Kubernetes API access)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newMeshExportCmd(g))
	return cmd
}

func newMeshExportCmd(g *globals) *cobra.Command {
	var output, revision string
	cmd := &cobra.Command{
		Use:   "export [SERVICE...]",
		Short: "Write a static mesh file from the cluster, for someone who cannot read it",
		Long: "Writes the mesh settings (trust domain, root certificates), the east-west gateway and the mesh CA's address, " +
			"and the services named (default: every joinable one) with their hosts, ports and identities, " +
			"as a mesh file that `meshjoin join --mesh-file FILE` uses without reading the cluster. " +
			"It holds no token and no key: its reader adds where their workload certificate comes from (docs/mesh-file.md).",
		Example: `  meshjoin mesh export ratings.bookinfo reviews.bookinfo -o bookinfo.mesh.yaml
  meshjoin join --mesh-file bookinfo.mesh.yaml ratings.bookinfo`,
		RunE: func(cmd *cobra.Command, args []string) error {
			data, n, err := exportMesh(cmd.Context(), g, revision, args)
			if err != nil {
				return err
			}
			if output == "" || output == "-" {
				_, err = g.streams.Out.Write(data)
				return err
			}
			// No secret in it: readable like any configuration file.
			if err := os.WriteFile(output, data, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", output, err)
			}
			fmt.Fprintf(g.streams.Err, "Wrote %s with %d services.\nNext: add workloadCertificate (certFile+keyFile, tokenFile or tokenCommand) for its reader, then meshjoin join --mesh-file %s SERVICE...\n", output, n, output)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	cmd.Flags().StringVar(&revision, "revision", "", "istiod revision whose settings to use")
	return cmd
}

// exportMesh reads the mesh as join discovers it and returns it as a mesh file.
func exportMesh(ctx context.Context, g *globals, revision string, names []string) ([]byte, int, error) {
	k, err := g.connect()
	if err != nil {
		return nil, 0, err
	}
	cfg, err := mesh.LoadConfig(ctx, k.client, mesh.ConfigOptions{Revision: revision})
	if err != nil {
		return nil, 0, err
	}
	gw, err := mesh.FindGateway(ctx, k.client, cfg.Network)
	if err != nil {
		return nil, 0, err
	}
	// The CA as join finds it: istiod on the gateway, else the injector's caAddress, else the
	// gateway's default CA port.
	ca := cfg.CAAddress
	if gw.CAPort != 0 {
		ca = net.JoinHostPort(gw.Host, strconv.Itoa(int(gw.CAPort)))
	}
	if ca == "" {
		ca = net.JoinHostPort(gw.Host, strconv.Itoa(session.DefaultCAPort))
	}
	serverName := ""
	if revision != "" && revision != "default" {
		serverName = session.DefaultCAServerName(revision)
	}
	cat := mesh.NewCatalog(k.client, k.dynamic, cfg, mesh.CatalogOptions{SyncTimeout: 30 * time.Second})
	catCtx, stop := context.WithCancel(ctx)
	defer stop()
	if err := cat.Start(catCtx); err != nil {
		return nil, 0, err
	}
	for _, w := range append(cfg.Warnings, cat.Warnings()...) {
		g.log.Warn(w)
	}
	var svcs []mesh.Service
	if len(names) == 0 {
		for _, s := range cat.Services() {
			if s.Reachable {
				svcs = append(svcs, s)
			}
		}
	}
	for _, name := range qualify(names, k.namespace) {
		s, err := cat.Lookup(name)
		if err != nil {
			return nil, 0, err
		}
		svcs = append(svcs, s)
	}
	if len(svcs) == 0 {
		return nil, 0, &session.UsageError{Msg: "no joinable service in the cluster", Hint: "`meshjoin services --all` says why each one is not"}
	}
	f, err := mesh.StaticFileFrom(mesh.StaticExport{Config: cfg, Gateway: gw, CAAddress: ca, CAServerName: serverName, Services: svcs})
	if err != nil {
		return nil, 0, &session.UsageError{Msg: err.Error(), Hint: "export only joinable services; `meshjoin services` lists them"}
	}
	body, err := mesh.MarshalStaticFile(f)
	if err != nil {
		return nil, 0, err
	}
	header := "# yaml-language-server: $schema=" + mesh.StaticFileSchemaURL + "\n" +
		"# meshjoin mesh file, exported from kube context " + strconv.Quote(k.contextName) + " at " + time.Now().UTC().Format(time.RFC3339) + ".\n" +
		"# Add where your workload certificate comes from (docs/mesh-file.md), e.g.\n" +
		"#   workloadCertificate: {identity: dev/alice, tokenCommand: {command: get-mesh-token}}\n"
	return append([]byte(header), body...), len(svcs), nil
}
