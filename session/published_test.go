package session

import (
	"context"
	"net/http"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// Published mode: the forwarder outlives the Envoy container. After `docker kill` the session
// restarts the container publishing the same port, the forwarder (never told) carries the
// joined name to it again, and a service added afterwards answers without another container.
func TestPublishedForwarderHealsWithContainer(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	s := joinPublished(t, "ratings.bookinfo")
	defer s.Leave(ctx)
	killed := s.State().ContainerID
	listening := s.fwd.Addrs()
	ratings := "http://" + addrOf(s, "ratings.bookinfo") + ":9080/"

	breakAndRecover(t, ratings, func() {
		if out, err := exec.Command("docker", "kill", killed).CombinedOutput(); err != nil {
			t.Fatalf("docker kill: %v\n%s", err, out)
		}
	})
	st := s.State()
	for deadline := time.Now().Add(time.Minute); st.EnvoyRestarts < 1 && time.Now().Before(deadline); st = s.State() {
		time.Sleep(20 * time.Millisecond) // the restart operation ends after the name answers
	}
	if st.EnvoyRestarts != 1 || st.ContainerID == killed || st.EnvoyProblem != "" {
		t.Fatalf("after docker kill: container %.12s (was %.12s), %d restarts, problem %q", st.ContainerID, killed, st.EnvoyRestarts, st.EnvoyProblem)
	}
	if got := s.fwd.Addrs(); !slices.Equal(got, listening) {
		t.Errorf("forwarder listens on %v after the restart, was %v", got, listening)
	}

	if err := s.SetServices(ctx, []string{"ratings.bookinfo", "reviews.bookinfo"}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(http.DefaultClient, "http://"+addrOf(s, "reviews.bookinfo")+":9080/"); err != nil {
		t.Fatalf("service added after the restart: %v", err)
	}
	if got := s.State().ContainerID; got != st.ContainerID {
		t.Errorf("adding a service after the restart replaced the container")
	}
}
