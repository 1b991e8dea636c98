//go:build soak && linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/testbed"
)

// `make soak` (not CI): a session with a 30 s certificate under steady requests for
// -soak.duration, reporting failed requests (goal 0) and meshjoin's and Envoy's memory, open
// files and threads at the start and the end (goal: flat). meshjoin has no endpoint that
// reports its goroutines; its OS threads stand in for them. Envoy runs in a private Docker
// engine (see privateEngine): a container living ten minutes in the machine's engine would
// fail every other test's check that no meshjoin container is left behind.

var soakDuration = flag.Duration("soak.duration", 10*time.Minute, "how long TestSoak sends requests")

// procFigures are one process's resident memory, open files and threads, from /proc.
type procFigures struct {
	rssKB, files, threads int
}

func (p procFigures) String() string {
	return fmt.Sprintf("RSS %d KiB, %d open files, %d threads", p.rssKB, p.files, p.threads)
}

func figuresOf(t *testing.T, pid int) procFigures {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var f procFigures
	for _, line := range strings.Split(string(status), "\n") {
		fmt.Sscanf(line, "VmRSS: %d kB", &f.rssKB)
		fmt.Sscanf(line, "Threads: %d", &f.threads)
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	f.files = len(fds)
	return f
}

// loadAverage is the machine's 1, 5 and 15 minute load averages, from /proc/loadavg.
func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func TestSoak(t *testing.T) {
	e := newEnv(t)
	eng := startPrivateEngine(t)
	eng.loadImage(t, testbed.EnvoyImage)
	e.extraEnv = []string{"DOCKER_HOST=" + eng.host, "DOCKER_CONTEXT="}
	// Addresses of its own: the fault tests' range would be held for ten minutes.
	r := e.startJoin(append(setFlag(t, e.faultJoinArgs("ratings.bookinfo"), "--address-range", "127.88.0.0/16"), "--cert-ttl", "30s")...)
	addr := e.addr("ratings.bookinfo")
	c, err := eng.client(t).ContainerInspect(context.Background(), e.state().ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	envoyPID := c.State.Pid
	t.Logf("load average at the start: %s", loadAverage())
	meshjoinStart, envoyStart := figuresOf(t, r.cmd.Process.Pid), figuresOf(t, envoyPID)

	ctx, cancel := context.WithTimeout(context.Background(), *soakDuration)
	defer cancel()
	var mu sync.Mutex
	var sent, failed int
	var firstErr error
	var wg sync.WaitGroup
	for range 4 { // four clients, one request each every 100 ms
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := getHTTP(addr, 9080, "/")
				mu.Lock()
				sent++
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				}
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	meshjoinEnd, envoyEnd := figuresOf(t, r.cmd.Process.Pid), figuresOf(t, envoyPID)
	st := e.state()
	t.Logf("soak %s, certificate TTL 30s: %d requests, %d failed (first: %v), %d renewals", *soakDuration, sent, failed, firstErr, st.Renewals)
	t.Logf("meshjoin start: %s; end: %s", meshjoinStart, meshjoinEnd)
	t.Logf("envoy    start: %s; end: %s", envoyStart, envoyEnd)
	t.Logf("load average at the end: %s", loadAverage())
	if failed > 0 {
		t.Errorf("%d of %d requests failed; first: %v", failed, sent, firstErr)
	}
	if want := int(*soakDuration / (15 * time.Second)); st.Renewals < want/2 {
		t.Errorf("%d renewals in %s with a 30 s certificate, want about %d", st.Renewals, *soakDuration, want)
	}
	r.interrupt(t)
}
