//go:build linux

package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/session"
	"github.com/meshjoin/meshjoin/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// Address ranges of this package's sessions, apart from other packages' tests and the default.
var (
	dockerRange = netip.MustParsePrefix("127.84.0.0/16")
	nativeRange = netip.MustParsePrefix("127.85.0.0/16")
	joinRange   = netip.MustParsePrefix("127.86.0.0/16")
	referenceIP = "127.87.0.1"
)

// The three services measured, one per protocol.
var serviceKeys = []string{"ratings.bookinfo", "ledger.payments", "db.payments"}

// AddServiceEnv names a file holding `go test -bench AddService ./session` output; its
// published-ports figure goes in the table (make bench runs that benchmark first).
const AddServiceEnv = "MESHJOIN_BENCH_ADDSERVICE"

// ScaleMemoryEnv names a file holding `go test -bench ScaleMemory ./cmd/meshjoin` output: the
// background session's memory at 10,000 services (make bench runs it first).
const ScaleMemoryEnv = "MESHJOIN_BENCH_SCALEMEMORY"

// For quicker runs while tuning: MESHJOIN_BENCH_PROTOCOLS=http (a comma list of http, grpc,
// tcp) measures only those, MESHJOIN_BENCH_JOINS=0 skips the joins. make bench sets neither.
const (
	protocolsEnv = "MESHJOIN_BENCH_PROTOCOLS"
	joinsEnv     = "MESHJOIN_BENCH_JOINS"
)

// A mode is one load: a fixed rate (0: as fast as the connections go) on conns connections.
type mode struct {
	name  string
	rate  int
	conns int
	d     time.Duration
}

var modes = []mode{
	{"200/s, 1 conn", 200, 1, 3 * time.Second},
	{"200/s, 8 conns", 200, 8, 3 * time.Second},
	{"max, 8 conns", 0, 8, 4 * time.Second},
}

// A path is one way from the client to the gateway, with the processes it adds.
type path struct {
	name  string
	entry func(w testbed.Workload, p testbed.Port) target
	procs []process              // the path's own Envoy, if any
	stats func() ([]byte, error) // that Envoy's /stats, if any
}

type result struct {
	m        vegeta.Metrics
	cpu      map[string]time.Duration
	upstream envoyCounters
}

// BenchmarkFigures measures, in one run, everything issue 13's table asks for and prints it
// beside its goal: the data path per protocol and path (latency at a fixed low rate on 1 and 8
// connections, maximum throughput, CPU time per request of each process, upstream TLS
// handshakes), the cold join against a bare Envoy container start, and the published-ports
// add-a-service figure when the session benchmark's output is given (AddServiceEnv).
//
//	go test ./bench -run '^$' -bench Figures -benchtime 1x -timeout 20m
func BenchmarkFigures(b *testing.B) {
	bed := testbed.Shared(b)
	joinCount := 5
	if n, err := strconv.Atoi(os.Getenv(joinsEnv)); err == nil {
		joinCount = n
	}
	for b.Loop() {
		var joins joinFigures
		if joinCount > 0 {
			joins = measureJoins(b, joinCount)
		}
		data := measureDataPath(b, bed)
		b.StopTimer()
		printFigures(os.Stdout, data, joins)
		b.StartTimer()
	}
}

