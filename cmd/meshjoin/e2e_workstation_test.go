//go:build !windows

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/doctor"
)

// A join through a docker CLI context (made by the real docker CLI in a config directory of
// its own, DOCKER_HOST unset) reaches the real engine, and doctor names that context and its
// endpoint; a context that points nowhere fails (join and doctor) with the context and
// endpoint named, a Next: hint, and nothing left behind.
func TestJoinThroughDockerContext(t *testing.T) {
	e := newEnv(t)
	cfgDir := t.TempDir()
	docker := func(args ...string) {
		t.Helper()
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfgDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	docker("context", "create", "mj-engine", "--docker", "host=unix:///var/run/docker.sock")
	docker("context", "create", "mj-nowhere", "--docker", "host=unix://"+filepath.Join(cfgDir, "nothing.sock"))
	docker("context", "use", "mj-engine")
	// No DOCKER_HOST nor DOCKER_CONTEXT: only the current context can lead to the engine.
	for _, k := range []string{"DOCKER_HOST", "DOCKER_CONTEXT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	e.extraEnv = []string{"DOCKER_CONFIG=" + cfgDir}
	// A range of its own: other tests' sessions may hold ratings' usual address.
	join := append(e.joinArgs("ratings.bookinfo"), "--address-range", "127.79.0.0/16")

	r := e.startJoin(join...)
	if _, err := getHTTP(e.addr("ratings.bookinfo"), 9080, "/"); err != nil {
		t.Fatalf("through context mj-engine: %v\n%s", err, r.stderr)
	}
	r.interrupt(t)
	// doctor names the engine it checked, and the context that chose it.
	_, rep, _ := e.runDoctor(e.doctorArgs("ratings.bookinfo")...)
	if v := verdicts(rep)["envoy runtime"]; v.Verdict != doctor.Pass || !strings.Contains(v.Detail, `docker context "mj-engine" (unix:///var/run/docker.sock`) {
		t.Errorf("doctor through context mj-engine: %+v", v)
	}

	e.extraEnv = []string{"DOCKER_CONFIG=" + cfgDir, "DOCKER_CONTEXT=mj-nowhere"}
	code, _, stderr := e.run(join...)
	if code != exitUnreachable || !strings.Contains(stderr, `docker context "mj-nowhere"`) ||
		!strings.Contains(stderr, "no socket at "+filepath.Join(cfgDir, "nothing.sock")) || !strings.Contains(stderr, "Next: ") ||
		!strings.Contains(stderr, "docker context use default") {
		t.Fatalf("context pointing nowhere: exit %d\n%s", code, stderr)
	}
	code, rep, _ = e.runDoctor(e.doctorArgs("ratings.bookinfo")...)
	if v := verdicts(rep)["envoy runtime"]; code != exitUnreachable || v.Verdict != doctor.Fail ||
		!strings.Contains(v.Detail, `docker context "mj-nowhere"`) || !strings.Contains(v.Detail, "nothing.sock") ||
		!strings.Contains(v.Fix, "docker context use default") {
		t.Errorf("doctor through context mj-nowhere: exit %d, %+v", code, v)
	}
	e.extraEnv = []string{"DOCKER_CONFIG=" + cfgDir, "DOCKER_CONTEXT=mj-missing"}
	code, _, stderr = e.run(join...)
	if code != exitEnvironment || !strings.Contains(stderr, `docker context "mj-missing"`) || !strings.Contains(stderr, "Next: ") {
		t.Fatalf("missing context: exit %d\n%s", code, stderr)
	}
}
