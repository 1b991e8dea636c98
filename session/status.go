package session

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
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
	if alive && state.AdminAddr != "" {
		stats, err = envoyStats(ctx, state.AdminAddr)
		if err != nil {
			return out, fmt.Errorf("read the local Envoy's stats at %s: %w", state.AdminAddr, err)
		}
	}
	for _, js := range state.Services {
		out.Services = append(out.Services, serviceStatus(js, stats))
	}
	return out, nil
}

// serviceStatus sums the cluster counters of a service's ports and says what went wrong.
func serviceStatus(js JoinedService, stats map[string]uint64) ServiceStatus {
	ss := ServiceStatus{JoinedService: js}
	for _, p := range js.Ports {
		// Envoy writes ':' in stat names as '_' ("cluster.ratings.bookinfo_9080.").
		c := "cluster." + strings.ReplaceAll(p.Cluster, ":", "_") + "."
		ss.Requests += stats[c+"upstream_rq_total"] + stats[c+"upstream_cx_total"]*boolInt(p.Protocol == "tcp")
		ss.Errors += stats[c+"upstream_rq_5xx"] + stats[c+"upstream_cx_connect_fail"] + stats[c+"ssl.connection_error"]
		ss.ActiveConns += stats[c+"upstream_cx_active"]
		ss.IdentityErrors += stats[c+"ssl.fail_verify_san"]
		ss.TLSErrors += stats[c+"ssl.fail_verify_error"] + stats[c+"ssl.fail_verify_cert_hash"]
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

// envoyStats reads counters and gauges from the admin endpoint (loopback only).
func envoyStats(ctx context.Context, adminAddr string) (map[string]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/stats?filter=^cluster%5C.", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s", resp.Status, b)
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64); err == nil {
			out[name] = n
		}
	}
	return out, sc.Err()
}
