package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/session"
)

func newRunCmd(g *globals) *cobra.Command {
	o := &joinOptions{}
	b := &backgroundOptions{}
	cmd := &cobra.Command{
		Use:   "run [SERVICE...] -- COMMAND [ARGS...]",
		Short: "Run a command with the mesh's names answering and the services' environment; the session ends with it if it started it",
		Long: "run ensures the background session (starting it, or reusing the running one and joining the services named too), then runs " +
			"COMMAND with the services' environment (as `meshjoin env` prints it), forwards SIGINT, SIGTERM and SIGHUP to it and exits " +
			"with its status (128+N when a signal ended it). Several runs share one session; the last to finish ends it, unless `up` started it.",
		Example: `  meshjoin run -- go run ./cmd/app
  meshjoin run ratings.bookinfo -- ./integration-tests.sh`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			services, command, ok := splitAtDash(cmd, args)
			if !ok {
				return &session.UsageError{Msg: "run needs the command after --", Hint: "e.g. `meshjoin run -- go run ./cmd/app` (meshjoin's flags go before --)"}
			}
			if o.dryRun { // the plan only: the command does not run
				return previewBackground(cmd.Context(), g, o, services)
			}
			return runCommand(cmd, g, o, b, services, command)
		},
	}
	// The command's own flags are not meshjoin's: parsing stops at the first argument.
	cmd.Flags().SetInterspersed(false)
	addSessionFlags(cmd.Flags(), o, "service account to act as, <namespace>/<name> ($MESHJOIN_IDENTITY)")
	addBackgroundFlags(cmd.Flags(), b)
	addDryRunFlag(cmd.Flags(), o)
	return cmd
}

// splitAtDash splits run's arguments at "--": the services before it, the command after.
// Flag parsing stops at the first service, leaving a later "--" among the arguments.
func splitAtDash(cmd *cobra.Command, args []string) (services, command []string, ok bool) {
	dash := cmd.ArgsLenAtDash()
	if dash < 0 {
		if i := slices.Index(args, "--"); i >= 0 {
			args = slices.Delete(slices.Clone(args), i, i+1)
			dash = i
		}
	}
	if dash < 0 || dash == len(args) {
		return nil, nil, false
	}
	return args[:dash], args[dash:], true
}

// exitStatus ends meshjoin with a command's exit status and nothing printed.
type exitStatus int

func (e exitStatus) Error() string    { return "" }
func (e exitStatus) ExitCode() int    { return int(e) }
func (e exitStatus) NextStep() string { return "" }

// Exit statuses of a command that could not be run, as shells give them.
const (
	exitCannotExecute = 126
	exitNotFound      = 127
	exitSignalBase    = 128
)

func runCommand(cmd *cobra.Command, g *globals, o *joinOptions, b *backgroundOptions, services, command []string) error {
	// Signals wait for the command from the start: before it runs they end the wait.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	keepRunningOnBrokenPipe()
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	waiting, waited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(waited)
		select {
		case <-sigs:
			cancel()
		case <-waiting:
		}
	}()
	c, st, err := ensureSession(ctx, cmd, g, o, b, services, false)
	close(waiting)
	<-waited
	if err != nil {
		return err
	}
	defer c.Close()
	att, err := c.Attach(context.WithoutCancel(ctx), true)
	if err != nil {
		return err
	}
	vars, err := c.Env(ctx)
	if err != nil {
		att.Close()
		return err
	}
	status := execForwarding(g, command, vars, st, sigs)
	rctx, rcancel := context.WithTimeout(context.Background(), leaveWait)
	defer rcancel()
	ended, err := c.Release(rctx, att.Lease)
	att.Close()
	if err != nil {
		fmt.Fprintf(g.streams.Err, "meshjoin: release the session: %v\n", err)
	} else if ended {
		if err := waitGone(rctx, c); err != nil {
			fmt.Fprintf(g.streams.Err, "meshjoin: %v\n", err)
		}
	}
	return status
}

// leaveWait bounds the wait for the session to end after the last run.
const leaveWait = 45 * time.Second

// execForwarding runs command with the session's environment, passing on the signals
// meshjoin gets, and returns its exit status (nil for 0).
func execForwarding(g *globals, command []string, vars []daemon.EnvVar, st daemon.Status, sigs <-chan os.Signal) error {
	child := exec.Command(command[0], command[1:]...)
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	child.Env = os.Environ()
	for _, v := range vars {
		if slices.Contains(daemon.NoProxyVariables, v.Name) && os.Getenv(v.Name) != "" {
			// Proxy mode: what the user already keeps direct stays direct.
			v.Value += "," + os.Getenv(v.Name)
		}
		child.Env = append(child.Env, v.Name+"="+v.Value)
	}
	// On a terminal the command stays in the terminal's process group, which gets Ctrl-C
	// itself: forwarding SIGINT too would deliver it twice. Elsewhere it gets a group of its
	// own, and every signal from meshjoin alone.
	interactive := term.IsTerminal(int(os.Stdin.Fd()))
	child.SysProcAttr = commandProcAttr(interactive)
	if err := child.Start(); err != nil {
		code := exitCannotExecute
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			code = exitNotFound
		}
		fmt.Fprintf(g.streams.Err, "Error: %v\nNext: check the command after --\n", err)
		return exitStatus(code)
	}
	fmt.Fprintf(g.streams.Err, "meshjoin: %d services (%s) for %s (pid %d)\n", len(st.Services), st.State.ID, command[0], child.Process.Pid)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if interactive && s == syscall.SIGINT {
					continue
				}
				child.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	child.Wait()
	close(done)
	return commandStatus(child.ProcessState)
}

// commandStatus is the status a shell gives: the exit code, or 128+N for signal N.
func commandStatus(ps *os.ProcessState) error {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitStatus(exitSignalBase + int(ws.Signal()))
	}
	if code := ps.ExitCode(); code != 0 {
		return exitStatus(code)
	}
	return nil
}
