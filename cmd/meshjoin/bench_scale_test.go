//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/testbed"
)

// scaleAddressRange keeps this benchmark's loopback addresses apart from the other tests'.
const scaleAddressRange = "127.92.0.0/16"

// BenchmarkScaleMemory is the resident memory of a background session whose catalogue holds
// 10,000 services (the test mesh's scale mode: 100 namespaces), read from /proc once `up` has
// returned: VmRSS, and its two parts, the process's own memory (RssAnon) and the pages of the
// executable it has mapped (RssFile, clean and shared, which macOS's memory footprint leaves
// out). Each iteration is one session, up then down.
//
//	go test ./cmd/meshjoin -run '^$' -bench ScaleMemory -benchtime 3x
func BenchmarkScaleMemory(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	tb, err := testbed.Start(ctx, testbed.Options{ScaleServices: 10000, ScaleNamespaces: 100})
	if err != nil {
		b.Fatalf("start the test mesh in scale mode: %v", err)
	}
	defer tb.Stop()
	dir := b.TempDir()
	stateDir, hostsFile := filepath.Join(dir, "state"), filepath.Join(dir, "hosts")
	if err := os.WriteFile(hostsFile, []byte(initialHosts), 0o644); err != nil {
		b.Fatal(err)
	}
	meshjoin := func(args ...string) string {
		b.Helper()
		args = append([]string{args[0], "--kubeconfig", tb.DeveloperKubeconfig, "--state-dir", stateDir}, args[1:]...)
		out, err := exec.Command(binary(b), args...).CombinedOutput()
		if err != nil {
			b.Fatalf("meshjoin %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	b.Cleanup(func() { exec.Command(binary(b), "down", "--state-dir", stateDir).Run() })

	var rss, anon, file float64
	for b.Loop() {
		out := meshjoin("up", "--identity", "dev/alice", "--hosts-file", hostsFile, "--envoy-image", testbed.EnvoyImage,
			"--sudo", "never", "--wait", "180s", "--address-range", scaleAddressRange, "ratings.bookinfo")
		m := regexp.MustCompile(`background session \(pid (\d+)`).FindStringSubmatch(out)
		if m == nil {
			b.Fatalf("no daemon pid in the output of up:\n%s", out)
		}
		pid, _ := strconv.Atoi(m[1])
		st := procStatusKB(b, pid)
		rss, anon, file = rss+st["VmRSS"], anon+st["RssAnon"], file+st["RssFile"]
		meshjoin("down")
	}
	n := float64(b.N) * 1024
	b.ReportMetric(rss/n, "MB-rss")
	b.ReportMetric(anon/n, "MB-anon")
	b.ReportMetric(file/n, "MB-file")
}

// procStatusKB reads the kB figures of /proc/PID/status.
func procStatusKB(b *testing.B, pid int) map[string]float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if v, unit, _ := strings.Cut(strings.TrimSpace(value), " "); ok && unit == "kB" {
			f, _ := strconv.ParseFloat(v, 64)
			out[name] = f
		}
	}
	return out
}
