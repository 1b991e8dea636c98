package envoy

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/docker/pkg/stdcopy"
)

// Labels on every container meshjoin starts.
const (
	LabelManaged = "io.meshjoin.managed" // "true"
	LabelSession = "io.meshjoin.session" // the session id
)

// Where the bootstrap lands inside the container.
const containerBootstrapPath = "/meshjoin-bootstrap.json"

// ErrDockerUnreachable marks a Docker Engine that does not answer.
var ErrDockerUnreachable = errors.New("docker engine unreachable")

// ErrImageUnavailable marks an Envoy image that is neither present nor pullable.
var ErrImageUnavailable = errors.New("envoy image unavailable")

// DockerOptions configure NewDockerRuntime.
type DockerOptions struct {
	// ClientOpts are applied after the docker CLI's endpoint (ResolveDockerEndpoint) and API
	// version negotiation, so they override it (e.g. client.WithHost).
	ClientOpts []client.Opt
	// PullOutput receives the progress of an image pull. Nil discards it.
	PullOutput io.Writer
	// Network is how Envoy reaches the workstation; "" means NetworkAuto.
	Network NetworkMode
}

// DockerRuntime runs Envoy in a container: on the host network (Linux engines), or on a
// bridge network of its own with each listener published on the workstation's loopback
// (Docker Desktop; see NetworkPublished and published.go).
//
// The bootstrap (which holds the ADS secret) is copied into the created container with
// CopyToContainer before it starts: it never touches the host's disk nor a command line,
// and it disappears with the container. Who can read it there can use the Docker socket, and
// so is root on this machine anyway.
//
// The container runs as root (ENVOY_UID=0 for the official image's entrypoint) so that ports
// below 1024 bind; it carries the labels LabelManaged and LabelSession for cleanup.
type DockerRuntime struct {
	cli      *client.Client
	endpoint DockerEndpoint
	pullOut  io.Writer
	network  NetworkMode // never NetworkAuto once NewDockerRuntime returns
}

// NewDockerRuntime connects to the Docker Engine the docker CLI would use (DOCKER_HOST, else
// DOCKER_CONTEXT, else the current context; see ResolveDockerEndpoint), negotiating the API
// version down to the engine's, and checks that it answers.
func NewDockerRuntime(ctx context.Context, opts DockerOptions) (*DockerRuntime, error) {
	ep, err := ResolveDockerEndpoint()
	if err != nil {
		return nil, err
	}
	copts := append(append(ep.opts, client.WithAPIVersionNegotiation()), opts.ClientOpts...)
	cli, err := client.NewClientWithOpts(copts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", ep, err)
	}
	ep.Host = cli.DaemonHost()
	d := &DockerRuntime{cli: cli, endpoint: ep, pullOut: opts.PullOutput}
	if d.pullOut == nil {
		d.pullOut = io.Discard
	}
	if err := d.Ping(ctx); err != nil {
		_ = cli.Close()
		return nil, err
	}
	mode, err := ParseNetworkMode(string(opts.Network))
	if err == nil && mode == NetworkAuto {
		mode, err = d.detectNetwork(ctx)
	}
	if err != nil {
		_ = cli.Close()
		return nil, err
	}
	d.network = mode
	return d, nil
}

// Network is the mode this runtime starts Envoy in (NetworkHost or NetworkPublished).
func (d *DockerRuntime) Network() NetworkMode { return d.network }

// Close releases the client's connections.
func (d *DockerRuntime) Close() error { return d.cli.Close() }

// Endpoint is the engine this runtime talks to, and the docker context that chose it.
func (d *DockerRuntime) Endpoint() DockerEndpoint { return d.endpoint }

// Ping checks that the engine answers (it may restart under a running session); the error
// wraps ErrDockerUnreachable and names the endpoint and context.
func (d *DockerRuntime) Ping(ctx context.Context) error {
	if _, err := d.cli.Ping(ctx); err != nil {
		if client.IsErrConnectionFailed(err) {
			return d.engineError(err)
		}
		return &EngineError{Endpoint: d.endpoint, Reason: err.Error()}
	}
	return nil
}

// engineError turns a connection failure into an EngineError naming the endpoint and context.
func (d *DockerRuntime) engineError(err error) error {
	if client.IsErrConnectionFailed(err) {
		return &EngineError{Endpoint: d.endpoint, Reason: unreachableReason(d.endpoint.Host, err)}
	}
	return err
}

