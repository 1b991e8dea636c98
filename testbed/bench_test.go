package testbed

import (
	"context"
	"testing"
	"time"
)

// BenchmarkTestbedStart reports how long the whole test mesh takes to become ready, and each part.
// Run: go test ./testbed -run '^$' -bench TestbedStart -benchtime 3x
func BenchmarkTestbedStart(b *testing.B) {
	parts := map[string]time.Duration{}
	for b.Loop() {
		tb, err := Start(context.Background(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for _, t := range tb.Timings {
			parts[t.Part] += t.Duration
		}
		tb.Stop()
		b.StartTimer()
	}
	for part, d := range parts {
		b.ReportMetric(d.Seconds()/float64(b.N), "s/"+metricName(part))
	}
}

// BenchmarkTestbedScale reports how long scale mode takes to create 10,000 services in 100 namespaces.
// Run: go test ./testbed -run '^$' -bench TestbedScale -benchtime 1x (a second run only meets
// AlreadyExists: use 1x).
func BenchmarkTestbedScale(b *testing.B) {
	tb := Shared(b)
	for i := 0; b.Loop(); i++ {
		if err := createScale(context.Background(), tb.admin, 10000, 100, tb.RootPEM); err != nil {
			b.Fatal(err)
		}
	}
}

func metricName(part string) string {
	out := make([]rune, 0, len(part))
	for _, r := range part {
		if r == ' ' || r == ':' || r == ',' {
			r = '_'
		}
		out = append(out, r)
	}
	return string(out)
}
