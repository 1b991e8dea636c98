package testbed

import (
	"context"
	"fmt"
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
// answers (its admin /ready is LIVE, listeners bound).
func (tb *Testbed) StartGateway(ctx context.Context) error {
	port, err := freePort("127.0.0.1")
	if err != nil {
		return err
	}
	b, err := gatewayBootstrap(tb.GatewayIP, port, tb.Workloads, tb.ca.addr)
	if err != nil {
		return err
	}
	gw, err := startEnvoy(ctx, tb.Dir, "east-west-gateway", b)
	if err != nil {
		return fmt.Errorf("restart the east-west gateway: %w", err)
	}
	tb.gateway = gw
	return nil
}
