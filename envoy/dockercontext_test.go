package envoy

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli/context/store"
	"github.com/docker/docker/client"
)

// dockerCLI runs the real docker CLI against the config directory dir.
func dockerCLI(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// unsetenv removes key for this test and restores it afterwards.
func unsetenv(t *testing.T, key string) {
	t.Setenv(key, "")
	os.Unsetenv(key)
}

// TestDockerContextLikeTheCLI: contexts made by the real docker CLI are chosen in the CLI's
// order (DOCKER_HOST, DOCKER_CONTEXT, currentContext, default) and the chosen one reaches the
// real engine with DOCKER_HOST unset.
func TestDockerContextLikeTheCLI(t *testing.T) {
	dir := t.TempDir()
	unsetenv(t, "DOCKER_HOST")
	unsetenv(t, "DOCKER_CONTEXT")
	dockerCLI(t, dir, "context", "create", "mj-test", "--docker", "host=unix:///var/run/docker.sock")
	dockerCLI(t, dir, "context", "create", "nowhere", "--docker", "host=unix://"+filepath.Join(dir, "no.sock"))

	ep, err := resolveDockerEndpoint(dir)
	if err != nil || ep.Context != "default" || ep.Host != client.DefaultDockerHost {
		t.Fatalf("no current context: %+v %v", ep, err)
	}

	dockerCLI(t, dir, "context", "use", "mj-test")
	ep, err = resolveDockerEndpoint(dir)
	if err != nil || ep.Context != "mj-test" || ep.Host != "unix:///var/run/docker.sock" || !strings.HasSuffix(ep.Source, "config.json") {
		t.Fatalf("current context mj-test: %+v %v", ep, err)
	}
	cli, err := client.NewClientWithOpts(append(ep.opts, client.WithAPIVersionNegotiation())...)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctxTimeout(t, 30*time.Second)); err != nil {
		t.Fatalf("ping the real engine through context mj-test: %v", err)
	}

	t.Setenv("DOCKER_CONTEXT", "nowhere")
	if ep, err = resolveDockerEndpoint(dir); err != nil || ep.Context != "nowhere" || ep.Source != "DOCKER_CONTEXT" {
		t.Fatalf("DOCKER_CONTEXT wins over the config file: %+v %v", ep, err)
	}
	t.Setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
	if ep, err = resolveDockerEndpoint(dir); err != nil || ep.Context != "default" || ep.Source != "DOCKER_HOST" {
		t.Fatalf("DOCKER_HOST wins over everything: %+v %v", ep, err)
	}
}

// TestDockerContextBroken: a missing context, one without a docker endpoint and one whose
// TLS material is damaged each fail with ErrDockerContext naming the context.
func TestDockerContextBroken(t *testing.T) {
	dir := t.TempDir()
	unsetenv(t, "DOCKER_HOST")
	t.Setenv("DOCKER_CONTEXT", "gone")
	_, err := resolveDockerEndpoint(dir)
	if !errors.Is(err, ErrDockerContext) || !strings.Contains(err.Error(), `"gone"`) || !strings.Contains(err.Error(), "DOCKER_CONTEXT") {
		t.Fatalf("missing context: %v", err)
	}

	dockerCLI(t, dir, "context", "create", "tls", "--docker", "host=tcp://127.0.0.1:2376")
	t.Setenv("DOCKER_CONTEXT", "tls")
	if ep, err := resolveDockerEndpoint(dir); err != nil || ep.Host != "tcp://127.0.0.1:2376" {
		t.Fatalf("tcp context: %+v %v", ep, err)
	}
	// A ca.pem that holds no certificate, stored where the docker CLI keeps a context's TLS files.
	s := store.New(filepath.Join(dir, "contexts"), store.NewConfig(func() any { return &map[string]any{} }))
	if err := s.ResetEndpointTLSMaterial("tls", dockerEndpointName, &store.EndpointTLSData{Files: map[string][]byte{"ca.pem": []byte("junk")}}); err != nil {
		t.Fatal(err)
	}
	_, err = resolveDockerEndpoint(dir)
	if !errors.Is(err, ErrDockerContext) || !strings.Contains(err.Error(), `"tls"`) || !strings.Contains(err.Error(), "ca.pem") {
		t.Fatalf("damaged TLS material: %v", err)
	}
}
