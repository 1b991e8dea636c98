package envoy

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
	"github.com/meshjoin/meshjoin/testbed"
)

func newDockerRuntime(t *testing.T, opts DockerOptions) *DockerRuntime {
	t.Helper()
	d, err := NewDockerRuntime(ctxTimeout(t, 30*time.Second), opts)
	if err != nil {
		t.Fatalf("real Docker Engine needed (bash hack/start-docker.sh): %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// syncBuffer collects Envoy's output from the log-following goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDockerEndToEnd runs the real Envoy image on the real engine: a port-80 HTTP service (root
// in the container) and a TCP one through the fake gateway; then Stop removes the container.
func TestDockerEndToEnd(t *testing.T) {
	d := newDockerRuntime(t, DockerOptions{})
	ca := newTestCA(t, "mesh")
	web := svc("web.shop", HTTP, 80, "spiffe://cluster.local/ns/shop/sa/web")
	web.ListenIP = nextLoopback(t)
	db := svc("db.shop", TCP, 5432)
	db.ListenIP = web.ListenIP
	env := newMeshEnv(t, ca, nil,
		gwService{web, ca.issue(t, web.Identities[0]).tls},
		gwService{db, ca.issue(t, "spiffe://cluster.local/ns/shop/sa/db").tls})
	logs := &syncBuffer{}
	took := env.startProxy(d, testbed.EnvoyImage, logs)
	t.Logf("docker envoy: start to ready in %v", took)
	id := env.proxy.ID()

	code, body, err := get(&http.Client{Timeout: 10 * time.Second}, listenURL(web, 80)+"/shop")
	if err != nil || code != 200 || !strings.Contains(body, "sni=outbound_.80_._.web.shop.svc.cluster.local") {
		t.Fatalf("GET port 80: %d %q %v", code, body, err)
	}
	if g := tcpExchange(t, net.JoinHostPort(db.ListenIP.String(), "5432")); !strings.Contains(g, "sni=outbound_.5432_._.db.shop.svc.cluster.local") {
		t.Errorf("tcp greeting %q", g)
	}

	info, err := d.cli.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Labels[LabelManaged] != "true" || info.Config.Labels[LabelSession] == "" {
		t.Errorf("labels %v", info.Config.Labels)
	}
	if info.HostConfig.NetworkMode != "host" {
		t.Errorf("network mode %q, want host", info.HostConfig.NetworkMode)
	}
	if !slices.Contains(info.Config.Cmd, "--disable-hot-restart") {
		t.Errorf("cmd %q lacks --disable-hot-restart", info.Config.Cmd)
	}
	everything := strings.Join(append(append(info.Config.Cmd, info.Config.Env...), info.Config.Entrypoint...), " ")
	if strings.Contains(everything, env.srv.Secret()) {
		t.Error("the ADS secret is visible in the container's command line or environment")
	}
	if !strings.Contains(logs.String(), "starting main dispatch loop") {
		t.Errorf("Envoy's output did not reach ProxySpec.Logs; got %q", logs.String())
	}
	assertAdminNeedsToken(t, env.proxy)

	if err := env.proxy.Stop(ctxTimeout(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.cli.ContainerInspect(context.Background(), id); !cerrdefs.IsNotFound(err) {
		t.Errorf("container still there after Stop: %v", err)
	}
	select {
	case <-env.proxy.Done():
	case <-time.After(10 * time.Second):
		t.Error("Done not closed after Stop")
	}
}

func TestDockerImageAbsent(t *testing.T) {
	var progress bytes.Buffer
	d := newDockerRuntime(t, DockerOptions{PullOutput: &progress})
	const image = "meshjoin.local/no-such-envoy:0.0.0"
	_, err := d.Start(ctxTimeout(t, 60*time.Second), ProxySpec{SessionID: sessionID(t), Bootstrap: []byte("{}"), AdminPort: 1, AdminToken: "t", Image: image})
	if !errors.Is(err, ErrImageUnavailable) || !errContains(err, image, "--envoy-image", "docker load") {
		t.Fatalf("Start with an absent image: %v, want ErrImageUnavailable naming the image and the next step", err)
	}
	if !strings.Contains(progress.String(), "Pulling "+image) {
		t.Errorf("pull progress %q", progress.String())
	}
}

func TestDockerUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	_ = ln.Close() // a socket file nobody listens on, as after a crashed engine
	for _, c := range []struct{ host, why string }{
		{"unix://" + sock, "nothing answers on the socket " + sock},
		{"unix://" + sock + ".gone", "no socket at " + sock + ".gone"},
	} {
		_, err = NewDockerRuntime(ctxTimeout(t, 30*time.Second), DockerOptions{ClientOpts: []client.Opt{client.WithHost(c.host)}})
		var engine *EngineError
		if !errors.Is(err, ErrDockerUnreachable) || !errors.As(err, &engine) || !errContains(err, `docker context "`, c.host, c.why) {
			t.Fatalf("NewDockerRuntime with a dead engine: %v, want an EngineError naming %s: %s", err, c.host, c.why)
		}
		if next := engine.Next(); !strings.Contains(next, "start") || !strings.Contains(next, "--runtime native") {
			t.Errorf("next step: %s", next)
		}
	}
}

// TestDockerCleanup: RemoveSession removes a session's containers, and RemoveOrphans those of
// dead sessions only. The containers are created, not started: labels are what count.
func TestDockerCleanup(t *testing.T) {
	d := newDockerRuntime(t, DockerOptions{})
	ctx := ctxTimeout(t, 60*time.Second)
	create := func(session string) string {
		cfg, host := containerConfig(ProxySpec{SessionID: session, Image: testbed.EnvoyImage})
		c, err := d.cli.ContainerCreate(ctx, cfg, host, nil, nil, containerName(session))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.remove(context.Background(), c.ID) })
		return c.ID
	}
	exists := func(id string) bool {
		_, err := d.cli.ContainerInspect(ctx, id)
		return err == nil
	}
	base := sessionID(t)
	gone, alive, dead := create(base+"-gone"), create(base+"-alive"), create(base+"-dead")

	if err := d.RemoveSession(ctx, base+"-gone"); err != nil {
		t.Fatal(err)
	}
	if exists(gone) || !exists(alive) || !exists(dead) {
		t.Fatalf("after RemoveSession: gone %v alive %v dead %v", exists(gone), exists(alive), exists(dead))
	}
	// Only our dead session is declared dead: other sessions on this machine are left alone.
	removed, err := d.RemoveOrphans(ctx, func(s string) bool { return s != base+"-dead" })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{base + "-dead"}) || exists(dead) || !exists(alive) {
		t.Fatalf("RemoveOrphans removed %q; alive exists %v, dead exists %v", removed, exists(alive), exists(dead))
	}

	// A stopped container of a session does not block that session's next Envoy.
	if err := d.removeStale(ctx, base+"-alive"); err != nil || exists(alive) {
		t.Fatalf("removeStale: %v (still there: %v)", err, exists(alive))
	}
}

// TestDockerNetworkAuto: a Linux engine gets the host network. Docker Desktop (its engine's
// operating system says so) gets published ports; that answer comes from a stand-in for the
// Docker API, since no Docker Desktop runs here.
func TestDockerNetworkAuto(t *testing.T) {
	if got := newDockerRuntime(t, DockerOptions{}).Network(); got != NetworkHost {
		t.Errorf("real Linux engine: network %q, want host", got)
	}
	opts := DockerOptions{ClientOpts: []client.Opt{client.WithHost(fakeEngine(t, `{"OperatingSystem":"Docker Desktop","OSType":"linux"}`))}}
	if got := newDockerRuntime(t, opts).Network(); got != NetworkPublished {
		t.Errorf("Docker Desktop: network %q, want published", got)
	}
	opts.Network = NetworkHost
	if got := newDockerRuntime(t, opts).Network(); got != NetworkHost {
		t.Errorf("Docker Desktop with --envoy-network host: %q", got)
	}
	opts.Network = "bridge"
	if _, err := NewDockerRuntime(ctxTimeout(t, 10*time.Second), opts); err == nil {
		t.Error("network mode bridge accepted")
	}

	rootless := DockerOptions{ClientOpts: []client.Opt{client.WithHost(fakeEngine(t, `{"OperatingSystem":"Ubuntu 24.04","SecurityOptions":["name=seccomp,profile=builtin","name=rootless"]}`))}}
	if _, err := NewDockerRuntime(ctxTimeout(t, 10*time.Second), rootless); !errors.Is(err, ErrRootlessDocker) || !errContains(err, "--runtime native") {
		t.Errorf("rootless engine: %v, want ErrRootlessDocker", err)
	}
}

// fakeEngine stands in for a Docker Engine that answers /info with info; it returns the
// DOCKER_HOST for it.
func fakeEngine(t *testing.T, info string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if strings.HasSuffix(r.URL.Path, "/info") {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(info))
		}
	}))
	t.Cleanup(srv.Close)
	return "tcp://" + srv.Listener.Addr().String()
}
