package testbed

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// meshNamespaces are the namespaces that need the root bundle (istio-ca-root-cert).
func meshNamespaces() []string {
	return []string{IstioSystem, NamespaceBookinfo, NamespacePayments, NamespaceDev}
}

// meshNamespacesIf is meshNamespaces when the testbed must write the root bundle itself.
func meshNamespacesIf(write bool) []string {
	if !write {
		return nil
	}
	return meshNamespaces()
}

// ownRootPEM is the root the testbed writes into namespaces itself: only with the imitation
// CA, since istiod writes istio-ca-root-cert into every namespace it watches.
func (tb *Testbed) ownRootPEM() []byte {
	if tb.ImitationCA {
		return tb.RootPEM
	}
	return nil
}

// caBackend is where the gateway's 15012 leads: istiod's CA port, or the imitation's.
func (tb *Testbed) caBackend() string {
	if tb.ca != nil {
		return tb.ca.addr
	}
	return tb.istiod.secureAddr
}

// waitRootConfigMaps waits until istiod has written istio-ca-root-cert into the namespaces.
func (tb *Testbed) waitRootConfigMaps(ctx context.Context, namespaces []string) error {
	for _, ns := range namespaces {
		err := waitFor(ctx, tb.istiod.proc, "ConfigMap istio-ca-root-cert in "+ns, func() error {
			cm, err := tb.admin.CoreV1().ConfigMaps(ns).Get(ctx, "istio-ca-root-cert", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return errNotYet
			}
			if err != nil {
				return err
			}
			if cm.Data["root-cert.pem"] == "" {
				return errors.New("no root-cert.pem in it")
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ErrImitationCA is returned by the istiod controls of a testbed started with ImitationCA.
var ErrImitationCA = errors.New("this test mesh runs the imitation CA, not istiod")

// StopIstiod stops the mesh's istiod, as in a CA outage: the gateway's 15012 still accepts
// connections but nothing answers behind it, and the gateway keeps the listeners istiod gave it.
// Stopping a stopped istiod does nothing. Safe to call from any goroutine.
func (tb *Testbed) StopIstiod() error {
	if tb.istiod == nil {
		return ErrImitationCA
	}
	tb.istiod.stop()
	return nil
}

// StartIstiod starts the stopped istiod again, on the same addresses with the same CA, and
// returns once its CA answers. extraEnv ("NAME=value") changes istiod's environment for this
// run only, e.g. "TOKEN_AUDIENCES=other" to make it expect another token audience; restore it
// with RestartIstiod().
func (tb *Testbed) StartIstiod(ctx context.Context, extraEnv ...string) error {
	if tb.istiod == nil {
		return ErrImitationCA
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := tb.istiod.start(ctx, extraEnv...); err != nil {
		return fmt.Errorf("restart istiod: %w", err)
	}
	return nil
}

// RestartIstiod stops istiod and starts it again with the extra environment (none: the
// testbed's own).
func (tb *Testbed) RestartIstiod(ctx context.Context, extraEnv ...string) error {
	if err := tb.StopIstiod(); err != nil {
		return err
	}
	return tb.StartIstiod(ctx, extraEnv...)
}

// IstiodRunning reports whether the mesh has a running istiod.
func (tb *Testbed) IstiodRunning() bool {
	if tb.istiod == nil {
		return false
	}
	tb.istiod.mu.Lock()
	defer tb.istiod.mu.Unlock()
	return tb.istiod.proc != nil && tb.istiod.proc.exited() == nil
}
