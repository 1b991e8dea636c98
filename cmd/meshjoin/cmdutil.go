package main

// Command-line plumbing shared by every command (cli/cli's cmdutil is the model): usage errors,
// cobra's own included, exit 2 with a Next: line naming the command's help, and enumerated
// flags are checked while the command line is parsed, before anything runs.

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/project"
	"github.com/meshjoin/meshjoin/session"
)

// FlagError is a mistake on the command line: an unknown flag, a bad flag value, a missing or
// extra argument. It exits 2 and its hint points at the command's help.
type FlagError struct {
	Err         error
	CommandPath string // "meshjoin join": where --help explains the flags
}

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// Hint is the next step for the user.
func (e *FlagError) Hint() string {
	return "see `" + e.CommandPath + " --help` for the flags and arguments"
}

// markUsageErrors makes cobra's own parse errors FlagErrors for root and every command below
// it, including commands added later by other files, as long as they are added before this
// runs: flag errors through the flag-error hook (inherited by subcommands), argument errors by
// wrapping each command's Args validator.
func markUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &FlagError{Err: err, CommandPath: c.CommandPath()}
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(cmd *cobra.Command, a []string) error {
				err := args(cmd, a)
				var usage *session.UsageError
				if err == nil || errors.As(err, &usage) { // a validator's own usage error keeps its hint
					return err
				}
				return &FlagError{Err: err, CommandPath: cmd.CommandPath()}
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// EnumFlag is a string flag that takes one of a fixed set of values; anything else fails the
// parse with the allowed values (cli/cli's StringEnumFlag).
type EnumFlag struct {
	value   *string
	allowed []string
}

// StringEnumFlag registers --name (with shorthand, "" for none) whose value must be one of
// allowed, defaulting to def; the help text lists the values.
func StringEnumFlag(f *pflag.FlagSet, p *string, name, shorthand, def string, allowed []string, usage string) *EnumFlag {
	*p = def
	e := &EnumFlag{value: p, allowed: allowed}
	f.VarP(e, name, shorthand, fmt.Sprintf("%s: {%s}", usage, strings.Join(allowed, "|")))
	return e
}

func (e *EnumFlag) String() string { return *e.value }
func (e *EnumFlag) Type() string   { return "string" }

// Set accepts one of the allowed values, and only those.
func (e *EnumFlag) Set(v string) error {
	if !slices.Contains(e.allowed, v) {
		return fmt.Errorf("valid values are {%s}", strings.Join(e.allowed, "|"))
	}
	*e.value = v
	return nil
}

// The values of the enumerated flags, each list defined once.
var (
	runtimeValues      = project.Runtimes
	modeValues         = project.Modes
	envoyNetworkValues = []string{string(envoy.NetworkAuto), string(envoy.NetworkHost), string(envoy.NetworkPublished)}
	sudoValues         = []string{"auto", "always", "never"}
	outputValues       = []string{"table", "json", "yaml"}
)
