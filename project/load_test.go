package project

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDecodeRejectsWithFileLineAndField(t *testing.T) {
	cases := []struct {
		name, yaml  string
		line        int
		field, want string
	}{
		{"unknown top-level field", "identity: dev/alice\nservice: [ratings.bookinfo]\n", 2, "service", `unknown field "service"`},
		{"unknown field in a profile", "profiles:\n  web:\n    certTtl: 1h\n", 3, "profiles.web.certTtl", `unknown field "certTtl"`},
		{"number for a string", "identity: dev/alice\ncontext: 123\n", 2, "context", "want string"},
		{"string for a list", "services: ratings.bookinfo\n", 1, "services", "want a list, got a string"},
		{"number in the list", "services:\n  - ratings.bookinfo\n  - 42\n", 3, "services.1", "want string"},
		{"mapping in the list", "services:\n  - {name: x}\n", 2, "services.0", "want a string, got a mapping"},
		{"yes is no boolean", "bareNames: yes\n", 1, "bareNames", "want true or false"},
		{"duration without unit", "certTTL: 3600\n", 1, "certTTL", "want a duration"},
		{"bad duration in a profile", "profiles:\n  ci:\n    certTTL: 5x\n", 3, "profiles.ci.certTTL", `"5x" is not a positive duration`},
		{"negative duration", "idleTimeout: -5m\n", 1, "idleTimeout", "not a positive duration"},
		{"identity without namespace", "identity: alice\n", 1, "identity", "no '/' between namespace and service account"},
		{"unknown runtime", "profiles:\n  p:\n    runtime: podman\n", 3, "profiles.p.runtime", `"podman" is not a runtime`},
		{"unknown mode", "mode: socks\n", 1, "mode", `"socks" is not a mode; want hosts or proxy`},
		{"proxy port out of range", "profiles:\n  ci:\n    proxyPort: 70000\n", 3, "profiles.ci.proxyPort", "not a port number"},
		{"proxy port as a string", "proxyPort: '15080'\n", 1, "proxyPort", "want a port number, got"},
		{"profile that is not a mapping", "profiles:\n  web: 3\n", 2, "profiles.web", "want a mapping, got a number"},
		{"profile name with a space", "profiles:\n  'my web':\n    runtime: docker\n", 2, "profiles.my web", "does not match pattern"},
		{"empty value", "identity:\n", 1, "identity", "got null, want string"},
		{"service with a space", "services: ['ratings bookinfo']\n", 1, "services.0", "does not match pattern"},
		{"duplicate key", "context: a\ncontext: b\n", 2, "", `"context" already defined`},
		{"not YAML", "services: [a\n", 1, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode("/repo/meshjoin.yaml", []byte(c.yaml))
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode(%q) = %v, want a *FileError", c.yaml, err)
			}
			if fe.File != "/repo/meshjoin.yaml" || fe.Line != c.line || fe.Field != c.field || !strings.Contains(fe.Msg, c.want) {
				t.Errorf("Decode(%q) = file %q line %d field %q msg %q; want line %d field %q msg containing %q",
					c.yaml, fe.File, fe.Line, fe.Field, fe.Msg, c.line, c.field, c.want)
			}
			if want := "/repo/meshjoin.yaml:" + strconv.Itoa(c.line) + ":"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
		})
	}
}

func TestDecodeAcceptsEveryField(t *testing.T) {
	f, err := Decode("meshjoin.yaml", []byte(`# a comment
context: kind-dev
identity: spiffe://cluster.local/ns/dev/sa/alice
services: [ratings.bookinfo, "details.bookinfo"]
certTTL: 1h30m
bareNames: false
runtime: native
envoyImage: envoyproxy/envoy:v1.40.0
mode: proxy
proxyPort: 15081
hostsFile: ./hosts
envFile: .env/mesh
idleTimeout: 2h
profiles:
  web.v2:
    identity: dev/web
    services:
      - productpage.bookinfo
    certTTL: 10m
    bareNames: true
    runtime: docker
    envoyImage: my/envoy:1
`))
	if err != nil {
		t.Fatal(err)
	}
	web := f.Profiles["web.v2"]
	if f.Context != "kind-dev" || f.Identity != "spiffe://cluster.local/ns/dev/sa/alice" || !slices.Equal(f.Services, []string{"ratings.bookinfo", "details.bookinfo"}) ||
		time.Duration(f.CertTTL) != 90*time.Minute || f.BareNames == nil || *f.BareNames || f.Runtime != "native" || f.EnvoyImage != "envoyproxy/envoy:v1.40.0" ||
		f.Mode != "proxy" || f.ProxyPort != 15081 || f.HostsFile != "./hosts" || f.EnvFile != ".env/mesh" || time.Duration(f.IdleTimeout) != 2*time.Hour ||
		web.Identity != "dev/web" || !slices.Equal(web.Services, []string{"productpage.bookinfo"}) || time.Duration(web.CertTTL) != 10*time.Minute ||
		web.BareNames == nil || !*web.BareNames || web.Runtime != "docker" || web.EnvoyImage != "my/envoy:1" {
		t.Errorf("decoded %+v, profile %+v", f, web)
	}
	for _, empty := range []string{"", "# nothing yet\n", "---\n"} {
		if f, err := Decode("meshjoin.yaml", []byte(empty)); err != nil || f.Identity != "" {
			t.Errorf("Decode(%q) = %+v, %v; want an empty file", empty, f, err)
		}
	}
}

