package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/doctor"
	"github.com/meshjoin/meshjoin/session"
)

type doctorOptions struct {
	joinOptions
	output    string
	clockSkew time.Duration // test hook: shifts this machine's clock as the checks see it
}

func newDoctorCmd(g *globals) *cobra.Command {
	o := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor [SERVICE...]",
		Short: "Check that this machine and the cluster are ready for a join, and say how to fix what is not",
		Example: `  meshjoin doctor --identity dev/alice ratings.bookinfo
  meshjoin doctor -o json     # the project file's identity and services`,
		RunE: func(cmd *cobra.Command, args []string) error { return doctorRun(cmd.Context(), g, o, args) },
	}
	addSessionFlags(cmd.Flags(), &o.joinOptions, "service account to act as, <namespace>/<name> ($MESHJOIN_IDENTITY)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "table or json")
	cmd.Flags().DurationVar(&o.clockSkew, "test-clock-skew", 0, "pretend this machine's clock is off by this much (tests)")
	_ = cmd.Flags().MarkHidden("test-clock-skew")
	return cmd
}

func doctorRun(ctx context.Context, g *globals, o *doctorOptions, args []string) error {
	if o.output != "table" && o.output != "json" {
		return &session.UsageError{Msg: fmt.Sprintf("--output %q", o.output), Hint: "use -o table or -o json"}
	}
	prefix, err := o.prefix()
	if err != nil {
		return err
	}
	services := args
	if len(services) == 0 {
		services = o.project.Services
	}
	env := doctor.Env{
		Identity: o.identity, Revision: o.revision,
		GatewayOverride: o.gateway, CAAddress: o.caAddress, CAServerName: o.caServerName,
		Runtime: o.runtime, EnvoyImage: o.envoyImage, EnvoyPath: o.envoyPath, EnvoyNetwork: o.envoyNetwork,
		HostsFile: o.hostsFile, Sudo: o.sudo, AddressRange: prefix,
		Now: func() time.Time { return time.Now().Add(o.clockSkew) },
	}
	if k, err := g.connect(); err != nil {
		env.ConnectErr = err
	} else {
		env.Client, env.RESTConfig, env.Context = k.client, k.config, k.contextName
		env.Services = qualify(services, k.namespace)
	}
	if o.mode == session.ModeProxy {
		env.ProxyPort = o.proxyPort
	}
	if st, err := session.ReadStatus(ctx, g.stateDir); err == nil && st.Running && st.State != nil {
		env.Ours = map[netip.AddrPort]bool{}
		if ap, err := netip.ParseAddrPort(st.State.ProxyAddr); err == nil {
			env.Ours[ap] = true
		}
		for _, js := range st.State.Services {
			addr, err := netip.ParseAddr(js.Addr)
			if err != nil {
				continue
			}
			for _, p := range js.Ports {
				env.Ours[netip.AddrPortFrom(addr, uint16(p.Number))] = true
			}
		}
	}
	rep := doctor.Run(ctx, env)
	if o.output == "json" {
		if err := printStructured(g.streams.Out, "json", rep); err != nil {
			return err
		}
	} else {
		printDoctor(g.streams, rep)
	}
	if !rep.OK {
		return &doctorFailedError{report: rep}
	}
	return nil
}

var verdictMark = map[doctor.Verdict]string{doctor.Pass: "✓", doctor.Warn: "!", doctor.Fail: "✗", doctor.Skip: "-"}

func printDoctor(st Streams, rep doctor.Report) {
	tw := tabwriter.NewWriter(st.Out, 0, 4, 2, ' ', 0)
	for _, r := range rep.Checks {
		fmt.Fprintf(tw, "%s %s\t%s\n", verdictMark[r.Verdict], r.Name, r.Detail)
		if r.Fix != "" && r.Verdict != doctor.Pass {
			fmt.Fprintf(tw, "  \tFix: %s\n", r.Fix)
		}
	}
	tw.Flush()
}

// doctorFailedError is a doctor run with a failed check; its exit code is the first failure's kind.
type doctorFailedError struct{ report doctor.Report }

func (e *doctorFailedError) Error() string {
	var failed []string
	for _, r := range e.report.Checks {
		if r.Verdict == doctor.Fail {
			failed = append(failed, r.Name)
		}
	}
	return "not ready to join: " + strings.Join(failed, ", ") + " failed"
}

// NextStep is the hint printed after the report (the report has each check's fix).
func (e *doctorFailedError) NextStep() string {
	return "fix what is marked ✗ above, then run `meshjoin doctor` again"
}

// ExitCode is the kind of the first failed check.
func (e *doctorFailedError) ExitCode() int {
	for _, r := range e.report.Checks {
		if r.Verdict != doctor.Fail {
			continue
		}
		switch r.Kind {
		case doctor.KindUsage:
			return exitUsage
		case doctor.KindPermission:
			return exitPermission
		case doctor.KindUnreachable:
			return exitUnreachable
		case doctor.KindConflict:
			return exitConflict
		case doctor.KindEnvironment:
			return exitEnvironment
		}
	}
	return exitFailure
}
