package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

func newServicesCmd(g *globals) *cobra.Command {
	var output, revision, meshFile string
	var all bool
	cmd := &cobra.Command{
		Use:   "services",
		Short: "List the mesh services that can be joined",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			services, err := listServices(cmd, g, revision, meshFile)
			if err != nil {
				return err
			}
			var list []mesh.Service
			for _, s := range services {
				if all || s.Reachable {
					list = append(list, s)
				}
			}
			if output != "table" {
				return printStructured(g.streams.Out, output, list)
			}
			tw := tabwriter.NewWriter(g.streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVICE\tKIND\tPORTS\tENDPOINTS\tJOINABLE")
			for _, s := range list {
				var ports []string
				for _, p := range s.Ports {
					ports = append(ports, mesh.PortLabel(p.Number, string(p.Protocol)))
				}
				joinable := "yes"
				if !s.Reachable {
					joinable = "no: " + s.Reason
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.Key(), s.Kind, strings.Join(ports, ","), s.Endpoints, joinable)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			// Hosts a service declares but does not get: the user must hear which name goes where.
			for _, s := range list {
				for _, c := range s.Conflicts {
					fmt.Fprintf(g.streams.Out, "%s: %s\n", s.Key(), c)
				}
			}
			return nil
		},
	}
	StringEnumFlag(cmd.Flags(), &output, "output", "o", "table", outputValues, "output format")
	cmd.Flags().BoolVarP(&all, "all", "A", false, "also list services the gateway cannot reach, with the reason")
	cmd.Flags().StringVar(&revision, "revision", "", "istiod revision whose settings to use")
	cmd.Flags().StringVar(&meshFile, "mesh-file", "", "list the services of this static mesh file instead of the cluster's (docs/mesh-file.md)")
	return cmd
}

// listServices is the catalogue of the cluster, or of a static mesh file when one is given
// (then the cluster is not read at all).
func listServices(cmd *cobra.Command, g *globals, revision, meshFile string) ([]mesh.Service, error) {
	if meshFile != "" {
		f, err := mesh.LoadStaticFile(meshFile)
		if err != nil {
			return nil, &session.UsageError{Msg: err.Error(), Hint: meshFileHint}
		}
		return mesh.NewStaticCatalog(f).Services(), nil
	}
	k, err := g.connect()
	if err != nil {
		return nil, err
	}
	ctx := cmd.Context()
	cfg, err := mesh.LoadConfig(ctx, k.client, mesh.ConfigOptions{Revision: revision})
	if err != nil {
		return nil, err
	}
	cat := mesh.NewCatalog(k.client, k.dynamic, cfg, mesh.CatalogOptions{})
	if err := cat.Start(ctx); err != nil {
		return nil, err
	}
	for _, w := range append(cfg.Warnings, cat.Warnings()...) {
		g.log.Warn(w)
	}
	return cat.Services(), nil
}

func printStructured(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	default:
		return fmt.Errorf("unknown output format %q: use table, json or yaml", format)
	}
}
