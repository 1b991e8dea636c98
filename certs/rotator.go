package certs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// BundleIssuer issues a new bundle; [*Issuer] is one.
type BundleIssuer interface {
	Issue(ctx context.Context) (*Bundle, error)
}

// DefaultAttemptTimeout bounds one renewal attempt when
// Rotator.AttemptTimeout is zero.
const DefaultAttemptTimeout = time.Minute

// defaultMaxRetry is the longest wait between failed attempts with the
// default back-off, and the wait used when a BackOff says Stop.
const defaultMaxRetry = 2 * time.Minute

// MinCertTTL is the shortest certificate lifetime meshjoin asks for. Renewal
// is at half-life, so a 30 s certificate already costs a token request and a
// CSR every 15 s (4 a minute per session; the 1 s once accepted cost 10 a
// second). Shorter, and a second of clock difference with the CA or one slow
// answer eats most of the renewal margin, so connections start failing with
// an expired certificate. Callers refuse a shorter TTL before asking the CA.
const MinCertTTL = 30 * time.Second

// MinRenewInterval is the shortest time between a successful renewal and the
// next attempt, whatever lifetime the CA hands out (a CA may cap it below what
// was asked): meshjoin never asks more often than this, and it is no longer
// than the urgent retry cap, so it never delays a needed renewal beyond it.
const MinRenewInterval = 10 * time.Second

// urgentWindow and urgentRetryMax: once the certificate is expired or within
// urgentWindow of expiring, a failed renewal is retried at least every
// urgentRetryMax, so that the session recovers within that of the CA
// answering again; before that, retries never wait past the window's start.
const (
	urgentWindow   = time.Minute
	urgentRetryMax = 10 * time.Second
)

// DefaultWakeCheck is how often a waiting rotator compares the wall clock with
// the renewal time when Rotator.WakeCheck is zero. Timers run on the monotonic
// clock, which stops while the machine sleeps: after a suspend past the
// renewal time, the rotator renews within this of waking.
const DefaultWakeCheck = 10 * time.Second

// DefaultProbeInterval is how often Rotator.Probe checks an unreachable CA when
// Rotator.ProbeInterval is zero: one TLS handshake a second, no token.
const DefaultProbeInterval = time.Second

// Rotator keeps a certificate fresh: it renews at half-life (at once when the
// machine wakes from a sleep past it) and, when renewal fails, retries with
// exponential back-off, never waiting past the certificate's expiry nor more
// than 10 s once it is within a minute of it. The current bundle stays
// in use until a new one is issued, even past its expiry (reported through
// OnError wrapping [ErrCertExpired]); it is never withdrawn.
type Rotator struct {
	Issuer BundleIssuer

	// OnRenew receives each new bundle, from Run's goroutine. Nil: ignored.
	OnRenew func(*Bundle)
	// OnError receives each failed attempt as a [*Failure] (when the failures
	// began, the certificate still in use, when the next attempt is). Nil:
	// ignored.
	OnError func(error)

	// Probe, when set, checks cheaply (no token, no CSR) whether the CA answers
	// again. While a retry after an unreachable CA ([ErrCAUnreachable]) waits,
	// it is called every ProbeInterval, and its first success ends the wait: the
	// session recovers within about a ProbeInterval of the CA answering, while
	// full attempts stay on the back-off's schedule.
	Probe func(ctx context.Context) error
	// ProbeInterval is the pace of Probe. Zero: DefaultProbeInterval.
	ProbeInterval time.Duration

	// BackOff spaces retries after failures; it is Reset after each success.
	// Nil: exponential from 1 s, doubling, up to 2 min, ±20 % jitter.
	// backoff.Stop is read as "wait 2 min": the rotator never gives up.
	BackOff backoff.BackOff
	// AttemptTimeout bounds one Issue call. Zero: DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// WakeCheck is the longest single wait before the renewal time is checked
	// against the wall clock again. Zero: DefaultWakeCheck.
	WakeCheck time.Duration

	// Clock and After stand in for time.Now and time.After, for tests.
	Clock func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Run renews until ctx is done, then returns nil. current is the bundle in
// use; nil means issue one at once. Run is not safe to call concurrently on
// one Rotator.
func (r *Rotator) Run(ctx context.Context, current *Bundle) error {
	if r.Issuer == nil {
		return errors.New("rotator: no issuer")
	}
	bo := r.BackOff
	if bo == nil {
		bo = &backoff.ExponentialBackOff{
			InitialInterval:     time.Second,
			RandomizationFactor: 0.2,
			Multiplier:          2,
			MaxInterval:         defaultMaxRetry,
		}
	}
	bo.Reset()
	var lastSuccess, failingSince time.Time
	for {
		if current != nil && !r.waitUntil(ctx, current.RenewAt(), lastSuccess) {
			return nil
		}
		next, err := r.attempt(ctx, current)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			current, lastSuccess, failingSince = next, r.now(), time.Time{}
			if r.OnRenew != nil {
				r.OnRenew(next)
			}
			if next.RenewAt().After(r.now()) {
				bo.Reset()
				continue
			}
			// Already at half-life: a TTL shorter than the CA's clocks can
			// serve. Renew again, but at back-off pace, not in a tight loop.
			err = fmt.Errorf("the new certificate (valid %s to %s) is already past half its life; ask for a longer TTL",
				next.NotBefore.UTC().Format(time.RFC3339), next.NotAfter.UTC().Format(time.RFC3339))
		}
		d := bo.NextBackOff()
		if d == backoff.Stop {
			d = defaultMaxRetry
		}
		now := r.now()
		d = r.retryCap(d, current, now)
		if !lastSuccess.IsZero() {
			d = max(d, MinRenewInterval-now.Sub(lastSuccess))
		}
		if failingSince.IsZero() {
			failingSince = now
		}
		f := &Failure{Err: err, Since: failingSince, At: now, Retry: d}
		if current != nil {
			f.Identity, f.CertNotAfter = current.Identity.SPIFFEID(), current.NotAfter
		}
		if r.OnError != nil {
			r.OnError(f)
		}
		if !r.waitRetry(ctx, d, r.Probe != nil && errors.Is(err, ErrCAUnreachable)) {
			return nil
		}
	}
}

