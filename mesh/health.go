package mesh

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
)

// Freshness: while the cluster API does not answer, the informers keep the catalogue they have
// (joined services keep working with it) and the catalogue says it is stale. Two signals mark
// it so: a list or watch that fails in a way client-go reports (the informers' watch error
// handler: timeouts, TLS, server errors), and a small liveness request (GET /version), since a
// reflector retries a refused watch quietly, without calling the handler. It is fresh again
// once the API answers and no informer reports an error. While the liveness request fails,
// the informers' lists and watches wait (gate.go), and resume when it answers.

// Liveness request pace: rare while fresh, every second while stale, so that the return of
// the API is seen at once.
const (
	livenessFresh   = 5 * time.Second
	livenessStale   = time.Second
	livenessTimeout = 3 * time.Second
)

// Freshness says whether the catalogue follows the cluster.
type Freshness struct {
	// StaleSince is when the cluster API stopped answering (or a list or watch began failing);
	// zero while the catalogue is fresh.
	StaleSince time.Time
	// Cause is the latest failure, worded for the user, e.g. "cluster API unreachable: ...".
	Cause string
}

// Stale says the catalogue may be out of date.
func (f Freshness) Stale() bool { return !f.StaleSince.IsZero() }

// ErrStale matches (errors.Is) a [*StaleError].
var ErrStale = errors.New("service catalogue stale")

// StaleError refuses what needs an up-to-date catalogue (joining a new service) while the
// cluster API does not answer.
type StaleError struct{ Freshness }

func (e *StaleError) Error() string {
	return fmt.Sprintf("the service catalogue is stale since %s (%s): it may be out of date, so no new service is joined until the cluster API answers again",
		e.StaleSince.Local().Format(time.TimeOnly), e.Cause)
}

// Is makes errors.Is(err, ErrStale) true.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// staleMark is one source of staleness: an informer's failing list or watch, or the liveness
// request (resource "").
type staleMark struct {
	since time.Time
	err   error
	rv    string // the informer's resource version when it failed: a new one means it listed again
}

// Freshness reports whether the catalogue follows the cluster now.
func (c *Catalog) Freshness() Freshness {
	c.mu.Lock()
	defer c.mu.Unlock()
	var f Freshness
	var latest time.Time
	for resource, m := range c.stale {
		if inf := c.informers()[resource]; inf != nil && inf.LastSyncResourceVersion() != m.rv {
			delete(c.stale, resource) // listed or watched again since
			continue
		}
		if f.StaleSince.IsZero() || m.since.Before(f.StaleSince) {
			f.StaleSince = m.since
		}
		if m.since.After(latest) || f.Cause == "" {
			latest, f.Cause = m.since, describeAPIError(m.err)
		}
	}
	return f
}

// watchFailed is the informers' watch error handler: it records why resource's list or watch
// failed, and the resource version its informer had then (rv). An expired resource version is routine (the reflector lists again at once) and
// forbidden is reported as a warning (Warnings).
func (c *Catalog) watchFailed(resource, rv string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watchErrs[resource] = err
	if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || apierrors.IsForbidden(err) || errors.Is(err, context.Canceled) {
		return
	}
	m, ok := c.stale[resource]
	if !ok {
		m.since = time.Now()
	}
	m.err, m.rv = err, rv
	c.stale[resource] = m
}

// checkLiveness asks the API server for its version until ctx ends, marking the catalogue
// stale while it does not answer. A client without a REST client (a fake) is not checked.
func (c *Catalog) checkLiveness(ctx context.Context) {
	rc := c.client.Discovery().RESTClient()
	if rc == nil {
		return
	}
	for {
		c.mu.Lock()
		_, down := c.stale[""]
		c.mu.Unlock()
		wait := livenessFresh
		if down {
			wait = livenessStale
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		c.askVersion(ctx, rc)
	}
}

// askVersion makes one liveness request and marks or clears the staleness it says.
func (c *Catalog) askVersion(ctx context.Context, rc rest.Interface) {
	reqCtx, cancel := context.WithTimeout(ctx, livenessTimeout)
	err := rc.Get().AbsPath("/version").Do(reqCtx).Error()
	cancel()
	if ctx.Err() != nil {
		return
	}
	// An answer that is an error (401, 403, 5xx) is still an answer: lists and watches fail on
	// their own then, and the gate stays open.
	var answered apierrors.APIStatus
	c.gate.set(err == nil || errors.As(err, &answered))
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m, ok := c.stale[""]; {
	case err == nil:
		delete(c.stale, "")
	case !ok:
		c.stale[""] = staleMark{since: time.Now(), err: err}
	default:
		m.err = err
		c.stale[""] = m
	}
}

// describeAPIError words a failed request to the cluster API for the user.
func describeAPIError(err error) string {
	switch {
	case apierrors.IsUnauthorized(err):
		return "the cluster API refuses the credentials: " + err.Error()
	case apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err):
		return "the cluster API is failing: " + err.Error()
	}
	return "cluster API unreachable: " + err.Error()
}
