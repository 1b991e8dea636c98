package envoy

import (
	"context"
	"fmt"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// A container creation the engine is still carrying out is invisible to a list: the engine
// reserves the container's name when a create begins and registers the container only when
// it ends (moby daemon/create.go: newContainer reserves the name, register comes last), and it
// does not give up when the client that asked goes away. On the vfs storage driver that takes
// 350-500 ms (the image is copied). A meshjoin killed in that window leaves a container that a
// clean-up listing the session's containers at once cannot see.
//
// The name is the way in: it is deterministic (containerName), and the engine answers a
// second create of it with a conflict for as long as the first create runs or its container
// exists. So the clean-up claims the name with a tombstone, a container that is never
// started: a conflict means a container of that name exists or is being created, so it is
// removed once registered and the claim tried again; a claim that succeeds proves that no
// creation of the session's container is in flight any more, and the tombstone goes at once.

// creationWait bounds the wait for a creation in flight (the engine copying an image under
// load); past it the clean-up fails and says so, and a later `leave` tries again.
const creationWait = 2 * time.Minute

// claimPoll is how often a name still held by a creation in flight is tried again.
const claimPoll = 50 * time.Millisecond

// tombstoneCmd marks a claim container; it never runs.
const tombstoneCmd = "meshjoin-name-claim"

// settleCreation returns once no creation of session sessionID's container is in flight,
// having removed the container such a creation made. The tombstone has no image (nothing to
// copy: the engine creates it in milliseconds; moby makes a container without an image an
// empty layer, in the graph drivers and in the containerd image store alike) and carries the session's labels, so that a
// clean-up killed while it exists still has it removed by the next one.
func (d *DockerRuntime) settleCreation(ctx context.Context, sessionID string) error {
	ctx, cancel := context.WithTimeout(ctx, creationWait)
	defer cancel()
	name := containerName(sessionID)
	cfg := &container.Config{
		Cmd:    []string{tombstoneCmd},
		Labels: map[string]string{LabelManaged: "true", LabelSession: sessionID},
	}
	hostCfg := &container.HostConfig{NetworkMode: network.NetworkNone}
	for {
		created, err := d.cli.ContainerCreate(ctx, cfg, hostCfg, nil, nil, name)
		if err == nil {
			return d.remove(context.WithoutCancel(ctx), created.ID)
		}
		if !cerrdefs.IsConflict(err) {
			return fmt.Errorf("claim the container name %s (to see whether the engine still creates it): %w", name, d.engineError(err))
		}
		// The name is taken: by a container (removed here, then the name is claimed again at
		// once), or by a creation in flight (its container cannot be found by the name until
		// it is registered: try again shortly).
		rerr := d.cli.ContainerRemove(ctx, name, container.RemoveOptions{Force: true})
		if rerr == nil {
			continue
		}
		if client.IsErrConnectionFailed(rerr) {
			return fmt.Errorf("remove envoy container %s: %w", name, d.engineError(rerr))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the engine still creates or removes container %s after %s (%v): %w", name, creationWait, rerr, ctx.Err())
		case <-time.After(claimPoll):
		}
	}
}