// measureDataPath sets up the four paths and runs every mode on each, protocol by protocol;
// within a mode the paths run one after another so that they see the same machine.
func measureDataPath(b *testing.B, bed *testbed.Testbed) map[string]map[string]map[string]result {
	caller := testbed.SPIFFEID(bed.TrustDomain, testbed.DeveloperIdentity.Namespace, testbed.DeveloperIdentity.ServiceAccount)
	kp, err := bed.CA.NewKeyPair(testbed.LeafOptions{URIs: []string{caller}, Client: true})
	if err != nil {
		b.Fatal(err)
	}
	paths := []path{{name: "direct mTLS", entry: func(w testbed.Workload, p testbed.Port) target {
		alpn := istioALPN(p.Protocol)
		if p.Protocol == testbed.ProtocolTCP {
			alpn = []string{"istio"}
		}
		return target{dial: mtlsDialer(bed, kp.TLSCertificate(), w, p, alpn), url: fmt.Sprintf("http://%s:%d", w.Host(), p.Number)}
	}}}
	for _, rt := range []struct {
		name, runtime string
		rng           netip.Prefix
	}{{"meshjoin (docker)", session.RuntimeDocker, dockerRange}, {"meshjoin (native)", session.RuntimeNative, nativeRange}} {
		s, err := session.Join(context.Background(), sessionConfig(b, rt.rng, rt.runtime, serviceKeys...))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Leave(context.Background()) })
		st := s.State()
		pid := st.EnvoyPID
		if rt.runtime == session.RuntimeDocker {
			if pid, err = containerPID(st.ContainerID); err != nil {
				b.Fatal(err)
			}
		}
		admin := envoy.AdminEndpoint{Addr: st.AdminAddr, Token: st.AdminToken}
		addrs := map[string]string{}
		for _, js := range s.Services() {
			addrs[js.Key] = js.Addr
		}
		paths = append(paths, path{
			name:  rt.name,
			entry: func(w testbed.Workload, p testbed.Port) target { return localTarget(addrs[w.Key()], p.Number) },
			procs: []process{{"local Envoy", pid}},
			stats: func() ([]byte, error) { return admin.Get(context.Background(), http.DefaultClient, "/stats") },
		})
	}
	var refs []refService
	for _, key := range serviceKeys {
		w := bed.Workload(key)
		refs = append(refs, refService{workload: w, port: w.Ports[0], listen: referenceIP})
	}
	boot, err := referenceBootstrap(freePort(b), bed.GatewayIP, refs, kp, bed.RootPEM, bed.TrustDomain)
	if err != nil {
		b.Fatal(err)
	}
	ref := startReference(b, boot)
	paths = append(paths, path{
		name:  "reference sidecar",
		entry: func(_ testbed.Workload, p testbed.Port) target { return localTarget(referenceIP, p.Number) },
		procs: []process{{"local Envoy", ref.cmd.Process.Pid}},
		stats: func() ([]byte, error) { return ref.get("/stats") },
	})

	pids := bed.PIDs()
	out := map[string]map[string]map[string]result{}
	for _, key := range serviceKeys {
		w := bed.Workload(key)
		p := w.Ports[0]
		if only := os.Getenv(protocolsEnv); only != "" && !slices.Contains(strings.Split(only, ","), p.Protocol) {
			continue
		}
		out[p.Protocol] = map[string]map[string]result{}
		common := []process{{"bench process", os.Getpid()}, {"gateway", pids["east-west-gateway"]}, {"sidecar", pids["sidecar-"+key]}}
		targets := map[string]target{}
		for _, pa := range paths {
			t := pa.entry(w, p)
			t.path, t.protocol = pa.name, p.Protocol
			if err := check(t, key, caller); err != nil {
				b.Fatal(err)
			}
			run(t, 0, 8, 500*time.Millisecond) // warm-up: connections, pools, caches
			targets[pa.name] = t
			out[p.Protocol][pa.name] = map[string]result{}
		}
		for _, m := range modes {
			for _, pa := range paths {
				var before envoyCounters
				if pa.stats != nil {
					raw, err := pa.stats()
					if err != nil {
						b.Fatal(err)
					}
					before = parseEnvoyCounters(raw)
				}
				meter, err := startCPU(append(append([]process(nil), common...), pa.procs...))
				if err != nil {
					b.Fatal(err)
				}
				met := run(targets[pa.name], m.rate, m.conns, m.d)
				cpu, err := meter.perRequest(met.Requests)
				if err != nil {
					b.Fatal(err)
				}
				r := result{m: met, cpu: cpu}
				if pa.stats != nil {
					raw, err := pa.stats()
					if err != nil {
						b.Fatal(err)
					}
					r.upstream = parseEnvoyCounters(raw).minus(before)
				}
				if met.Success < 1 {
					b.Errorf("%s %s %s: %.2f%% succeeded: %v", p.Protocol, pa.name, m.name, 100*met.Success, met.Errors)
				}
				out[p.Protocol][pa.name][m.name] = r
			}
		}
	}
	return out
}

