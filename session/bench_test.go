package session

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshjoin/meshjoin/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// testAddressRange keeps these tests' listeners off the default range, which the sessions of
// other test packages (and a developer's own) use on the same machine.
var testAddressRange = netip.MustParsePrefix("127.78.0.0/16")

// benchConfig is a join of the developer identity against the shared testbed.
func benchConfig(tb testing.TB, services ...string) Config {
	bed := testbed.Shared(tb)
	rc := bed.RESTConfig(testbed.DeveloperUser)
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		tb.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	hostsFile := filepath.Join(dir, "hosts")
	os.WriteFile(hostsFile, []byte("127.0.0.1 localhost\n"), 0o644)
	return Config{
		Client: client, Dynamic: dyn, Identity: "dev/alice", Services: services,
		HostsFile: hostsFile, StateDir: filepath.Join(dir, "state"), EnvoyImage: testbed.EnvoyImage,
		AddressRange: testAddressRange,
	}
}

// BenchmarkJoin reports join-to-ready and each step (discovery, token and signing, Envoy start,
// first config, hosts), on the host network and with published ports.
func BenchmarkJoin(b *testing.B) {
	testbed.Shared(b) // started outside the measured loop
	forEachNetwork(b, func(b *testing.B, network string) {
		steps := map[string]time.Duration{}
		for b.Loop() {
			cfg := benchConfig(b, "ratings.bookinfo", "ledger.payments", "db.payments")
			cfg.EnvoyNetwork = network
			cfg.Progress = func(e Event) {
				if e.Done {
					steps[e.Step] += e.Duration
				}
			}
			s, err := Join(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := s.Leave(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		for step, d := range steps {
			b.ReportMetric(float64(d.Milliseconds())/float64(b.N), "ms/"+step)
		}
	})
}

// forEachNetwork runs f as a sub-benchmark per Docker network mode. Published mode needs
// Docker Desktop's forwarding of host.docker.internal, emulated on this Linux engine.
func forEachNetwork(b *testing.B, f func(b *testing.B, network string)) {
	for _, network := range []string{"host", "published"} {
		b.Run(network, func(b *testing.B) {
			if network == "published" {
				testbed.Shared(b).EmulateDockerDesktop(b)
			}
			f(b, network)
		})
	}
}

// BenchmarkAddService reports how long adding one service to a running session takes until its
// first successful request: a new snapshot on the host network; with published ports, a new
// filter chain and a new forwarder listener (the container stays).
func BenchmarkAddService(b *testing.B) {
	testbed.Shared(b)
	forEachNetwork(b, func(b *testing.B, network string) {
		cfg := benchConfig(b, "ratings.bookinfo")
		cfg.EnvoyNetwork = network
		s, err := Join(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Leave(context.Background())
		for b.Loop() {
			if err := s.SetServices(context.Background(), []string{"ratings.bookinfo", "web.bookinfo"}); err != nil {
				b.Fatal(err)
			}
			addr := addrOf(s, "web.bookinfo")
			for {
				if _, err := get(http.DefaultClient, "http://"+addr+":80/"); err == nil {
					break
				}
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			if err := s.SetServices(context.Background(), []string{"ratings.bookinfo"}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/add")
	})
}

func get(c *http.Client, url string) ([]byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	return body, err
}

func addrOf(s *Session, key string) string {
	for _, js := range s.Services() {
		if js.Key == key {
			return js.Addr
		}
	}
	return ""
}

// BenchmarkEnvoyKilledRecovery reports how long after `docker kill` of the Envoy container the
// joined names answer again (the session restarts it with the same certificate).
func BenchmarkEnvoyKilledRecovery(b *testing.B) {
	testbed.Shared(b)
	s, err := Join(context.Background(), benchConfig(b, "ratings.bookinfo"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Leave(context.Background())
	url := "http://" + addrOf(s, "ratings.bookinfo") + ":9080/"
	for i := 0; b.Loop(); i++ {
		id := s.State().ContainerID
		breakAndRecover(b, url, func() {
			if out, err := exec.Command("docker", "kill", id).CombinedOutput(); err != nil {
				b.Fatalf("docker kill: %v\n%s", err, out)
			}
		})
		b.StopTimer()
		for s.State().EnvoyRestarts < i+1 { // the restart operation ends after the names answer
			time.Sleep(10 * time.Millisecond)
		}
		// Each kill is measured as the first: kills within a minute of a restart otherwise
		// count as a crash loop and wait out the back-off.
		s.mu.Lock()
		s.restartStreak = 0
		s.mu.Unlock()
		b.StartTimer()
	}
}
