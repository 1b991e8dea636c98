//go:build !windows

package main

import (
	"context"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/daemon"
)

// Published-ports mode (Docker Desktop's, emulated) in a background session: `up` adds a
// service to the running session without a new container, and the new name answers; the
// TUI's way of removing one (the daemon's replace) closes its address, still without a new
// container; `down` leaves no listener, container or network.
func TestPublishedAddRemoveKeepsContainer(t *testing.T) {
	e := newBackgroundEnv(t)
	e.tb.EmulateDockerDesktop(t)
	upPublished := func(services ...string) string {
		return e.up(append([]string{"--envoy-network", "published"}, services...)...)
	}
	id := upPublished("ratings.bookinfo")
	st := e.state()
	if st.Network != "published" {
		t.Fatalf("state says network %q, want published", st.Network)
	}
	container := st.ContainerID
	if _, err := e.curlName("ratings.bookinfo", 9080, "/ratings/0"); err != nil {
		t.Fatal(err)
	}

	if again := upPublished("reviews.bookinfo"); again != id {
		t.Fatalf("up adding reviews: session %s, want %s", again, id)
	}
	if got := e.state().ContainerID; got != container {
		t.Fatalf("adding a service replaced the Envoy container (%.12s, was %.12s)", got, container)
	}
	if _, err := e.curlName("reviews.bookinfo", 9080, "/reviews/0"); err != nil {
		t.Fatalf("reviews by name after adding it: %v", err)
	}
	if _, err := e.curlName("ratings.bookinfo", 9080, "/ratings/0"); err != nil {
		t.Fatalf("ratings after adding reviews: %v", err)
	}
	c := inspectContainer(t, container)
	if n := len(c.HostConfig.PortBindings); n != 2 {
		t.Errorf("container publishes %d ports, want Envoy's one listener and its admin interface: %v", n, c.HostConfig.PortBindings)
	}
	for port, binds := range c.HostConfig.PortBindings {
		for _, b := range binds {
			if b.HostIP != "127.0.0.1" {
				t.Errorf("container port %s published on %q, want 127.0.0.1", port, b.HostIP)
			}
		}
	}

	ratings, reviews := e.addr("ratings.bookinfo")+":9080", e.addr("reviews.bookinfo")+":9080"
	client := daemon.NewClient(e.stateDir)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := client.AddServices(ctx, daemon.ServicesRequest{Add: []string{"ratings.bookinfo"}, Replace: true}); err != nil {
		t.Fatalf("remove reviews through the daemon: %v", err)
	}
	assertNoListener(t, reviews)
	if got := e.state().ContainerID; got != container {
		t.Fatalf("removing a service replaced the Envoy container")
	}
	if _, err := e.curlName("ratings.bookinfo", 9080, "/ratings/0"); err != nil {
		t.Fatalf("ratings after removing reviews: %v", err)
	}

	if code, out, errOut := e.run(e.args("down")...); code != 0 {
		t.Fatalf("down: exit %d\n%s%s", code, out, errOut)
	}
	e.assertNoDaemon()
	assertNoListener(t, ratings)
	// newEnv's clean-up checks that no container, network, state file or hosts line is left.
}