func localTarget(ip string, port uint32) target {
	addr := net.JoinHostPort(ip, strconv.Itoa(int(port)))
	return target{dial: plainDialer(addr), url: "http://" + addr}
}

// sessionConfig is a join of the developer identity against the shared testbed.
func sessionConfig(b *testing.B, rng netip.Prefix, runtime string, services ...string) session.Config {
	bed := testbed.Shared(b)
	rc := bed.RESTConfig(testbed.DeveloperUser)
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		b.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	hostsFile := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hostsFile, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg := session.Config{
		Client: client, Dynamic: dyn, Identity: "dev/alice", Services: services,
		HostsFile: hostsFile, StateDir: filepath.Join(dir, "state"), EnvoyImage: testbed.EnvoyImage,
		AddressRange: rng, Runtime: runtime,
	}
	if runtime == session.RuntimeDocker {
		cfg.EnvoyNetwork = "host"
	} else {
		if cfg.EnvoyPath, err = testbed.EnvoyBinary(); err != nil {
			b.Fatal(err)
		}
	}
	return cfg
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var protocolTitles = map[string]string{
	testbed.ProtocolHTTP: "HTTP/1.1 (ratings.bookinfo:9080)",
	testbed.ProtocolGRPC: "gRPC unary, h2c in / h2 upstream (ledger.payments:7070)",
	testbed.ProtocolTCP:  "TCP, a line and its echo (db.payments:3306)",
}

var pathOrder = []string{"direct mTLS", "meshjoin (docker)", "meshjoin (native)", "reference sidecar"}

func printFigures(w io.Writer, data map[string]map[string]map[string]result, j joinFigures) {
	fmt.Fprintf(w, "\n== meshjoin data path (vegeta; latency p50 / p90 / p99 in ms; CPU µs per request from /proc/<pid>/stat) ==\n")
	for _, proto := range []string{testbed.ProtocolHTTP, testbed.ProtocolGRPC, testbed.ProtocolTCP} {
		if data[proto] == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", protocolTitles[proto])
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "path\t200/s, 1 conn\t200/s, 8 conns\tmax req/s (8 conns)\tCPU µs/req at max: local Envoy | gateway | sidecar | bench process\tupstream at max: TLS handshakes / connections / requests")
		for _, pa := range pathOrder {
			r := data[proto][pa]
			mx := r["max, 8 conns"]
			local, up := "-", "-"
			if c, ok := mx.cpu["local Envoy"]; ok {
				local = us(c)
			}
			if pa != "direct mTLS" {
				up = fmt.Sprintf("%d / %d / %d", mx.upstream.handshakes, mx.upstream.connections, mx.upstream.requests)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s | %s | %s | %s\t%s\n", pa, lat(r["200/s, 1 conn"].m), lat(r["200/s, 8 conns"].m), mx.m.Throughput,
				local, us(mx.cpu["gateway"]), us(mx.cpu["sidecar"]), us(mx.cpu["bench process"]), up)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\n(bench process = the load generator and the echo apps, one process; a TCP request is one line and its echo on a kept connection)\n")

	fmt.Fprintf(w, "\n== join (median of %d cold joins of the three services, Docker, host network, image present) ==\n", j.joins)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, step := range j.partOrder {
		fmt.Fprintf(tw, "%s\t%s\n", step, ms(j.parts[step]))
	}
	fmt.Fprintf(tw, "join to ready\t%s\nbare Envoy container (create, start, admin answers)\t%s\n", ms(j.join), ms(j.bare))
	tw.Flush()

	http := data[testbed.ProtocolHTTP]
	direct, local := http["direct mTLS"]["200/s, 8 conns"].m.Latencies, http["meshjoin (docker)"]["200/s, 8 conns"].m.Latencies
	dmax, lmax := http["direct mTLS"]["max, 8 conns"].m.Throughput, http["meshjoin (docker)"]["max, 8 conns"].m.Throughput
	fmt.Fprintf(w, "\n== issue 13: figures beside their goals (this run, this machine) ==\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tmeasured\tgoal")
	fmt.Fprintf(tw, "local hop vs direct mTLS, HTTP/1.1, 8 conns at 200/s, p50 / p99\t%+.2f ms / %+.2f ms (%s vs %s / %s vs %s)\t≤ +0.15 ms / ≤ +0.5 ms\n",
		msf(local.P50-direct.P50), msf(local.P99-direct.P99), ms(local.P50), ms(direct.P50), ms(local.P99), ms(direct.P99))
	fmt.Fprintf(tw, "throughput through the local Envoy vs direct, HTTP/1.1, 8 conns\t%.0f vs %.0f req/s (%.2f×)\t≥ 0.85×\n", lmax, dmax, lmax/dmax)
	fmt.Fprintf(tw, "cold join vs a bare Envoy container start\t%s vs %s (%.2f×)\t≤ 1.1×\n", ms(j.join), ms(j.bare), float64(j.join)/float64(j.bare))
	fmt.Fprintf(tw, "add a service, published-ports mode\t%s\t≤ 150 ms\n", addServiceFigure())
	fmt.Fprintf(tw, "meshjoin RSS with 10,000 services\t%s\t≤ 120 MB\n", scaleMemoryFigure())
	tw.Flush()
}

// addServiceFigure reads the published-ports sub-benchmark of session's BenchmarkAddService
// from the file AddServiceEnv names: its own ms/add when it reports one, else ns/op.
func addServiceFigure() string {
	const bench = "BenchmarkAddService/published"
	if v, err := benchMetric(AddServiceEnv, bench, "ms/add"); err == nil {
		return ms(time.Duration(v*float64(time.Millisecond))) + " (session " + bench + ")"
	}
	v, err := benchMetric(AddServiceEnv, bench, "ns/op")
	if err != nil {
		return err.Error()
	}
	return ms(time.Duration(v)) + " (session " + bench + ")"
}

// scaleMemoryFigure reads cmd/meshjoin's BenchmarkScaleMemory from the file ScaleMemoryEnv
// names: RSS, and its two parts.
func scaleMemoryFigure() string {
	var mb [3]float64
	for i, unit := range []string{"MB-rss", "MB-anon", "MB-file"} {
		v, err := benchMetric(ScaleMemoryEnv, "BenchmarkScaleMemory", unit)
		if err != nil {
			return err.Error()
		}
		mb[i] = v
	}
	return fmt.Sprintf("%.1f MB (own %.1f MB + executable's pages %.1f MB; cmd/meshjoin BenchmarkScaleMemory)", mb[0], mb[1], mb[2])
}

// benchMetric is the value before unit on the first line of benchmark output starting with
// name, in the file the environment variable env names.
func benchMetric(env, name, unit string) (float64, error) {
	file := os.Getenv(env)
	if file == "" {
		return 0, fmt.Errorf("not run (make bench runs %s and names its output in %s)", name, env)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], name) {
			continue
		}
		for i := 3; i < len(fields); i++ {
			if fields[i] == unit {
				return strconv.ParseFloat(fields[i-1], 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s figure of %s in %s", unit, name, file)
}

func lat(m vegeta.Metrics) string {
	return fmt.Sprintf("%.2f / %.2f / %.2f", msf(m.Latencies.P50), msf(m.Latencies.P90), msf(m.Latencies.P99))
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func ms(d time.Duration) string   { return fmt.Sprintf("%.1f ms", msf(d)) }
func us(d time.Duration) string   { return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)) }