// write creates files under dir: name → content ("" content for a directory named with a trailing /).
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFind(t *testing.T) {
	cases := []struct {
		name     string
		files    map[string]string
		cwd      string
		explicit string
		env      string
		want     string // relative to the temp dir; "" none
		wantErr  bool
	}{
		{"in the current directory", map[string]string{"repo/.git/": "", "repo/meshjoin.yaml": ""}, "repo", "", "", "repo/meshjoin.yaml", false},
		{"in a parent, below the repository root", map[string]string{"repo/.git/": "", "repo/meshjoin.yaml": "", "repo/svc/cmd/x/": ""}, "repo/svc/cmd/x", "", "", "repo/meshjoin.yaml", false},
		{"the nearest one wins", map[string]string{"repo/.git/": "", "repo/meshjoin.yaml": "", "repo/svc/meshjoin.yaml": "", "repo/svc/cmd/": ""}, "repo/svc/cmd", "", "", "repo/svc/meshjoin.yaml", false},
		{"not above the repository root", map[string]string{"meshjoin.yaml": "", "repo/.git/": "", "repo/svc/": ""}, "repo/svc", "", "", "", false},
		{"a .git file (worktree) is a root too", map[string]string{"meshjoin.yaml": "", "wt/.git": "gitdir: x", "wt/a/": ""}, "wt/a", "", "", "", false},
		{"none", map[string]string{"repo/.git/": ""}, "repo", "", "", "", false},
		{"a directory of that name is no file", map[string]string{"repo/.git/": "", "repo/meshjoin.yaml/": ""}, "repo", "", "", "", false},
		{"--config wins over the walk", map[string]string{"repo/.git/": "", "repo/meshjoin.yaml": "", "other/x.yaml": ""}, "repo", "other/x.yaml", "", "other/x.yaml", false},
		{"--config wins over the variable", map[string]string{"a.yaml": "", "b.yaml": ""}, ".", "a.yaml", "b.yaml", "a.yaml", false},
		{"the variable wins over the walk", map[string]string{"repo/.git/": "", "repo/meshjoin.yaml": "", "b.yaml": ""}, "repo", "", "b.yaml", "b.yaml", false},
		{"--config that does not exist", map[string]string{}, ".", "nope.yaml", "", "", true},
		{"a variable that does not exist", map[string]string{}, ".", "", "nope.yaml", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, c.files)
			t.Chdir(dir) // relative --config and $MESHJOIN_CONFIG are relative to the working directory
			env := c.env
			if env != "" {
				env = filepath.Join(dir, env)
			}
			t.Setenv(EnvConfig, env)
			explicit := c.explicit
			if explicit != "" {
				explicit = filepath.Join(dir, explicit)
			}
			got, err := Find(explicit, filepath.Join(dir, c.cwd))
			if (err != nil) != c.wantErr {
				t.Fatalf("Find = %q, %v; want error %v", got, err, c.wantErr)
			}
			want := ""
			if c.want != "" {
				want = filepath.Join(dir, c.want)
			}
			if got != want {
				t.Errorf("Find = %q, want %q", got, want)
			}
		})
	}
}

const teamFile = `identity: dev/shared
services: [ratings.bookinfo]
certTTL: 1h
envoyImage: team/envoy:1
envFile: .mesh.env
profiles:
  web:
    services: [productpage.bookinfo, reviews.bookinfo]
    certTTL: 30m
  ci:
    identity: ci/bot
    runtime: native
`

