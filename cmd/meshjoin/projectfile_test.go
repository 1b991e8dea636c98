package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// probeCommand runs the real root command with a subcommand that has the session flags and
// records the options it ran with: the flag parsing and project file of join, up and run.
func probeCommand(t *testing.T, args ...string) (*joinOptions, *globals, *cobra.Command, error) {
	t.Helper()
	var errOut bytes.Buffer
	g := &globals{streams: Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &errOut}}
	root := newRootCmd(g)
	o := &joinOptions{}
	var ran *cobra.Command
	probe := &cobra.Command{Use: "probe", RunE: func(cmd *cobra.Command, args []string) error {
		ran = cmd
		services, err := o.servicesOrFile(args)
		o.project.Services = services
		return err
	}}
	addSessionFlags(probe.Flags(), o, "identity")
	var idle time.Duration
	addIdleFlag(probe.Flags(), &idle) // as up and run have it
	root.AddCommand(probe)
	root.SetArgs(append([]string{"probe"}, args...))
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&errOut)
	err := root.Execute()
	return o, g, ran, err
}

// inRepo makes a repository with the given files and runs the test in its subdirectory svc/.
func inRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "svc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(filepath.Join(dir, "svc"))
	t.Setenv("MESHJOIN_IDENTITY", "")
	t.Setenv("MESHJOIN_CONFIG", "")
	return dir
}

const projectYAML = `context: team-ctx
identity: dev/team
services: [ratings.bookinfo]
certTTL: 2h
runtime: native
envoyImage: team/envoy:1
hostsFile: hosts.test
profiles:
  web:
    services: [productpage.bookinfo, reviews.bookinfo]
    identity: dev/web
    bareNames: true
    certTTL: 20m
  ci:
    runtime: docker
`

