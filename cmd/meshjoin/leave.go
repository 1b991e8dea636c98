package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/session"
)

func newLeaveCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "leave",
		Short: "End the running session, or clean up after one that crashed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, err := session.Leave(ctx, g.stateDir, needsSudo(""), g.log)
			if err != nil {
				return err
			}
			switch {
			case res.Stopped != nil:
				fmt.Fprintf(g.streams.Out, "Stopped session %s (pid %d).\n", res.Stopped.ID, res.Stopped.PID)
			case res.Cleaned != nil:
				fmt.Fprintf(g.streams.Out, "Cleaned up session %s, whose process had died.\n", res.Cleaned.ID)
			default:
				fmt.Fprintln(g.streams.Out, "No meshjoin session to leave.")
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the session to stop")
	return cmd
}
