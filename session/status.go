package session

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/meshjoin/meshjoin/envoy"
)

// Status is what `meshjoin status` reports.
type Status struct {
	Running  bool            `json:"running"`
	State    *State          `json:"state,omitempty"`
	Services []ServiceStatus `json:"services,omitempty"`
}

// ServiceStatus is one joined service with its traffic counters from the local Envoy.
type ServiceStatus struct {
	JoinedService
	Requests       uint64 `json:"requests"`
	Errors         uint64 `json:"errors"`
	ActiveConns    uint64 `json:"activeConnections"`
	IdentityErrors uint64 `json:"identityMismatches"` // the destination presented an unexpected SAN
	TLSErrors      uint64 `json:"tlsErrors"`
	Problem        string `json:"problem,omitempty"`
	// P50 is the median request time (HTTP ports) from the cluster's upstream_rq_time
	// histogram, 0 until Envoy has recorded a request (histograms are flushed every 5 s).
	P50 time.Duration `json:"p50,omitempty"`
	// P50Known says Envoy has recorded requests, so a P50 of 0 means under a millisecond
	// (Envoy records request times in whole milliseconds).
	P50Known bool `json:"p50Known,omitempty"`
}

// ReadStatus reads the state file and, when the session runs, its Envoy's counters.
func ReadStatus(ctx context.Context, stateDir string) (Status, error) {
	st, err := newStore(stateDir)
	if err != nil {
		return Status{}, err
	}
	state, err := st.read()
	if err != nil || state == nil {
		return Status{}, err
	}
	alive, err := st.alive()
	if err != nil {
		return Status{}, err
	}
	out := Status{Running: alive, State: state}
	var stats map[string]uint64
	var p50s map[string]time.Duration
	// An Envoy being brought back (its engine restarting, say) has no counters to read; the
	// state's EnvoyProblem says what is going on instead.
	if alive && state.AdminAddr != "" && state.EnvoyProblem == "" {
		stats, p50s, err = envoyStatsAndP50(ctx, envoy.AdminEndpoint{Addr: state.AdminAddr, Token: state.AdminToken})
		if err != nil {
			return out, fmt.Errorf("read the local Envoy's stats at %s: %w", state.AdminAddr, err)
		}
	}
	for _, js := range state.Services {
		ss := serviceStatus(js, stats)
		ss.P50, ss.P50Known = servicePercentile(js, p50s)
		out.Services = append(out.Services, ss)
	}
	return out, nil
}

// serviceStatus sums the cluster counters of a service's ports and says what went wrong.
func serviceStatus(js JoinedService, stats map[string]uint64) ServiceStatus {
	ss := ServiceStatus{JoinedService: js}
	for _, p := range js.Ports {
		clusters := []string{p.Cluster}
		if envoy.Protocol(p.Protocol) == envoy.HTTP {
			clusters = append(clusters, envoy.UpgradeClusterName(p.Cluster)) // websockets
		}
		for _, name := range clusters {
			// Envoy writes ':' in stat names as '_' ("cluster.ratings.bookinfo_9080.").
			c := "cluster." + strings.ReplaceAll(name, ":", "_") + "."
			ss.Requests += stats[c+"upstream_rq_total"] + stats[c+"upstream_cx_total"]*boolInt(p.Protocol == "tcp")
			ss.Errors += stats[c+"upstream_rq_5xx"] + stats[c+"upstream_cx_connect_fail"] + stats[c+"ssl.connection_error"]
			ss.ActiveConns += stats[c+"upstream_cx_active"]
			ss.IdentityErrors += stats[c+"ssl.fail_verify_san"]
			ss.TLSErrors += stats[c+"ssl.fail_verify_error"] + stats[c+"ssl.fail_verify_cert_hash"]
		}
	}
	switch {
	case ss.IdentityErrors > 0:
		want := "an identity of the trust domain"
		if len(js.Identities) > 0 {
			want = strings.Join(js.Identities, ", ")
		}
		ss.Problem = fmt.Sprintf("the destination presented an identity that is not expected (want %s): %d connections refused by the local Envoy", want, ss.IdentityErrors)
	case ss.TLSErrors > 0:
		ss.Problem = fmt.Sprintf("the destination's certificate does not chain to the mesh root: %d connections refused", ss.TLSErrors)
	}
	return ss
}

func boolInt(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// servicePercentile is the largest p50 of a service's ports (the slowest port is the one to see).
func servicePercentile(js JoinedService, p50s map[string]time.Duration) (p50 time.Duration, known bool) {
	for _, p := range js.Ports {
		name := "cluster." + strings.ReplaceAll(p.Cluster, ":", "_") + ".upstream_rq_time"
		if d, ok := p50s[name]; ok {
			p50, known = max(p50, d), true
		}
	}
	return p50, known
}

// parseP50 reads the median from an Envoy histogram line's value, e.g.
// "P0(nan,1) P25(nan,1.025) P50(nan,2.05) ...": each quantile is (interval,cumulative) in
// milliseconds; the cumulative one is used ("nan" until a value was recorded).
func parseP50(value string) (time.Duration, bool) {
	for _, f := range strings.Fields(value) {
		q, ok := strings.CutPrefix(f, "P50(")
		if !ok {
			continue
		}
		_, cum, ok := strings.Cut(strings.TrimSuffix(q, ")"), ",")
		if !ok {
			return 0, false
		}
		ms, err := strconv.ParseFloat(cum, 64)
		if err != nil || ms != ms || ms < 0 { // nan
			return 0, false
		}
		return time.Duration(ms * float64(time.Millisecond)), true
	}
	return 0, false
}

// envoyStatsAndP50 reads counters and gauges, and the median of every histogram, from the
// local Envoy's admin listener.
func envoyStatsAndP50(ctx context.Context, admin envoy.AdminEndpoint) (map[string]uint64, map[string]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	body, err := admin.Get(ctx, http.DefaultClient, "/stats?filter=^cluster%5C.")
	if err != nil {
		return nil, nil, err
	}
	out := map[string]uint64{}
	p50s := map[string]time.Duration{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64); err == nil {
			out[name] = n
		} else if d, ok := parseP50(value); ok {
			p50s[name] = d
		}
	}
	return out, p50s, sc.Err()
}
