package tui

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshjoin/meshjoin/session"
	"github.com/meshjoin/meshjoin/testbed"
)

// BenchmarkTUIScale opens a session against the test mesh in scale mode (10,000 services in 100
// namespaces) and reports: how long Open takes (mesh settings, gateway, catalogue listed and
// synced), the time from the catalogue being synced to the first full list
// on screen (catalogue snapshot, rows, frame), a filter keystroke to the next frame (mean and
// worst), and the memory of the whole process (the testbed's in-process CA and echo apps
// included; kube-apiserver and etcd are other processes).
//
//	go test ./tui -run '^$' -bench TUIScale -benchtime 20x
func BenchmarkTUIScale(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tb, err := testbed.Start(ctx, testbed.Options{ScaleServices: 10000, ScaleNamespaces: 100})
	if err != nil {
		b.Fatalf("start the test mesh: %v", err)
	}
	defer tb.Stop()
	rc, err := clientcmd.BuildConfigFromFlags("", tb.DeveloperKubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	rc.QPS, rc.Burst = 200, 400
	client := kubernetes.NewForConfigOrDie(rc)
	dyn := dynamic.NewForConfigOrDie(rc)
	dir := b.TempDir()
	hostsFile := filepath.Join(dir, "hosts")
	os.WriteFile(hostsFile, []byte("127.0.0.1 localhost\n"), 0o644)
	be := NewSessionBackend(session.Config{Client: client, Dynamic: dyn, HostsFile: hostsFile, StateDir: filepath.Join(dir, "state")})
	go func() { // nobody listens to the progress events here
		for range be.Progress() {
		}
	}()
	m := New(Options{Backend: be, KubeContext: "testbed", Identity: "dev/alice"})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})

	opening := time.Now()
	info, err := be.Open(ctx, "dev/alice") // returns once the catalogue is synced
	openTook := time.Since(opening)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	synced := time.Now()
	m.Update(openedMsg{info: info, services: be.Services()})
	frame := m.Render()
	firstList := time.Since(synced)
	if len(m.pick.services) < 10000 || !strings.Contains(frame, "svc-") {
		b.Fatalf("%d services; frame:\n%s", len(m.pick.services), frame)
	}

	keys := []tea.KeyPressMsg{{Code: '/', Text: "/"}}
	for _, r := range "svc-0042" {
		keys = append(keys, tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	for range "svc-0042" {
		keys = append(keys, tea.KeyPressMsg{Code: tea.KeyBackspace})
	}
	keys = append(keys, tea.KeyPressMsg{Code: tea.KeyEscape})
	var worst, total time.Duration
	strokes := 0
	b.ResetTimer()
	for b.Loop() {
		for _, k := range keys {
			start := time.Now()
			m.Update(k)
			_ = m.Render()
			d := time.Since(start)
			total += d
			worst = max(worst, d)
			strokes++
		}
	}
	b.StopTimer()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(openTook.Seconds(), "s-open-and-sync")
	b.ReportMetric(float64(firstList.Microseconds())/1000, "ms-first-list")
	b.ReportMetric(float64(total.Microseconds())/1000/float64(strokes), "ms/keystroke")
	b.ReportMetric(float64(worst.Microseconds())/1000, "ms-worst-keystroke")
	b.ReportMetric(float64(rssKB())/1024, "MB-rss")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MB-heap")
	b.ReportMetric(float64(len(m.pick.services)), "services")
}

// rssKB is the resident memory of this process (Linux; 0 elsewhere).
func rssKB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