// Start implements Runtime.
func (d *DockerRuntime) Start(ctx context.Context, spec ProxySpec) (Proxy, error) {
	if err := validateSpec(spec); err != nil {
		return nil, err
	}
	if spec.Image == "" {
		return nil, errors.New("start envoy: no image (pass --envoy-image)")
	}
	if err := d.ensureImage(ctx, spec.Image); err != nil {
		return nil, err
	}
	if err := d.removeStale(ctx, spec.SessionID); err != nil {
		return nil, err
	}

	cfg, hostCfg := containerConfig(spec)
	var netID string
	if d.network == NetworkPublished {
		var err error
		if netID, err = d.createNetwork(ctx, spec.SessionID); err != nil {
			return nil, err
		}
		publish(cfg, hostCfg, networkName(spec.SessionID), spec)
	}
	// Not cancelled half-way: an engine still creating when the call gives up makes a
	// container that nothing removes. A ctx ended meanwhile fails the start just after.
	created, err := d.cli.ContainerCreate(context.WithoutCancel(ctx), cfg, hostCfg, nil, nil, containerName(spec.SessionID))
	if err != nil {
		if netID != "" {
			_ = d.removeNetwork(context.WithoutCancel(ctx), netID)
		}
		return nil, fmt.Errorf("create envoy container: %w", d.engineError(err))
	}
	p := &dockerProxy{d: d, id: created.ID, network: netID, admin: adminEndpoint(spec), done: make(chan struct{})}
	fail := func(err error) (Proxy, error) {
		_ = p.removeAll(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("start envoy container: %w", err))
	}
	archive, err := bootstrapArchive(spec.Bootstrap)
	if err != nil {
		return fail(err)
	}
	if err := d.cli.CopyToContainer(ctx, created.ID, "/", archive, container.CopyToContainerOptions{}); err != nil {
		return fail(fmt.Errorf("copy bootstrap into envoy container: %w", d.engineError(err)))
	}
	if err := d.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		if perr := publishError(err, spec.Published); perr != nil {
			return fail(perr)
		}
		return fail(fmt.Errorf("start envoy container: %w", d.engineError(err)))
	}
	if spec.Started != nil {
		spec.Started()
	}

	// Logs and exit are followed until Stop (which cancels bg) or until the container ends.
	tail := newTailBuffer()
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		rc, err := d.cli.ContainerLogs(bg, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
		if err != nil {
			return
		}
		defer rc.Close()
		out := logWriter(tail, spec.Logs)
		_, _ = stdcopy.StdCopy(out, out, rc)
	}()
	go func() {
		waitC, errC := d.cli.ContainerWait(bg, created.ID, container.WaitConditionNotRunning)
		select {
		case <-waitC:
		case <-errC:
		}
		// Let the last log lines arrive before anyone reads the tail.
		select {
		case <-logsDone:
		case <-time.After(time.Second):
		}
		close(p.done)
	}()

	if err := waitAdmin(ctx, p.admin, bootstrapNodeID(spec.Bootstrap), p.done, tail); err != nil {
		_ = p.Stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("start envoy container %.12s: %w", created.ID, err)
	}
	return p, nil
}

// containerConfig is the container for spec: host network, root, labels, our flags only.
func containerConfig(spec ProxySpec) (*container.Config, *container.HostConfig) {
	return &container.Config{
			Image: spec.Image,
			// The flags start with "-": the official image's entrypoint then runs envoy with them;
			// an image whose entrypoint is envoy itself takes them as they are.
			Cmd:  envoyArgs(containerBootstrapPath, spec.LogLevel),
			User: "0:0",
			// The official image drops to uid 101 unless ENVOY_UID=0; ports < 1024 need root.
			Env: []string{"ENVOY_UID=0"},
			Labels: map[string]string{
				LabelManaged: "true",
				LabelSession: spec.SessionID,
			},
		}, &container.HostConfig{
			NetworkMode: network.NetworkHost,
			// Not AutoRemove: if Envoy dies its logs stay readable until Stop or cleanup.
		}
}

// bootstrapArchive is a tar holding the bootstrap, owned by root and readable by root only.
func bootstrapArchive(bootstrap []byte) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Name:    containerBootstrapPath[1:],
		Mode:    0o600,
		Size:    int64(len(bootstrap)),
		ModTime: time.Now(),
		Uid:     0,
		Gid:     0,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bootstrap); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// ensureImage checks the image is present, and else pulls it with progress to PullOutput.
func (d *DockerRuntime) ensureImage(ctx context.Context, ref string) error {
	_, err := d.cli.ImageInspect(ctx, ref)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect envoy image %s: %w", ref, d.engineError(err))
	}
	fmt.Fprintf(d.pullOut, "Pulling %s\n", ref)
	rc, err := d.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err == nil {
		err = jsonmessage.DisplayJSONMessagesStream(rc, d.pullOut, 0, false, nil)
		_ = rc.Close()
	}
	if err != nil {
		if client.IsErrConnectionFailed(err) {
			return d.engineError(err)
		}
		return fmt.Errorf("%w: %s is not on this machine and pulling it failed: %v; "+
			"pass --envoy-image with an image that is present (see `docker images`), or load it (`docker load -i <file>`)",
			ErrImageUnavailable, ref, err)
	}
	return nil
}

