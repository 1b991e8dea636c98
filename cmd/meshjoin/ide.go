package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/ide"
	"github.com/meshjoin/meshjoin/project"
	"github.com/meshjoin/meshjoin/session"
)

type ideOptions struct {
	dir            string
	profile        string
	wait, grace    time.Duration
	envFile        string
	configurations []string
	write, dryRun  bool
	// dirSet and envFileSet: given on the command line, so the project file does not decide.
	dirSet, envFileSet bool
}

func newIDECmd(g *globals) *cobra.Command {
	o := &ideOptions{}
	cmd := &cobra.Command{
		Use:   "ide vscode|jetbrains",
		Short: "Generate IDE launch configurations that run your service with mesh names working",
		Long: `Generate IDE configuration that calls meshjoin up/env/down around a launch, so F5 in
VS Code or Run/Debug in GoLand/IntelliJ starts the service with the mesh's names answering.
Without --write, prints a unified diff of what would change and changes nothing.
Only meshjoin's own entries (tasks labelled "meshjoin: ...", configurations named "... (mesh)")
are added or updated; everything else in your files stays byte-for-byte. See docs/ide.md.`,
		Example: `  meshjoin ide vscode                 # show the diff
  meshjoin ide vscode --write         # write .vscode/tasks.json and launch.json
  meshjoin ide jetbrains --configuration server --write`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || (args[0] != "vscode" && args[0] != "jetbrains") {
				return &session.UsageError{Msg: fmt.Sprintf("which IDE? got %q", args), Hint: "`meshjoin ide vscode` or `meshjoin ide jetbrains` (GoLand, IntelliJ)"}
			}
			return nil
		},
		ValidArgs: []string{"vscode", "jetbrains"},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dirSet, o.envFileSet = cmd.Flags().Changed("dir"), cmd.Flags().Changed("env-file")
			return ideRun(cmd.Context(), g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", ".", "the workspace folder to write into (default: the directory of meshjoin.yaml, else this one)")
	f.StringVar(&o.profile, "profile", "", "project-file profile the generated `meshjoin up` uses")
	f.DurationVar(&o.wait, "wait", ide.DefaultWait, "how long the generated `meshjoin up --wait` waits for the session")
	f.DurationVar(&o.grace, "grace", ide.DefaultGrace, "the generated `meshjoin down --grace`: how long a stopped session waits for a restart")
	f.StringVar(&o.envFile, "env-file", ide.DefaultEnvFile, "where the generated `meshjoin env -o` writes, relative to --dir (default: the project file's envFile)")
	f.StringArrayVarP(&o.configurations, "configuration", "c", nil, "existing launch/run configuration to copy as \"<name> (mesh)\" (repeatable; default: all)")
	f.BoolVar(&o.write, "write", false, "write the files (default: print the diff only)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the diff and change nothing (the default)")
	return cmd
}

func ideRun(ctx context.Context, g *globals, o *ideOptions, which string) error {
	if o.write && o.dryRun {
		return &session.UsageError{Msg: "--write and --dry-run together", Hint: "give one: --dry-run shows the diff, --write writes it"}
	}
	if o.wait <= 0 || o.grace < 0 {
		return &session.UsageError{Msg: "--wait must be positive and --grace not negative", Hint: "e.g. --wait 2m --grace 20s"}
	}
	opts := ide.Options{Dir: o.dir, Profile: o.profile, Wait: o.wait, Grace: o.grace, EnvFile: o.envFile, Configurations: o.configurations}
	if err := o.applyProject(&opts); err != nil {
		return err
	}
	var plan ide.Plan
	var err error
	switch which {
	case "vscode":
		plan, err = ide.VSCode(opts)
	case "jetbrains":
		if opts.Env, err = sessionEnv(ctx, g); err != nil {
			return err
		}
		plan, err = ide.JetBrains(opts)
	}
	if err != nil {
		return err
	}
	for _, n := range plan.Notes {
		fmt.Fprintln(g.streams.Err, "Note: "+n)
	}
	if !o.write {
		if d := plan.Diff(); d != "" {
			fmt.Fprint(g.streams.Out, d)
			fmt.Fprintln(g.streams.Err, "Nothing written: add --write to apply this.")
		} else {
			fmt.Fprintln(g.streams.Err, "Up to date: nothing to change.")
		}
		return nil
	}
	written, err := plan.Write()
	for _, p := range written {
		fmt.Fprintln(g.streams.Out, "Wrote "+p)
	}
	if err != nil {
		return err
	}
	if len(written) == 0 {
		fmt.Fprintln(g.streams.Err, "Up to date: nothing to change.")
	}
	return nil
}

// applyProject checks --profile against the project file (meshjoin.yaml, found from --dir up
// to the repository root) and takes its env file; without --dir, the project file's directory
// is the folder written into.
func (o *ideOptions) applyProject(opts *ide.Options) error {
	path, err := project.Find("", o.dir)
	if err != nil {
		return &session.UsageError{Msg: err.Error(), Hint: "unset $" + project.EnvConfig + " or point it at an existing file"}
	}
	if path == "" {
		if o.profile != "" {
			return &session.UsageError{Msg: fmt.Sprintf("--profile %s: no project file (%s in %s or a parent up to the repository root)", o.profile, project.FileName, o.dir),
				Hint: "create one with `meshjoin init SERVICE...`, or leave out --profile"}
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
		return &session.UsageError{Msg: err.Error(), Hint: "choose one of " + strings.Join(unknown.Known, ", ") + " (--profile NAME), or leave out --profile"}
	}
	if err != nil {
		return err
	}
	if !o.dirSet {
		opts.Dir = filepath.Dir(path)
	}
	if !o.envFileSet {
		abs, err := filepath.Abs(opts.Dir)
		if err != nil {
			return err
		}
		if opts.EnvFile, err = filepath.Rel(abs, r.EnvFile); err != nil {
			return err
		}
	}
	return nil
}

// sessionEnv is the running session's environment (what `meshjoin env` prints), which is
// written into JetBrains run configurations: they cannot read an env file without a plugin.
func sessionEnv(ctx context.Context, g *globals) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := daemon.NewClient(g.stateDir)
	defer c.Close()
	vars, err := c.Env(ctx)
	if errors.Is(err, daemon.ErrNotRunning) {
		return nil, &noSessionError{
			msg:  "meshjoin ide jetbrains writes the session's *_SERVICE_HOST variables into the run configurations, and no background session runs",
			hint: "start it first (`meshjoin up`), then run this again",
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read the session's environment: %w", err)
	}
	env := make(map[string]string, len(vars))
	for _, v := range vars {
		env[v.Name] = v.Value
	}
	return env, nil
}