func TestLoadMergesTheLocalFileAndResolvesProfiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"meshjoin.yaml": teamFile,
		"meshjoin.local.yaml": `identity: dev/alice
hostsFile: my-hosts
bareNames: true
profiles:
  web:
    certTTL: 15m
  mine:
    services: [details.bookinfo]
`,
	})
	p, err := Load(filepath.Join(dir, "meshjoin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if p.LocalPath != filepath.Join(dir, "meshjoin.local.yaml") {
		t.Errorf("LocalPath = %q", p.LocalPath)
	}
	if got := p.Profiles(); !slices.Equal(got, []string{"ci", "mine", "web"}) {
		t.Errorf("Profiles() = %v", got)
	}
	yes := true
	cases := []struct {
		profile string
		want    Resolved
	}{
		{"", Resolved{Identity: "dev/alice", Services: []string{"ratings.bookinfo"}, CertTTL: time.Hour, BareNames: &yes, EnvoyImage: "team/envoy:1"}},
		// the team's profile, with the local file's change to it
		{"web", Resolved{Identity: "dev/alice", Services: []string{"productpage.bookinfo", "reviews.bookinfo"}, CertTTL: 15 * time.Minute, BareNames: &yes, EnvoyImage: "team/envoy:1"}},
		// a profile's own identity wins over the (local) top level
		{"ci", Resolved{Identity: "ci/bot", Services: []string{"ratings.bookinfo"}, CertTTL: time.Hour, BareNames: &yes, Runtime: "native", EnvoyImage: "team/envoy:1"}},
		// a profile only the local file defines
		{"mine", Resolved{Identity: "dev/alice", Services: []string{"details.bookinfo"}, CertTTL: time.Hour, BareNames: &yes, EnvoyImage: "team/envoy:1"}},
	}
	for _, c := range cases {
		t.Run("profile "+c.profile, func(t *testing.T) {
			got, err := p.Resolve(c.profile)
			if err != nil {
				t.Fatal(err)
			}
			c.want.Path, c.want.Profile = p.Path, c.profile
			c.want.HostsFile, c.want.EnvFile = filepath.Join(dir, "my-hosts"), filepath.Join(dir, ".mesh.env")
			if !equalResolved(got, c.want) {
				t.Errorf("Resolve(%q) =\n %+v\nwant\n %+v", c.profile, got, c.want)
			}
		})
	}
	_, err = p.Resolve("wbe")
	var up *UnknownProfileError
	if !errors.As(err, &up) || up.Name != "wbe" || !slices.Equal(up.Known, []string{"ci", "mine", "web"}) || up.File != p.Path {
		t.Errorf("Resolve(wbe) = %v, want an UnknownProfileError listing ci, mine, web", err)
	}
}

func equalResolved(a, b Resolved) bool {
	bn := func(p *bool) string {
		if p == nil {
			return "unset"
		}
		return map[bool]string{true: "true", false: "false"}[*p]
	}
	return a.Path == b.Path && a.Profile == b.Profile && a.Context == b.Context && a.Identity == b.Identity &&
		slices.Equal(a.Services, b.Services) && a.CertTTL == b.CertTTL && bn(a.BareNames) == bn(b.BareNames) &&
		a.Runtime == b.Runtime && a.EnvoyImage == b.EnvoyImage && a.HostsFile == b.HostsFile && a.EnvFile == b.EnvFile &&
		a.IdleTimeout == b.IdleTimeout
}

func TestResolveDefaultsAndAbsolutePaths(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"meshjoin.yaml": "hostsFile: /etc/hosts\n"})
	p, err := Load(filepath.Join(dir, "meshjoin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	if r.HostsFile != "/etc/hosts" || r.EnvFile != filepath.Join(dir, DefaultEnvFile) || r.CertTTL != 0 || r.BareNames != nil || r.Services != nil {
		t.Errorf("Resolve = %+v", r)
	}
}

func TestLoadNamesTheBrokenFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"meshjoin.yaml": teamFile, "meshjoin.local.yaml": "identity: dev/alice\nprofile: web\n"})
	_, err := Load(filepath.Join(dir, "meshjoin.yaml"))
	var fe *FileError
	if !errors.As(err, &fe) || fe.File != filepath.Join(dir, "meshjoin.local.yaml") || fe.Line != 2 || fe.Field != "profile" {
		t.Errorf("Load = %v, want the local file's line 2, field profile", err)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.As(err, &fe) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want a FileError wrapping ErrNotExist", err)
	}
}
