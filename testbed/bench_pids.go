package testbed

// PIDs are the process ids of the test mesh's Envoys, by component name ("east-west-gateway",
// "sidecar-<name.namespace>"), for benchmarks that read each process's CPU time from /proc.
// The echo apps are goroutines of the test process itself.
func (tb *Testbed) PIDs() map[string]int {
	out := map[string]int{}
	if tb.gateway != nil {
		out[tb.gateway.name] = tb.gateway.cmd.Process.Pid
	}
	for _, s := range tb.sidecars {
		out[s.name] = s.cmd.Process.Pid
	}
	return out
}