func TestProjectFilePrecedence(t *testing.T) {
	type want struct {
		context, identity, runtime, image, hosts string
		ttl                                      time.Duration
		bare                                     bool
		services                                 []string
	}
	defaults := want{identity: "", runtime: "docker", image: "envoyproxy/envoy:v1.40.0", ttl: time.Hour}
	cases := []struct {
		name  string
		files map[string]string
		env   map[string]string
		args  []string
		want  func(dir string) want
	}{
		{"no file: the defaults", nil, nil, []string{"a.b"}, func(string) want { w := defaults; w.services = []string{"a.b"}; return w }},
		{"the file's top level", map[string]string{"meshjoin.yaml": projectYAML}, nil, nil, func(dir string) want {
			return want{"team-ctx", "dev/team", "native", "team/envoy:1", filepath.Join(dir, "hosts.test"), 2 * time.Hour, false, []string{"ratings.bookinfo"}}
		}},
		{"a profile over the top level", map[string]string{"meshjoin.yaml": projectYAML}, nil, []string{"--profile", "web"}, func(dir string) want {
			return want{"team-ctx", "dev/web", "native", "team/envoy:1", filepath.Join(dir, "hosts.test"), 20 * time.Minute, true, []string{"productpage.bookinfo", "reviews.bookinfo"}}
		}},
		{"flags over the profile", map[string]string{"meshjoin.yaml": projectYAML}, nil,
			[]string{"--profile", "web", "--cert-ttl", "5m", "--context", "mine", "--runtime", "docker", "--bare-names=false", "--hosts-file", "/h", "details.bookinfo"}, func(dir string) want {
				return want{"mine", "dev/web", "docker", "team/envoy:1", "/h", 5 * time.Minute, false, []string{"details.bookinfo"}}
			}},
		{"the local file over the project file", map[string]string{"meshjoin.yaml": projectYAML, "meshjoin.local.yaml": "identity: dev/alice\nprofiles:\n  ci:\n    certTTL: 3m\n"}, nil, []string{"--profile", "ci"}, func(dir string) want {
			return want{"team-ctx", "dev/alice", "docker", "team/envoy:1", filepath.Join(dir, "hosts.test"), 3 * time.Minute, false, []string{"ratings.bookinfo"}}
		}},
		{"$MESHJOIN_IDENTITY over the file", map[string]string{"meshjoin.yaml": projectYAML}, map[string]string{"MESHJOIN_IDENTITY": "dev/env"}, []string{"--profile", "web"}, func(dir string) want {
			return want{"team-ctx", "dev/env", "native", "team/envoy:1", filepath.Join(dir, "hosts.test"), 20 * time.Minute, true, []string{"productpage.bookinfo", "reviews.bookinfo"}}
		}},
		{"--identity over $MESHJOIN_IDENTITY", map[string]string{"meshjoin.yaml": projectYAML}, map[string]string{"MESHJOIN_IDENTITY": "dev/env"}, []string{"--identity", "dev/flag"}, func(dir string) want {
			return want{"team-ctx", "dev/flag", "native", "team/envoy:1", filepath.Join(dir, "hosts.test"), 2 * time.Hour, false, []string{"ratings.bookinfo"}}
		}},
		{"--config names another file", map[string]string{"other.yaml": "identity: dev/other\nservices: [x.y]\n", "meshjoin.yaml": projectYAML}, nil, []string{"--config", "../other.yaml"}, func(dir string) want {
			w := defaults
			w.identity, w.services = "dev/other", []string{"x.y"}
			return w
		}},
		{"$MESHJOIN_CONFIG names another file", map[string]string{"other.yaml": "identity: dev/other\nservices: [x.y]\n", "meshjoin.yaml": projectYAML}, map[string]string{"MESHJOIN_CONFIG": "../other.yaml"}, nil, func(dir string) want {
			w := defaults
			w.identity, w.services = "dev/other", []string{"x.y"}
			return w
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := inRepo(t, c.files)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			o, g, cmd, err := probeCommand(t, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			w := c.want(dir)
			got := want{g.context, o.identity, o.runtime, o.envoyImage, o.hostsFile, o.certTTL, o.bareNames, o.project.Services}
			if got.context != w.context || got.identity != w.identity || got.runtime != w.runtime || got.image != w.image ||
				got.hosts != w.hosts || got.ttl != w.ttl || got.bare != w.bare || !slices.Equal(got.services, w.services) {
				t.Errorf("got  %+v\nwant %+v", got, w)
			}
			// What the file set still counts as not given on the command line.
			for _, name := range []string{"identity", "cert-ttl", "runtime", "envoy-image", "hosts-file", "context"} {
				if cmd.Flags().Changed(name) != slices.Contains(c.args, "--"+name) {
					t.Errorf("flag --%s Changed = %v", name, cmd.Flags().Changed(name))
				}
			}
		})
	}
}

func TestProjectFileErrorsAreUsageErrors(t *testing.T) {
	cases := []struct {
		name      string
		files     map[string]string
		args      []string
		msg, hint []string
	}{
		{"unknown profile", map[string]string{"meshjoin.yaml": projectYAML}, []string{"--profile", "wbe"},
			[]string{`no profile "wbe"`, "meshjoin.yaml"}, []string{"choose one of ci, web"}},
		{"profile without profiles", map[string]string{"meshjoin.yaml": "identity: dev/a\n"}, []string{"--profile", "web"},
			[]string{`no profile "web"`}, []string{"defines no profiles"}},
		{"profile without a file", nil, []string{"--profile", "web"},
			[]string{"--profile web: no project file"}, []string{"meshjoin init"}},
		{"malformed file", map[string]string{"meshjoin.yaml": "identity: dev/a\nprofiles:\n  web:\n    certTtl: 1h\n"}, nil,
			[]string{"meshjoin.yaml:4:5: profiles.web.certTtl: unknown field"}, []string{"fix the project file"}},
		{"malformed local file", map[string]string{"meshjoin.yaml": projectYAML, "meshjoin.local.yaml": "certTTL: 90\n"}, nil,
			[]string{"meshjoin.local.yaml:1:10: certTTL: want a duration"}, []string{"fix the project file"}},
		{"missing --config", nil, []string{"--config", "nope.yaml"},
			[]string{"nope.yaml", "--config"}, []string{"give --config an existing file"}},
		{"no services anywhere", map[string]string{"meshjoin.yaml": "identity: dev/a\n"}, nil,
			[]string{"no services given", "lists none"}, []string{"meshjoin init"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inRepo(t, c.files)
			_, _, _, err := probeCommand(t, c.args...)
			code, hint := classify(err)
			if code != exitUsage {
				t.Fatalf("exit %d for %v, want %d", code, err, exitUsage)
			}
			for _, m := range c.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
			for _, h := range c.hint {
				if !strings.Contains(hint, h) {
					t.Errorf("Next: %q does not say %q", hint, h)
				}
			}
		})
	}
}

// The file's idleTimeout reaches --idle-timeout of the background commands, unless given.
func TestProjectFileIdleTimeout(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{{nil, "45m0s"}, {[]string{"--idle-timeout", "5m"}, "5m0s"}} {
		inRepo(t, map[string]string{"meshjoin.yaml": "services: [a.b]\nidleTimeout: 45m\n"})
		_, _, cmd, err := probeCommand(t, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		if got := cmd.Flags().Lookup("idle-timeout").Value.String(); got != c.want {
			t.Errorf("args %v: --idle-timeout %s, want %s", c.args, got, c.want)
		}
	}
}

// grpcJSON of the project file becomes --grpc-json values (paths beside the file), unless
// --grpc-json is given, which replaces them all.
func TestProjectFileGRPCJSON(t *testing.T) {
	file := "identity: dev/a\nservices: [ledger.payments]\ngrpcJSON:\n  ledger.payments: api/ledger.pb\n  b.x:7071: /abs/b.pb\n"
	dir := inRepo(t, map[string]string{"meshjoin.yaml": file})
	o, _, cmd, err := probeCommand(t)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b.x:7071=/abs/b.pb", "ledger.payments=" + filepath.Join(dir, "api/ledger.pb")}; !slices.Equal(o.grpcJSON, want) {
		t.Errorf("--grpc-json from the file = %q, want %q", o.grpcJSON, want)
	}
	if cmd.Flags().Changed("grpc-json") {
		t.Error("the file's grpcJSON counts as given on the command line")
	}
	o, _, _, err = probeCommand(t, "--grpc-json", "x.y=mine.pb")
	if err != nil || !slices.Equal(o.grpcJSON, []string{"x.y=mine.pb"}) {
		t.Errorf("--grpc-json over the file = %q, %v", o.grpcJSON, err)
	}
	got, err := o.transcodings()
	if err != nil || len(got) != 1 || got[0].Service != "x.y" || !filepath.IsAbs(got[0].DescriptorSet) {
		t.Errorf("transcodings() = %+v, %v; want x.y with an absolute path", got, err)
	}
}
