package envoy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/meshjoin/meshjoin/testbed"
)

// TestDockerRemoveSessionDuringCreate: a clean-up that runs while the engine still creates the
// session's container (a meshjoin killed during its ContainerCreate) waits for that creation
// and removes its container. The creation copies the Envoy image (vfs: hundreds of
// milliseconds); the clean-up begins at several points of it. A list alone sees nothing there.
func TestDockerRemoveSessionDuringCreate(t *testing.T) {
	d := newDockerRuntime(t, DockerOptions{})
	ctx := ctxTimeout(t, 5*time.Minute)
	if err := d.ensureImage(ctx, testbed.EnvoyImage); err != nil {
		t.Fatal(err)
	}
	// Where the clean-up begins after the create was sent: the killed meshjoin's request is
	// with the engine before `leave` or the next join can start.
	offsets := []time.Duration{25 * time.Millisecond, 75 * time.Millisecond, 150 * time.Millisecond, 250 * time.Millisecond}
	inFlight := 0
	for round := range 2 {
		for _, offset := range offsets {
			session := fmt.Sprintf("%s-%d-%d", sessionID(t), round, offset.Milliseconds())
			type result struct {
				id  string
				err error
				at  time.Time
			}
			created := make(chan result, 1)
			go func() {
				cfg, host := containerConfig(ProxySpec{SessionID: session, Image: testbed.EnvoyImage})
				c, err := d.cli.ContainerCreate(context.WithoutCancel(ctx), cfg, host, nil, nil, containerName(session))
				created <- result{c.ID, err, time.Now()}
			}()
			time.Sleep(offset)
			cleanupStart := time.Now()
			cleanupErr := d.RemoveSession(ctx, session)
			r := <-created
			if r.id != "" {
				t.Cleanup(func() { _ = d.remove(context.Background(), r.id) })
			}
			if cleanupErr != nil {
				t.Fatalf("RemoveSession at +%s: %v", offset, cleanupErr)
			}
			if r.err == nil && r.at.After(cleanupStart) {
				inFlight++ // the creation was in flight when the clean-up began, and succeeded
			}
			left, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelSession+"="+session))})
			if err != nil {
				t.Fatal(err)
			}
			if len(left) > 0 {
				t.Fatalf("clean-up at +%s of the creation (created %v, err %v): %d container(s) left, e.g. %.12s %v",
					offset, r.id != "", r.err, len(left), left[0].ID, left[0].Names)
			}
			t.Logf("clean-up at +%s: creation err %v, ended %s after the clean-up began", offset, r.err, r.at.Sub(cleanupStart).Round(time.Millisecond))
		}
	}
	// The test proves something only when it met creations in flight.
	if inFlight == 0 {
		t.Fatal("no creation was still in flight when its clean-up began: the race was never exercised")
	}
}
