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
// answers (its admin /ready is LIVE, listeners bound, istiod's listener programmed).
func (tb *Testbed) StartGateway(ctx context.Context) error {
	if err := tb.startGateway(ctx); err != nil {
		return fmt.Errorf("restart the east-west gateway: %w", err)
	}
	return nil
}