// RemoveSession removes every container of session sessionID, running or not, including one
// the engine is still creating for a meshjoin that died meanwhile (see settleCreation).
func (d *DockerRuntime) RemoveSession(ctx context.Context, sessionID string) error {
	if err := d.settleCreation(ctx, sessionID); err != nil {
		return err
	}
	list, err := d.list(ctx, filters.NewArgs(
		filters.Arg("label", LabelManaged+"=true"),
		filters.Arg("label", LabelSession+"="+sessionID),
	))
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range list {
		errs = append(errs, d.remove(ctx, c.ID))
	}
	errs = append(errs, d.removeNetworks(ctx, func(session string) bool { return session == sessionID }))
	return errors.Join(errs...)
}

// RemoveOrphans removes the meshjoin containers whose session alive reports dead (a crashed
// meshjoin leaves its Envoy running on the host network) and returns their session ids. A
// creation still in flight is not seen here; RemoveSession, told the session, waits for it.
func (d *DockerRuntime) RemoveOrphans(ctx context.Context, alive func(sessionID string) bool) ([]string, error) {
	list, err := d.list(ctx, filters.NewArgs(filters.Arg("label", LabelManaged+"=true")))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, c := range list {
		session := c.Labels[LabelSession]
		if alive(session) {
			continue
		}
		if err := d.remove(ctx, c.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, session)
	}
	errs = append(errs, d.removeNetworks(ctx, func(session string) bool { return !alive(session) }))
	return removed, errors.Join(errs...)
}

// removeStale removes stopped containers of this session (an Envoy that died earlier keeps
// its name) and refuses to start a second Envoy beside a running one.
func (d *DockerRuntime) removeStale(ctx context.Context, sessionID string) error {
	list, err := d.list(ctx, filters.NewArgs(
		filters.Arg("label", LabelManaged+"=true"),
		filters.Arg("label", LabelSession+"="+sessionID),
	))
	if err != nil {
		return err
	}
	for _, c := range list {
		if c.State == container.StateRunning {
			return fmt.Errorf("an Envoy of session %s already runs in container %.12s", sessionID, c.ID)
		}
		if err := d.remove(ctx, c.ID); err != nil {
			return err
		}
	}
	return nil
}

func (d *DockerRuntime) list(ctx context.Context, f filters.Args) ([]container.Summary, error) {
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list meshjoin containers: %w", d.engineError(err))
	}
	return list, nil
}

func (d *DockerRuntime) remove(ctx context.Context, id string) error {
	err := d.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err):
		// "removal ... already in progress": someone else (docker rm, another meshjoin) is
		// removing it; done once it is gone.
		return d.waitGone(ctx, id)
	default:
		return fmt.Errorf("remove envoy container %.12s: %w", id, d.engineError(err))
	}
}

// waitGone polls until the container no longer exists (10 s at most).
func (d *DockerRuntime) waitGone(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, err := d.cli.ContainerInspect(ctx, id)
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("envoy container %.12s is still being removed: %w", id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

func containerName(sessionID string) string {
	return "meshjoin-envoy-" + unsafeName.ReplaceAllString(sessionID, "-")
}

type dockerProxy struct {
	d       *DockerRuntime
	id      string
	network string // the session's own network (NetworkPublished), else ""
	admin   AdminEndpoint
	done    chan struct{}
	cancel  context.CancelFunc
	once    sync.Once
	err     error
}

func (p *dockerProxy) ID() string            { return p.id }
func (p *dockerProxy) Admin() AdminEndpoint  { return p.admin }
func (p *dockerProxy) Done() <-chan struct{} { return p.done }

// Stop stops the container (SIGTERM, then SIGKILL after the grace period) and removes it.
func (p *dockerProxy) Stop(ctx context.Context) error {
	p.once.Do(func() {
		grace := int(stopGrace / time.Second)
		stopErr := p.d.cli.ContainerStop(ctx, p.id, container.StopOptions{Timeout: &grace})
		// What matters is that the container is gone: a failed stop (it died, or Docker is
		// already removing it) is only worth reporting when the removal fails too.
		if err := p.removeAll(ctx); err != nil {
			if stopErr != nil && !cerrdefs.IsNotFound(stopErr) {
				err = errors.Join(fmt.Errorf("stop envoy container %.12s: %w", p.id, p.d.engineError(stopErr)), err)
			}
			p.err = err
		}
		if p.cancel != nil {
			p.cancel()
		}
	})
	return p.err
}

// removeAll removes the container, then its network (which Docker refuses while in use).
func (p *dockerProxy) removeAll(ctx context.Context) error {
	if err := p.d.remove(ctx, p.id); err != nil {
		return err
	}
	if p.network == "" {
		return nil
	}
	return p.d.removeNetwork(ctx, p.network)
}
