package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshjoin/meshjoin/project"
	"github.com/meshjoin/meshjoin/session"
)

// projectFileHint is the next step for a project file that cannot be used.
const projectFileHint = "fix the project file (its schema, docs/meshjoin.schema.json, lets editors check it as you type), or point --config elsewhere"

// addProjectFlags registers --config and --profile with the session flags. The --profile flag
// carries the options it belongs to, so that applyProjectFile (run before every command) finds
// them on any command with session flags: join, tui, up, run, doctor.
func addProjectFlags(f *pflag.FlagSet, o *joinOptions) {
	f.StringVar(&o.config, "config", "", "project file (default: $"+project.EnvConfig+", or "+project.FileName+" in this directory or a parent up to the repository root)")
	f.Var(&profileValue{o: o}, "profile", "profile of the project file to use (docs/project-file.md)")
}

// profileValue is the --profile flag's value: a string that knows its options.
type profileValue struct{ o *joinOptions }

func (p *profileValue) String() string     { return p.o.profile }
func (p *profileValue) Set(s string) error { p.o.profile = s; return nil }
func (p *profileValue) Type() string       { return "string" }

// applyProjectFile reads the project file for a command that has session flags (a no-op for
// the others) and puts its settings under the flags the user did not set.
func applyProjectFile(cmd *cobra.Command, g *globals) error {
	fl := cmd.Flags().Lookup("profile")
	if fl == nil {
		return nil
	}
	pv, ok := fl.Value.(*profileValue)
	if !ok {
		return nil
	}
	return pv.o.applyProject(cmd.Flags())
}

// applyProject finds and loads the project file, resolves --profile in it, and sets every flag
// not given on the command line from it: flags > file (profile > top level) > defaults.
func (o *joinOptions) applyProject(f *pflag.FlagSet) error {
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	path, err := project.Find(o.config, dir)
	if err != nil {
		return &session.UsageError{Msg: err.Error(), Hint: "give --config an existing file, or unset $" + project.EnvConfig}
	}
	if path == "" {
		if o.profile != "" {
			return &session.UsageError{
				Msg:  fmt.Sprintf("--profile %s: no project file (%s in this directory or a parent up to the repository root)", o.profile, project.FileName),
				Hint: "create one with `meshjoin init SERVICE...`, or name it with --config",
			}
		}
		return nil
	}
	p, err := project.Load(path)
	if err != nil {
		return &session.UsageError{Msg: err.Error(), Hint: projectFileHint}
	}
	r, err := p.Resolve(o.profile)
	var unknown *project.UnknownProfileError
	if errors.As(err, &unknown) {
		hint := unknown.File + " defines no profiles: leave out --profile, or add one under profiles: (docs/project-file.md)"
		if len(unknown.Known) > 0 {
			hint = "choose one of " + strings.Join(unknown.Known, ", ") + " (--profile NAME), or leave out --profile"
		}
		return &session.UsageError{Msg: err.Error(), Hint: hint}
	}
	if err != nil {
		return err
	}
	o.project = r
	set := func(name, value string) error {
		fl := f.Lookup(name)
		if fl == nil || fl.Changed || value == "" {
			return nil
		}
		// Value.Set, not FlagSet.Set: the flag stays "not given", so Changed keeps meaning the user.
		if err := fl.Value.Set(value); err != nil {
			return &session.UsageError{Msg: fmt.Sprintf("%s: %s: %v", path, name, err), Hint: projectFileHint}
		}
		return nil
	}
	identity := r.Identity
	if os.Getenv("MESHJOIN_IDENTITY") != "" {
		identity = "" // the variable is like a flag: it wins over the file
	}
	bare := ""
	if r.BareNames != nil {
		bare = fmt.Sprint(*r.BareNames)
	}
	ttl := ""
	if r.CertTTL > 0 {
		ttl = r.CertTTL.String()
	}
	proxyPort := ""
	if r.ProxyPort > 0 {
		proxyPort = fmt.Sprint(r.ProxyPort)
	}
	idle := ""
	if r.IdleTimeout > 0 {
		idle = r.IdleTimeout.String()
	}
	for _, s := range []struct{ flag, value string }{
		{"context", r.Context}, {"identity", identity}, {"cert-ttl", ttl}, {"bare-names", bare},
		{"runtime", r.Runtime}, {"mode", r.Mode}, {"proxy-port", proxyPort}, {"envoy-image", r.EnvoyImage}, {"hosts-file", r.HostsFile}, {"idle-timeout", idle},
		{"address-range", r.AddressRange}, {"mesh-file", r.MeshFile},
	} {
		if err := set(s.flag, s.value); err != nil {
			return err
		}
	}
	// grpcJSON: one --grpc-json per entry (Set on a string array appends), in a stable order.
	for _, target := range slices.Sorted(maps.Keys(r.GRPCJSON)) {
		if err := set("grpc-json", target+"="+r.GRPCJSON[target]); err != nil {
			return err
		}
	}
	return nil
}

// servicesOrFile is the services named on the command line, else the project file's.
func (o *joinOptions) servicesOrFile(args []string) ([]string, error) {
	if len(args) > 0 {
		return args, nil
	}
	if len(o.project.Services) > 0 {
		return o.project.Services, nil
	}
	msg := "no services given"
	if o.project.Path != "" {
		msg += " and " + o.project.Path + " lists none"
	}
	return nil, &session.UsageError{Msg: msg, Hint: "name them (`meshjoin join ratings.bookinfo`), or list them under services: in " + project.FileName + " (`meshjoin init` writes one)"}
}
