//go:build linux

package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/meshjoin/meshjoin/session"
	"github.com/meshjoin/meshjoin/testbed"
)

// joinFigures are medians over the joins measured.
type joinFigures struct {
	joins     int
	join      time.Duration            // Join called to Join returned: names resolve, listeners serve
	parts     map[string]time.Duration // each step, as the join's timing report has it
	bare      time.Duration            // a bare Envoy container: create, start, admin answers
	partOrder []string
}

// measureJoins times n cold joins of the three services on the host network (image present),
// each beside a bare Envoy container start from the same image, alternating so that both
// see the same machine.
func measureJoins(b *testing.B, n int) joinFigures {
	var joins, bares []time.Duration
	parts := map[string][]time.Duration{}
	var order []string
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	for i := range n + 1 { // the first of each warms caches and is not counted
		bare := bareEnvoyStart(b, cli)
		cfg := sessionConfig(b, joinRange, session.RuntimeDocker, serviceKeys...)
		cfg.Progress = func(e session.Event) {
			if e.Done && i > 0 {
				parts[e.Step] = append(parts[e.Step], e.Duration)
				if !slices.Contains(order, e.Step) {
					order = append(order, e.Step)
				}
			}
		}
		start := time.Now()
		s, err := session.Join(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		if err := s.Leave(context.Background()); err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			joins, bares = append(joins, d), append(bares, bare)
		}
	}
	f := joinFigures{joins: n, join: median(joins), bare: median(bares), parts: map[string]time.Duration{}, partOrder: order}
	for step, ds := range parts {
		f.parts[step] = median(ds)
	}
	return f
}

// bareEnvoyStart is the floor a join stands on: the same image on the host network with only
// an admin listener, from ContainerCreate until the admin interface answers.
func bareEnvoyStart(b *testing.B, cli *client.Client) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	port := freePort(b)
	yaml := fmt.Sprintf("admin: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}", port)
	start := time.Now()
	created, err := cli.ContainerCreate(ctx, &container.Config{
		Image: testbed.EnvoyImage, User: "0:0", Env: []string{"ENVOY_UID=0"},
		Cmd: []string{"--config-yaml", yaml, "--disable-hot-restart", "--concurrency", "2", "--log-level", "warning"},
	}, &container.HostConfig{NetworkMode: network.NetworkHost}, nil, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	defer cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		b.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/ready", port)
	for {
		if resp, err := http.Get(url); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(body)) == "LIVE" {
				return time.Since(start)
			}
		}
		select {
		case <-ctx.Done():
			b.Fatalf("bare Envoy container not ready: %v", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
