package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/helper"
	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/session"
)

// newHelperCmd is `meshjoin helper`: install, check and remove the privileged helper, and the
// hidden `serve` that the installed service runs.
func newHelperCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "helper",
		Short: "Install the privileged helper, so that join never asks for sudo",
		Long: `The helper is a small root service, installed once, that edits meshjoin's block in the
system hosts file (and, on macOS, loopback aliases) for the users it allows. With it, join, up,
run and the TUI never call sudo. See docs/platforms.md.`,
	}
	cmd.AddCommand(newHelperInstallCmd(g), newHelperUninstallCmd(g), newHelperStatusCmd(g), newHelperServeCmd(g))
	return cmd
}

func newHelperInstallCmd(g *globals) *cobra.Command {
	var (
		o      helper.InstallOptions
		users  []string
		prefix string
	)
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install and start the helper (as root: sudo meshjoin helper install)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := netip.ParsePrefix(prefix)
			if err != nil {
				return &session.UsageError{Msg: fmt.Sprintf("--range %q: %v", prefix, err), Hint: "give a prefix inside 127.0.0.0/8, such as 127.77.0.0/16"}
			}
			o.Range, o.Users, o.Out = r, users, g.streams.Out
			return helper.Install(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Group, "group", "", "allow the members of this group")
	f.StringSliceVar(&users, "users", nil, "allow these users (default: the user who ran sudo)")
	f.StringVar(&prefix, "range", hosts.DefaultPrefix.String(), "the addresses the helper may write and alias")
	return cmd
}

func newHelperUninstallCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "uninstall",
		Short: "Stop the helper and remove it (as root)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return helper.Uninstall(g.streams.Out)
		},
	}
}

func newHelperStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Say whether the helper is installed, running, and serves you",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := helper.NewClient("")
			st := helper.CheckStatus(cmd.Context(), c)
			fmt.Fprint(g.streams.Out, st.Report())
			if !st.Usable() && (st.Installed() || c.Installed()) {
				return st.Err
			}
			return nil
		},
	}
}

// newHelperServeCmd is what the service runs, as root. --socket and --config exist for tests
// and for running it by hand; the hosts file cannot be chosen: it is always the system's.
func newHelperServeCmd(g *globals) *cobra.Command {
	var socket, config string
	cmd := &cobra.Command{
		Use:    "serve",
		Short:  "Run the helper (what the installed service runs, as root)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return &helper.Error{ErrorBody: helper.ErrorBody{Kind: helper.KindPermission, Message: "the helper runs as root", Next: "install it: `sudo meshjoin helper install`"}}
			}
			cfg, err := helper.LoadConfig(config)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(g.streams.Err, nil))
			l, err := helper.Listen(socket)
			if err != nil {
				return err
			}
			defer l.Close()
			log.Info("meshjoin helper serving", "socket", socket, "hosts", hosts.SystemPath(), "allows", cfg.Who(), "range", cfg.Range)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			err = helper.NewServer(cfg, log).Serve(ctx, l)
			log.Info("meshjoin helper stopped")
			return err
		},
	}
	cmd.Flags().StringVar(&socket, "socket", helper.DefaultSocket, "the socket to listen on")
	cmd.Flags().StringVar(&config, "config", helper.DefaultConfig, "the configuration install wrote")
	return cmd
}

// helperExit maps the helper's refusals to exit codes.
func helperExit(e *helper.Error) (int, string) {
	code := map[string]int{
		helper.KindNotRunning: exitUnreachable,
		helper.KindPermission: exitPermission,
		helper.KindRefused:    exitPermission,
		helper.KindConflict:   exitConflict,
		helper.KindUsage:      exitUsage,
	}[e.Kind]
	if code == 0 {
		code = exitEnvironment
	}
	hint := e.Next
	if hint == "" {
		hint = "the helper refused this request: `meshjoin helper status` shows what it allows; its log says why"
	}
	return code, strings.TrimSpace(hint)
}
