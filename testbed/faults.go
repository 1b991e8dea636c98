package testbed

import (
	"context"
	"fmt"
	"time"
)

// Fault injection for end-to-end tests of how meshjoin rides out an outage. The testbed is
// one per test binary: a test that stops a component must not run in parallel with others
// of its binary, and must start it again before it ends.

// StopGateway stops the east-west gateway, as a crash or a rolling restart does: connections
// through it are cut and new ones refused until StartGateway.
func (tb *Testbed) StopGateway() {
	if tb.gateway != nil {
		tb.gateway.stop()
	}
}

// StartGateway starts the east-west gateway again on the same addresses and returns once it
// answers (its admin /ready is LIVE, listeners bound, istiod's listener programmed).
func (tb *Testbed) StartGateway(ctx context.Context) error {
	if err := tb.startGateway(ctx); err != nil {
		return fmt.Errorf("restart the east-west gateway: %w", err)
	}
	return nil
}

// StopKubeAPIServer stops the cluster's kube-apiserver, as an outage or a control-plane
// upgrade does: watches break and requests are refused until StartKubeAPIServer. etcd, and
// with it every object, stays. istiod, whose CA checks tokens with the API server, cannot
// sign certificates meanwhile.
func (tb *Testbed) StopKubeAPIServer() {
	tb.kube.stopAPIServer()
}

// StartKubeAPIServer starts kube-apiserver again on the same port with the same etcd data,
// and returns once it is ready (/readyz). Starting a running one does nothing.
func (tb *Testbed) StartKubeAPIServer(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := tb.kube.restartAPIServer(ctx); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	return nil
}
