package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/session"
)

func newDownCmd(g *globals) *cobra.Command {
	var grace, timeout time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "End the background session (with --grace: unless an up or run comes within it)",
		Example: `  meshjoin down
  meshjoin down --grace 20s   # an IDE's restart (down, then up) keeps the session`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			c := daemon.NewClient(g.stateDir)
			defer c.Close()
			reply, err := c.Down(ctx, grace)
			if errors.Is(err, daemon.ErrNotRunning) {
				return noBackgroundSession(ctx, g.stateDir)
			}
			if err != nil {
				return err
			}
			if !reply.Ended {
				fmt.Fprintf(g.streams.Out, "meshjoin: session %s ends at %s unless `meshjoin up` or `meshjoin run` comes first\n", reply.ID, reply.EndsAt.Format(time.TimeOnly))
				return nil
			}
			if err := waitGone(ctx, c); err != nil {
				return err
			}
			if reply.StartFailed != "" {
				fmt.Fprintf(g.streams.Out, "meshjoin: the background session had failed to start (%s); nothing left to end\n", reply.StartFailed)
				return nil
			}
			fmt.Fprintf(g.streams.Out, "meshjoin: session %s ended; hosts file and Envoy cleaned up\n", reply.ID)
			return nil
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", 0, "end only if no up or run arrives within this time")
	cmd.Flags().DurationVar(&timeout, "timeout", 45*time.Second, "how long to wait for the session to end")
	return cmd
}

// waitGone waits until the daemon no longer answers (it exits right after leaving).
func waitGone(ctx context.Context, c *daemon.Client) error {
	for {
		if _, err := c.Status(ctx); errors.Is(err, daemon.ErrNotRunning) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the background session did not exit: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// noSessionError is a command that needs the background session when none runs (exit 5).
type noSessionError struct{ msg, hint string }

func (e *noSessionError) Error() string    { return e.msg }
func (e *noSessionError) ExitCode() int    { return exitConflict }
func (e *noSessionError) NextStep() string { return e.hint }

// noBackgroundSession explains why there is no background session: none at all, or a
// foreground one (`join`, the TUI) that `leave` ends.
func noBackgroundSession(ctx context.Context, stateDir string) error {
	st, err := session.ReadStatus(ctx, stateDir)
	if err == nil && st.State != nil {
		if st.Running {
			return &noSessionError{msg: fmt.Sprintf("session %s (pid %d) runs in the foreground, not in the background", st.State.ID, st.State.PID),
				hint: "end it where it runs (Ctrl-C, q), or with `meshjoin leave`"}
		}
		return &noSessionError{msg: fmt.Sprintf("session %s died without cleaning up", st.State.ID), hint: "`meshjoin leave` removes what it left"}
	}
	return &noSessionError{msg: "no meshjoin session is running",
		hint: "`meshjoin up SERVICE...` starts one; `meshjoin status` shows what runs (and --state-dir must match the one up used)"}
}
