package mesh

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAPIGate: open, wait returns at once; closed, it waits until the gate opens or its
// context ends; closing or opening twice changes nothing.
func TestAPIGate(t *testing.T) {
	g := newAPIGate()
	if err := g.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.set(false)
	g.set(false)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := g.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("closed gate: %v, want the context's deadline", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- g.wait(context.Background()) }()
	select {
	case err := <-waited:
		t.Fatalf("wait returned %v before the gate opened", err)
	case <-time.After(20 * time.Millisecond):
	}
	g.set(true)
	g.set(true)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
}
