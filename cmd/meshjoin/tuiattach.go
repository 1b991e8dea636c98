package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/tui"
)

// backgroundForTUI is the background session's client when one runs (the TUI attaches to it).
func backgroundForTUI(ctx context.Context, stateDir string) (*daemon.Client, daemon.Status, bool) {
	c := daemon.NewClient(stateDir)
	st, err := c.Status(ctx)
	if err != nil || st.State == nil {
		c.Close()
		return nil, st, false
	}
	return c, st, true
}

// tuiAttach shows the background session's dashboard: q detaches, x ends the session.
func tuiAttach(ctx context.Context, g *globals, c *daemon.Client, st daemon.Status) error {
	defer c.Close()
	keepRunningOnBrokenPipe()
	err := tui.Run(ctx, tui.Options{
		Backend:     tui.NewAttachBackend(c),
		KubeContext: st.State.Context,
		Identity:    st.State.Identity,
		Attached:    true,
		Hint:        func(err error) string { _, h := classify(err); return h },
		Color:       true,
	})
	if err != nil {
		return err
	}
	if _, serr := c.Status(context.WithoutCancel(ctx)); errors.Is(serr, daemon.ErrNotRunning) {
		fmt.Fprintf(g.streams.Err, "Ended the background session %s; hosts file and Envoy cleaned up.\n", st.State.ID)
	} else {
		fmt.Fprintf(g.streams.Err, "Detached; the background session %s keeps running (`meshjoin down` ends it).\n", st.State.ID)
	}
	return nil
}

// continueInBackground starts the services the TUI joined as a background session (b on its
// dashboard): a new session with a new certificate; the names are back once it is ready.
func continueInBackground(cmd *cobra.Command, g *globals, o *joinOptions, services []string) error {
	klog.SetOutput(g.streams.Err)
	c, st, err := ensureSession(cmd.Context(), cmd, g, o, &backgroundOptions{wait: defaultWait}, services, true)
	if err != nil {
		return err
	}
	c.Close()
	printReady(g.streams.Out, st)
	fmt.Fprintln(g.streams.Err, "The session runs in the background: `meshjoin tui` shows it again, `meshjoin down` ends it.")
	return nil
}
