package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

func newStatusCmd(g *globals) *cobra.Command {
	var output string
	var exitCode bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what is joined now, with traffic and problems per service",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, bg, err := readStatus(cmd.Context(), g.stateDir)
			if err != nil {
				return err
			}
			if output != "table" {
				var v any = st
				if bg != nil {
					v = bg
				}
				err = printStructured(g.streams.Out, output, v)
			} else {
				err = printStatus(g.streams, st)
				if err == nil && bg != nil {
					printDaemon(g.streams, bg.Daemon)
				}
			}
			if err == nil && exitCode && !ready(st, bg) {
				return exitStatus(exitFailure)
			}
			return err
		},
	}
	StringEnumFlag(cmd.Flags(), &output, "output", "o", "table", outputValues, "output format")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 0 only when a session is ready (joined and serving), 1 otherwise")
	return cmd
}

// readStatus asks the background session when one answers (bg not nil), else reads the
// state file as before.
func readStatus(ctx context.Context, stateDir string) (session.Status, *daemon.Status, error) {
	c := daemon.NewClient(stateDir)
	defer c.Close()
	bg, err := c.Status(ctx)
	if err == nil {
		return bg.Status, &bg, nil
	}
	if !errors.Is(err, daemon.ErrNotRunning) {
		return session.Status{}, nil, err
	}
	st, err := session.ReadStatus(ctx, stateDir)
	return st, nil, err
}

func ready(st session.Status, bg *daemon.Status) bool {
	if bg != nil {
		return bg.Ready()
	}
	return st.Running && st.State != nil && st.State.Phase == session.PhaseJoined
}

func printDaemon(s Streams, d daemon.Info) {
	fmt.Fprintf(s.Out, "\nIn the background (pid %d, log %s): %s", d.PID, d.Log, d.Phase)
	if d.Step != "" {
		fmt.Fprintf(s.Out, " (%s)", d.Step)
	}
	fmt.Fprintf(s.Out, "; %d runs, %d clients", d.Runs, d.Clients)
	if !d.Kept {
		fmt.Fprint(s.Out, "; ends with the last run")
	}
	if !d.EndsAt.IsZero() {
		fmt.Fprintf(s.Out, "; ends at %s unless up or run comes first", d.EndsAt.Format(time.TimeOnly))
	}
	if d.IdleTimeout > 0 {
		fmt.Fprintf(s.Out, "; ends after %s idle", d.IdleTimeout)
	}
	fmt.Fprintln(s.Out)
	if d.Error != nil {
		fmt.Fprintf(s.Out, "Error: %s\n", d.Error.Message)
		if d.Error.Hint != "" {
			fmt.Fprintf(s.Out, "Next: %s\n", d.Error.Hint)
		}
	}
}

func printStatus(s Streams, st session.Status) error {
	if st.State == nil {
		fmt.Fprintln(s.Out, "Not joined.")
		return nil
	}
	state := st.State
	if !st.Running {
		fmt.Fprintf(s.Out, "Session %s is not running (its process died); `meshjoin leave` cleans up.\n", state.ID)
		return nil
	}
	fmt.Fprintf(s.Out, "Session %s, pid %d, %s since %s\n", state.ID, state.PID, state.Phase, state.Started.Format(time.DateTime))
	fmt.Fprintf(s.Out, "Identity %s, certificate valid until %s (%d renewals)\n", state.Identity, state.CertNotAfter.Format(time.TimeOnly), state.Renewals)
	envoyHow := state.Runtime
	if state.Network != "" {
		envoyHow += ", " + state.Network + " network"
	}
	fmt.Fprintf(s.Out, "Gateway %s, Envoy %s\n", state.Gateway, envoyHow)
	if state.ProxyAddr != "" {
		fmt.Fprintf(s.Out, "Proxy mode: HTTP forward proxy at http://%s (no hosts file; `meshjoin env` exports HTTP_PROXY)\n", state.ProxyAddr)
	}
	if state.EnvoyProblem != "" {
		fmt.Fprintf(s.Out, "Envoy down: %s\n", state.EnvoyProblem)
	}
	if state.CatalogueStale != nil {
		fmt.Fprintf(s.Out, "Problem: %s\n", state.CatalogueStale.Summary())
	}
	switch {
	case state.RenewalTrouble != nil:
		fmt.Fprintf(s.Out, "Problem: %s\n", state.RenewalTrouble.Summary(time.Now()))
	case state.LastError != "":
		fmt.Fprintf(s.Out, "Last renewal error: %s\n", state.LastError)
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tADDRESS\tPORTS\tREQUESTS\tERRORS\tPROBLEM")
	for _, ss := range st.Services {
		var ports []string
		for _, p := range ss.Ports {
			ports = append(ports, mesh.PortLabel(p.Number, p.Protocol))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", ss.Key, ss.Where(), strings.Join(ports, ","), ss.Requests, ss.Errors, ss.Problem)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, ss := range st.Services {
		for _, u := range ss.Unmapped {
			fmt.Fprintf(s.Out, "%s: %s\n", ss.Key, u)
		}
		printGRPCJSON(s.Out, []session.JoinedService{ss.JoinedService})
	}
	return nil
}