// waitRetry waits d before the next attempt, checking the wall clock every
// WakeCheck (a machine asleep stops the timer) and, when probe is set, ending
// early once Probe says the CA answers; false when ctx ended first.
func (r *Rotator) waitRetry(ctx context.Context, d time.Duration, probe bool) bool {
	at := r.now().Add(d)
	step := r.WakeCheck
	if step <= 0 {
		step = DefaultWakeCheck
	}
	every := r.ProbeInterval
	if every <= 0 {
		every = DefaultProbeInterval
	}
	if probe {
		step = min(step, every)
	}
	for {
		wait := at.Sub(r.now())
		if wait <= 0 {
			return true
		}
		if !r.sleep(ctx, min(wait, step)) {
			return false
		}
		if probe && r.now().Before(at) && r.probe(ctx, every) == nil {
			return true
		}
	}
}

func (r *Rotator) probe(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return r.Probe(ctx)
}

// waitUntil waits until the wall clock reaches at, and MinRenewInterval has
// passed since lastSuccess, in steps of at most WakeCheck; false when ctx ended
// first.
func (r *Rotator) waitUntil(ctx context.Context, at, lastSuccess time.Time) bool {
	if !lastSuccess.IsZero() && at.Before(lastSuccess.Add(MinRenewInterval)) {
		at = lastSuccess.Add(MinRenewInterval)
	}
	step := r.WakeCheck
	if step <= 0 {
		step = DefaultWakeCheck
	}
	for {
		wait := at.Sub(r.now())
		if wait <= 0 {
			return true
		}
		if !r.sleep(ctx, min(wait, step)) {
			return false
		}
	}
}

// retryCap shortens the back-off d so that a retry never comes after the
// current certificate's expiry, nor later than urgentRetryMax once it is
// within urgentWindow of expiring (or expired, or there is none).
func (r *Rotator) retryCap(d time.Duration, current *Bundle, now time.Time) time.Duration {
	if current == nil {
		return min(d, urgentRetryMax)
	}
	left := current.NotAfter.Sub(now)
	switch {
	case left <= 0:
		return min(d, urgentRetryMax)
	case left <= urgentWindow:
		return min(d, urgentRetryMax, left)
	}
	return min(d, left-urgentWindow)
}

// attempt issues a bundle. An attempt that hangs (a CA behind a black hole) is
// cut where a retry would be due: after urgentRetryMax once current is within
// urgentWindow of expiring, and never later than that window's start.
func (r *Rotator) attempt(ctx context.Context, current *Bundle) (*Bundle, error) {
	timeout := r.AttemptTimeout
	if timeout == 0 {
		timeout = DefaultAttemptTimeout
	}
	timeout = min(timeout, max(urgentRetryMax, r.retryCap(timeout, current, r.now())))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b, err := r.Issuer.Issue(ctx)
	if err == nil && b == nil {
		err = errors.New("issuer returned no bundle")
	}
	return b, err
}

func (r *Rotator) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

// sleep waits d; false when ctx ended first.
func (r *Rotator) sleep(ctx context.Context, d time.Duration) bool {
	var c <-chan time.Time
	if r.After != nil {
		c = r.After(d)
	} else {
		t := time.NewTimer(d)
		defer t.Stop()
		c = t.C
	}
	select {
	case <-c:
		return true
	case <-ctx.Done():
		return false
	}
}

// Failure is one failed renewal attempt, as OnError receives it.
type Failure struct {
	Err error
	// Since is the first failed attempt since the last success (or the start).
	Since time.Time
	// At is when this attempt failed; the next one is At+Retry, or sooner when
	// Probe finds the CA answering again.
	At    time.Time
	Retry time.Duration
	// Identity and CertNotAfter describe the certificate still in use; zero
	// when there is none yet.
	Identity     string
	CertNotAfter time.Time
}

// NextAttempt is when the next attempt is due at the latest.
func (f *Failure) NextAttempt() time.Time { return f.At.Add(f.Retry) }

// Expired says the certificate in use had expired when the attempt failed.
func (f *Failure) Expired() bool { return !f.CertNotAfter.IsZero() && !f.At.Before(f.CertNotAfter) }

// Error says what failed, whether the current certificate still serves, and
// when the next attempt is.
func (f *Failure) Error() string {
	retry := f.Retry.Round(time.Second)
	switch {
	case f.CertNotAfter.IsZero():
		return fmt.Sprintf("get a workload certificate (next attempt in %s): %v", retry, f.Err)
	case !f.Expired():
		return fmt.Sprintf("renew the certificate for %s (the current one stays in use until %s; next attempt in %s): %v",
			f.Identity, f.CertNotAfter.UTC().Format(time.RFC3339), retry, f.Err)
	default:
		return fmt.Sprintf("%v (%s, at %s) and renewing it failed (next attempt in %s): %v",
			ErrCertExpired, f.Identity, f.CertNotAfter.UTC().Format(time.RFC3339), retry, f.Err)
	}
}

// Unwrap gives the cause, and [ErrCertExpired] once the certificate expired.
func (f *Failure) Unwrap() []error {
	if f.Expired() {
		return []error{ErrCertExpired, f.Err}
	}
	return []error{f.Err}
}
