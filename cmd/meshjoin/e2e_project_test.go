//go:build !windows

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/project"
	"github.com/meshjoin/meshjoin/testbed"
)

// writeProject writes a project file (and a local one when local != "") into a temp dir and
// makes every meshjoin of e read it through $MESHJOIN_CONFIG.
func (e *env) writeProject(content, local string) string {
	e.t.Helper()
	path := filepath.Join(e.t.TempDir(), project.FileName)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if local != "" {
		if err := os.WriteFile(project.LocalPath(path), []byte(local), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	e.extraEnv = append(e.extraEnv, project.EnvConfig+"="+path, "MESHJOIN_IDENTITY=")
	return path
}

// join with no flags but the test's own places: identity, services, image and hosts file come
// from the project file and its local companion, the profile's services replacing the top level's.
func TestJoinFromTheProjectFile(t *testing.T) {
	e := newEnv(t)
	e.writeProject(`identity: dev/nobody
services: [reviews.bookinfo]
envoyImage: `+testbed.EnvoyImage+`
hostsFile: `+e.hostsFile+`
profiles:
  web:
    services: [ratings.bookinfo, productpage.bookinfo]
`, "identity: dev/alice\n")
	// Its own address range: sessions of other tests on this machine use the default one.
	r := e.startJoin(e.args("join", "--sudo", "never", "--profile", "web", "--address-range", "127.79.0.0/16")...)
	st := e.state()
	var keys []string
	for _, s := range st.Services {
		keys = append(keys, s.Key)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"productpage.bookinfo", "ratings.bookinfo"}) {
		t.Errorf("joined %v, want the profile's services", keys)
	}
	if !strings.HasSuffix(st.Identity, "/ns/dev/sa/alice") {
		t.Errorf("identity %q, want the local file's dev/alice", st.Identity)
	}
	hostsNow, err := os.ReadFile(e.hostsFile)
	if err != nil || !strings.Contains(string(hostsNow), "ratings.bookinfo") {
		t.Errorf("the project file's hostsFile was not written: %q %v", hostsNow, err)
	}
	if _, err := getHTTP(e.addr("ratings.bookinfo"), 9080, "/ratings/0"); err != nil {
		t.Errorf("ratings through the joined address: %v", err)
	}
	r.interrupt(t)
}

func TestProjectFileMistakes(t *testing.T) {
	const good = "identity: dev/alice\nservices: [ratings.bookinfo]\nprofiles:\n  web: {services: [productpage.bookinfo]}\n  ci: {runtime: native}\n"
	cases := []struct {
		name, file, local string
		args              []string
		msg, hint         []string
	}{
		{"unknown profile", good, "", []string{"--profile", "wbe"}, []string{`no profile "wbe"`}, []string{"ci, web"}},
		{"malformed project file", "identity: dev/alice\nservices: [ratings.bookinfo]\ncertTTL: 1 hour\n", "", nil,
			[]string{"meshjoin.yaml:3:10: certTTL:", `"1 hour" is not a positive duration`}, []string{"fix the project file"}},
		{"unknown field in the local file", good, "profiles:\n  web:\n    service: x\n", []string{"--profile", "web"},
			[]string{"meshjoin.local.yaml:3:5: profiles.web.service: unknown field"}, []string{"fix the project file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.writeProject(c.file, c.local)
			signed := e.tb.CASigned()
			args := e.args(append([]string{"join", "--hosts-file", e.hostsFile, "--envoy-image", testbed.EnvoyImage, "--sudo", "never"}, c.args...)...)
			f := e.joinFails(e.extraEnv, args...)
			f.check(t, exitUsage, c.msg, c.hint)
			if n := e.tb.CASigned() - signed; n != 0 {
				t.Errorf("the CA signed %d certificates for a bad project file", n)
			}
		})
	}
}

func TestInit(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, project.FileName)
	e.extraEnv = []string{"MESHJOIN_IDENTITY="}

	t.Run("writes the services named, checked against the mesh", func(t *testing.T) {
		code, stdout, stderr := e.run(e.args("init", "--config", path, "--identity", "dev/alice", "ratings", "-n", "bookinfo", "reviews.bookinfo")...)
		if code != 0 {
			t.Fatalf("init exited %d:\n%s", code, stderr)
		}
		if !strings.Contains(stdout, "Wrote "+path+" with 2 services") || !strings.Contains(stderr, "meshjoin.local.yaml") {
			t.Errorf("output:\n%s\n%s", stdout, stderr)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(data), project.SchemaComment+"\n") {
			t.Errorf("no schema comment first:\n%s", data)
		}
		f, err := project.Decode(path, data) // strict, and checked against the published schema
		if err != nil {
			t.Fatalf("the written file does not validate: %v\n%s", err, data)
		}
		if f.Identity != "dev/alice" || !slices.Equal(f.Services, []string{"ratings.bookinfo", "reviews.bookinfo"}) {
			t.Errorf("wrote %+v", f)
		}
	})

	t.Run("never overwrites", func(t *testing.T) {
		before, _ := os.ReadFile(path)
		code, _, stderr := e.run(e.args("init", "--config", path, "reviews.bookinfo")...)
		if code != exitUsage || !strings.Contains(stderr, "already exists") || !strings.Contains(stderr, "Next:") {
			t.Errorf("exit %d:\n%s", code, stderr)
		}
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Errorf("the file changed:\n%s", after)
		}
	})

	other := filepath.Join(dir, "other.yaml")
	for _, c := range []struct {
		name      string
		args      []string
		msg, hint string
	}{
		{"an unknown service", []string{"ratngs.bookinfo"}, "did you mean ratings.bookinfo", "meshjoin services"},
		{"a service that cannot be joined", []string{"legacy-api.legacy"}, "not reachable through the east-west gateway", "meshjoin services"},
		{"no services and no terminal", nil, "no services named", "meshjoin init ratings.bookinfo"},
		{"a bad identity", []string{"--identity", "alice", "ratings.bookinfo"}, `invalid identity "alice"`, "--identity dev/alice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := e.run(e.args(append([]string{"init", "--config", other}, c.args...)...)...)
			if code != exitUsage || !strings.Contains(stderr, c.msg) || !strings.Contains(stderr, "Next: ") || !strings.Contains(stderr, c.hint) {
				t.Errorf("exit %d, want %d with %q and Next: %q:\n%s%s", code, exitUsage, c.msg, c.hint, stdout, stderr)
			}
			if _, err := os.Stat(other); err == nil {
				t.Errorf("%s written by a failed init", other)
			}
		})
	}
}

