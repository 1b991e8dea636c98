package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// parsed is what a command was given, recorded instead of running it.
type parsed struct {
	path  string
	args  []string
	flags map[string]string
}

// parseOnly is the seam of the flag tests: the real command tree, whose commands record the
// parsed command line instead of running (no cluster, no Docker, no hosts file).
func parseOnly(t *testing.T, args ...string) (p *parsed, code int, stderr string) {
	t.Helper()
	var errOut bytes.Buffer
	st := Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &errOut}
	root := newRootCmd(&globals{streams: st})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.RunE != nil || c.Run != nil {
			c.Run, c.RunE = nil, func(cmd *cobra.Command, a []string) error {
				p = &parsed{path: cmd.CommandPath(), args: a, flags: map[string]string{}}
				cmd.Flags().VisitAll(func(f *pflag.Flag) { p.flags[f.Name] = f.Value.String() })
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	root.PersistentPreRunE = nil
	code = execute(root, args, st)
	return p, code, errOut.String()
}

func TestFlagParsing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		cmd   string            // the command that would run
		flags map[string]string // some of its parsed flags
	}{
		{"join defaults", []string{"join", "ratings.bookinfo"}, "meshjoin join",
			map[string]string{"runtime": "docker", "sudo": "auto", "envoy-network": "auto", "address-range": "127.77.0.0/16", "cert-ttl": "1h0m0s"}},
		{"join enums", []string{"join", "a", "b", "--runtime", "native", "--sudo=never", "--envoy-network", "published"}, "meshjoin join",
			map[string]string{"runtime": "native", "sudo": "never", "envoy-network": "published"}},
		{"tui sudo always", []string{"tui", "--sudo", "always", "--envoy-network", "host"}, "meshjoin tui",
			map[string]string{"sudo": "always", "envoy-network": "host"}},
		{"root takes the session flags", []string{"--runtime", "native"}, "meshjoin", map[string]string{"runtime": "native"}},
		{"services -o json", []string{"services", "-o", "json", "-A"}, "meshjoin services", map[string]string{"output": "json", "all": "true"}},
		{"status -o yaml", []string{"status", "--output=yaml"}, "meshjoin status", map[string]string{"output": "yaml"}},
		{"status default table", []string{"status"}, "meshjoin status", map[string]string{"output": "table"}},
		{"leave timeout", []string{"leave", "--timeout", "5s"}, "meshjoin leave", map[string]string{"timeout": "5s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, code, stderr := parseOnly(t, tc.args...)
			if code != exitOK || p == nil {
				t.Fatalf("exit %d, ran %v\n%s", code, p, stderr)
			}
			if p.path != tc.cmd {
				t.Errorf("ran %q, want %q", p.path, tc.cmd)
			}
			for k, want := range tc.flags {
				if got := p.flags[k]; got != want {
					t.Errorf("--%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// Usage errors, cobra's own included, exit 2 before the command runs, with the error and a
// Next: line pointing at the command's help.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		msg  string // in the Error: line
		next string // in the Next: line
	}{
		{"unknown flag", []string{"join", "ratings.bookinfo", "--bogus"}, "unknown flag: --bogus", "`meshjoin join --help`"},
		{"unknown shorthand", []string{"status", "-z"}, "unknown shorthand flag: 'z' in -z", "`meshjoin status --help`"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate" for "meshjoin"`, "`meshjoin --help`"},
		{"extra argument", []string{"status", "now"}, `unknown command "now" for "meshjoin status"`, "`meshjoin status --help`"},
		{"bad runtime", []string{"join", "ratings.bookinfo", "--runtime", "foo"}, `invalid argument "foo" for "--runtime" flag: valid values are {docker|native}`, "`meshjoin join --help`"},
		{"bad sudo", []string{"join", "ratings.bookinfo", "--sudo", "bogus"}, `invalid argument "bogus" for "--sudo" flag: valid values are {auto|always|never}`, "--help"},
		{"bad envoy network", []string{"tui", "--envoy-network", "bridge"}, `valid values are {auto|host|published}`, "`meshjoin tui --help`"},
		{"bad output", []string{"services", "-o", "xml"}, `invalid argument "xml" for "-o, --output" flag: valid values are {table|json|yaml}`, "`meshjoin services --help`"},
		{"bad status output", []string{"status", "-o", "wide"}, `valid values are {table|json|yaml}`, "`meshjoin status --help`"},
		{"bad duration", []string{"join", "x", "--cert-ttl", "soon"}, `invalid argument "soon" for "--cert-ttl" flag`, "--help"},
		{"bad root flag", []string{"--sudo", "sometimes"}, `valid values are {auto|always|never}`, "`meshjoin --help`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, code, stderr := parseOnly(t, tc.args...)
			if p != nil {
				t.Errorf("%s ran", p.path)
			}
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			errLine, nextLine, _ := strings.Cut(stderr, "\n")
			if !strings.HasPrefix(errLine, "Error: ") || !strings.Contains(errLine, tc.msg) {
				t.Errorf("error line %q, want it to contain %q", errLine, tc.msg)
			}
			if !strings.HasPrefix(nextLine, "Next: ") || !strings.Contains(nextLine, tc.next) {
				t.Errorf("next line %q, want it to contain %q", nextLine, tc.next)
			}
		})
	}
}

// The help lists the allowed values of every enumerated flag.
func TestEnumFlagHelp(t *testing.T) {
	var out bytes.Buffer
	st := Streams{In: strings.NewReader(""), Out: &out, Err: &out}
	root := newRootCmd(&globals{streams: st})
	if code := execute(root, []string{"join", "--help"}, st); code != exitOK {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for _, want := range []string{"{docker|native}", "{auto|host|published}", "{auto|always|never}"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("join --help lacks %s:\n%s", want, out.String())
		}
	}
}

// A command that needs arguments (none of today's does: join and init take them from the
// project file) gets cobra's missing-argument error as a usage error too.
func TestMissingArgumentIsUsageError(t *testing.T) {
	var errOut bytes.Buffer
	st := Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &errOut}
	root := &cobra.Command{Use: "meshjoin", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(&cobra.Command{Use: "needs", Args: cobra.MinimumNArgs(1), RunE: func(*cobra.Command, []string) error {
		t.Error("ran without its argument")
		return nil
	}})
	markUsageErrors(root)
	if code := execute(root, []string{"needs"}, st); code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if want := "Error: requires at least 1 arg(s), only received 0\nNext: see `meshjoin needs --help` for the flags and arguments\n"; errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
}
