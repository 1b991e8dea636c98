package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/session"
)

func newStatusCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what is joined now, with traffic and problems per service",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := session.ReadStatus(cmd.Context(), g.stateDir)
			if err != nil {
				return err
			}
			if output != "table" {
				return printStructured(g.streams.Out, output, st)
			}
			return printStatus(g.streams, st)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, json or yaml")
	return cmd
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
	if state.LastError != "" {
		fmt.Fprintf(s.Out, "Last renewal error: %s\n", state.LastError)
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tADDRESS\tPORTS\tREQUESTS\tERRORS\tPROBLEM")
	for _, ss := range st.Services {
		var ports []string
		for _, p := range ss.Ports {
			ports = append(ports, fmt.Sprintf("%d/%s", p.Number, p.Protocol))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", ss.Key, ss.Addr, strings.Join(ports, ","), ss.Requests, ss.Errors, ss.Problem)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, ss := range st.Services {
		for _, u := range ss.Unmapped {
			fmt.Fprintf(s.Out, "%s: %s\n", ss.Key, u)
		}
	}
	return nil
}
