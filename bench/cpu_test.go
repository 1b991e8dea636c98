//go:build linux

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuTime is the user+system CPU time a process has used so far, all its threads included.
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// fields[0] is field 3 (state): utime is field 14, stime field 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, fields[11], fields[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// containerPID is the host pid of a container's main process (Envoy: the image's entrypoint).
func containerPID(id string) (int, error) {
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.Pid}}", id).Output()
	if err != nil {
		return 0, fmt.Errorf("docker inspect %s: %w", id, err)
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// process is one process whose CPU time a run charges per request.
type process struct {
	name string
	pid  int
}

// cpuMeter samples the CPU time of several processes around a run.
type cpuMeter struct {
	procs  []process
	before []time.Duration
}

func startCPU(procs []process) (*cpuMeter, error) {
	m := &cpuMeter{procs: procs}
	for _, p := range procs {
		t, err := cpuTime(p.pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		m.before = append(m.before, t)
	}
	return m, nil
}

// perRequest is each process's CPU time since startCPU divided by requests, by name.
func (m *cpuMeter) perRequest(requests uint64) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for i, p := range m.procs {
		t, err := cpuTime(p.pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		if requests > 0 {
			out[p.name] = (t - m.before[i]) / time.Duration(requests)
		}
	}
	return out, nil
}

// envoyCounters sums the upstream counters of Envoy's /stats text over the clusters that lead to
// the gateway (outbound|... for the reference, name.namespace:port for meshjoin's Envoy).
type envoyCounters struct{ handshakes, connections, requests int64 }

func parseEnvoyCounters(stats []byte) envoyCounters {
	var c envoyCounters
	for _, line := range strings.Split(string(stats), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok || !strings.HasPrefix(name, "cluster.") || strings.HasPrefix(name, "cluster.meshjoin-") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasSuffix(name, ".ssl.handshake"):
			c.handshakes += n
		case strings.HasSuffix(name, ".upstream_cx_total"):
			c.connections += n
		case strings.HasSuffix(name, ".upstream_rq_total"):
			c.requests += n
		}
	}
	return c
}

func (c envoyCounters) minus(o envoyCounters) envoyCounters {
	return envoyCounters{c.handshakes - o.handshakes, c.connections - o.connections, c.requests - o.requests}
}