// On a terminal, init without names lists the joinable services and takes numbers or names.
func TestInitPicksOnATerminal(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), project.FileName)
	args := append([]string{binary(t)}, e.args("init", "--config", path, "--identity", "dev/alice")...)
	exitFile := filepath.Join(t.TempDir(), "exit")
	command := fmt.Sprintf("env -u MESHJOIN_IDENTITY -u MESHJOIN_CONFIG %s; echo $? > %s; echo EXITED; sleep 600", shellQuote(args), exitFile)
	tm := startTmux(t, 100, 40, command)
	scr := tm.waitText("Services to join", 60*time.Second)
	m := regexp.MustCompile(`(\d+)  ratings\.bookinfo`).FindStringSubmatch(scr)
	if m == nil || strings.Contains(scr, "legacy-api") {
		t.Fatalf("the list does not offer ratings.bookinfo, or offers a service that cannot be joined:\n%s", scr)
	}
	tm.text(m[1] + " reviews.bookinfo")
	tm.keys("Enter")
	scr = tm.waitText("EXITED", 30*time.Second)
	if code, _ := os.ReadFile(exitFile); strings.TrimSpace(string(code)) != "0" {
		t.Fatalf("exit %s:\n%s", code, scr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := project.Decode(path, data)
	if err != nil || !slices.Equal(f.Services, []string{"ratings.bookinfo", "reviews.bookinfo"}) {
		t.Errorf("wrote %+v (%v):\n%s", f, err, data)
	}
}
