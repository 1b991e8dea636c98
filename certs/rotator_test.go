package certs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/meshjoin/meshjoin/certs"
)

// fakeClock is a clock the test moves: each wait the rotator starts shows up
// on sleeps, and ends when the test fires it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps chan sleep
}

type sleep struct {
	d    time.Duration
	fire chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, sleeps: make(chan sleep, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.sleeps <- sleep{d: d, fire: ch}
	return ch
}

// expectSleep takes the rotator's next waits until they add up to want,
// moving the clock by each and ending it: a wait for the renewal time comes in
// steps of at most the rotator's WakeCheck.
func (c *fakeClock) expectSleep(t *testing.T, want time.Duration) {
	t.Helper()
	var total time.Duration
	for total < want {
		s := recv(t, c.sleeps, "the rotator to wait")
		if total+s.d > want {
			t.Fatalf("rotator waits %s after %s, want %s in all", s.d, total, want)
		}
		total += s.d
		c.advance(s.d)
		s.fire <- c.Now()
	}
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recv guards against a hung rotator; it is not a timing assertion.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// scriptedIssuer returns the results queued on it, in order, with bundles
// valid for ttl from the clock's now.
type scriptedIssuer struct {
	clock   *fakeClock
	ttl     time.Duration
	results chan error // nil: success
	calls   chan time.Time
}

func (s *scriptedIssuer) Issue(ctx context.Context) (*certs.Bundle, error) {
	now := s.clock.Now()
	s.calls <- now
	select {
	case err := <-s.results:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &certs.Bundle{Identity: me, NotBefore: now, NotAfter: now.Add(s.ttl)}, nil
}

type rotatorRun struct {
	clock   *fakeClock
	issuer  *scriptedIssuer
	renewed chan *certs.Bundle
	errs    chan error
	cancel  context.CancelFunc
	done    chan error
}

// newRotatorRun is a run's channels and an issuer of certificates valid for ttl.
func newRotatorRun(clock *fakeClock, ttl time.Duration) *rotatorRun {
	return &rotatorRun{
		clock:   clock,
		issuer:  &scriptedIssuer{clock: clock, ttl: ttl, results: make(chan error, 16), calls: make(chan time.Time, 16)},
		renewed: make(chan *certs.Bundle, 16),
		errs:    make(chan error, 16),
		done:    make(chan error, 1),
	}
}

func startRotator(t *testing.T, current *certs.Bundle, clock *fakeClock, ttl time.Duration) *rotatorRun {
	t.Helper()
	r := newRotatorRun(clock, ttl)
	rot := &certs.Rotator{
		Issuer:  r.issuer,
		OnRenew: func(b *certs.Bundle) { r.renewed <- b },
		OnError: func(err error) { r.errs <- err },
		BackOff: &backoff.ExponentialBackOff{InitialInterval: time.Second, RandomizationFactor: 0, Multiplier: 2, MaxInterval: time.Minute},
		Clock:   clock.Now,
		After:   clock.After,
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- rot.Run(ctx, current) }()
	t.Cleanup(func() {
		cancel()
		if err := recv(t, r.done, "Run to return"); err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
	return r
}

// issue lets the next Issue call return err and checks when it was made.
func (r *rotatorRun) issue(t *testing.T, at time.Time, err error) {
	t.Helper()
	r.issuer.results <- err
	if got := recv(t, r.issuer.calls, "an Issue call"); !got.Equal(at) {
		t.Fatalf("Issue called at %s, want %s", got, at)
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestRotatorRenewsAtHalfLife(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	current := &certs.Bundle{Identity: me, NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	r := startRotator(t, current, clock, time.Hour)

	for i := range 3 {
		clock.expectSleep(t, 30*time.Minute)
		at := t0.Add(time.Duration(i+1) * 30 * time.Minute)
		r.issue(t, at, nil)
		b := recv(t, r.renewed, "OnRenew")
		if !b.NotBefore.Equal(at) {
			t.Fatalf("renewal %d: OnRenew got a bundle from %s, want the new one from %s", i, b.NotBefore, at)
		}
	}
	select {
	case err := <-r.errs:
		t.Errorf("OnError called: %v", err)
	default:
	}
}

// Renewal keeps being tried with growing waits; the old bundle is not
// replaced meanwhile; success resets the back-off.
func TestRotatorRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	current := &certs.Bundle{Identity: me, NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	r := startRotator(t, current, clock, time.Hour)
	caDown := errors.New("cannot reach the mesh CA")

	clock.expectSleep(t, 30*time.Minute)
	at := t0.Add(30 * time.Minute)
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		r.issue(t, at, caDown)
		err := recv(t, r.errs, "OnError")
		if !errors.Is(err, caDown) {
			t.Errorf("OnError got %v, want it to wrap the issuer's error", err)
		}
		if !strings.Contains(err.Error(), "the current one stays in use until 2026-03-01T13:00:00Z") {
			t.Errorf("OnError got %q: does not say the current certificate stays in use", err)
		}
		if errors.Is(err, certs.ErrCertExpired) {
			t.Errorf("OnError got ErrCertExpired while the certificate is valid: %v", err)
		}
		clock.expectSleep(t, wait)
		at = at.Add(wait)
	}
	select {
	case b := <-r.renewed:
		t.Fatalf("OnRenew called after failures with %+v", b)
	default:
	}

	r.issue(t, at, nil)
	if b := recv(t, r.renewed, "OnRenew"); !b.NotBefore.Equal(at) {
		t.Fatalf("OnRenew got bundle from %s, want %s", b.NotBefore, at)
	}
	clock.expectSleep(t, 30*time.Minute)
	r.issue(t, at.Add(30*time.Minute), caDown)
	recv(t, r.errs, "OnError")
	clock.expectSleep(t, time.Second) // back-off started over
}

func TestRotatorReportsExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	current := &certs.Bundle{Identity: me, NotBefore: t0.Add(-2 * time.Hour), NotAfter: t0.Add(-time.Hour)}
	r := startRotator(t, current, clock, time.Hour)

	r.issue(t, t0, errors.New("token refused")) // past half-life: at once
	err := recv(t, r.errs, "OnError")
	if !errors.Is(err, certs.ErrCertExpired) {
		t.Errorf("OnError got %v, want ErrCertExpired", err)
	}
	if !strings.Contains(err.Error(), "token refused") || !strings.Contains(err.Error(), me.SPIFFEID()) {
		t.Errorf("OnError got %q: want the cause and the identity", err)
	}
	clock.expectSleep(t, time.Second)
}

func TestRotatorWithoutCurrentIssuesAtOnce(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	r := startRotator(t, nil, clock, time.Hour)
	r.issue(t, t0, errors.New("no"))
	if err := recv(t, r.errs, "OnError"); !strings.Contains(err.Error(), "get a workload certificate") {
		t.Errorf("OnError got %q", err)
	}
	clock.expectSleep(t, time.Second)
	r.issue(t, t0.Add(time.Second), nil)
	recv(t, r.renewed, "OnRenew")
	clock.expectSleep(t, 30*time.Minute)
}

// A CA handing out certificates already at half-life must not make the
// rotator spin.
func TestRotatorDoesNotSpinOnShortCertificates(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	r := startRotator(t, nil, clock, 0) // every bundle: NotBefore == NotAfter == now
	r.issue(t, t0, nil)
	recv(t, r.renewed, "OnRenew")
	if err := recv(t, r.errs, "OnError"); !strings.Contains(err.Error(), "already past half its life") {
		t.Errorf("OnError got %q", err)
	}
	// Not the back-off's 1 s: never sooner than MinRenewInterval after a renewal.
	clock.expectSleep(t, certs.MinRenewInterval)
	r.issue(t, t0.Add(certs.MinRenewInterval), nil)
	recv(t, r.renewed, "OnRenew")
	recv(t, r.errs, "OnError")
	clock.expectSleep(t, certs.MinRenewInterval)
}

func TestRotatorStopsOnCancel(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	current := &certs.Bundle{Identity: me, NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	r := startRotator(t, current, clock, time.Hour)
	recv(t, clock.sleeps, "the rotator to wait")
	r.cancel()
	if err := recv(t, r.done, "Run to return"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	r.done <- nil // for the cleanup
}

func TestRotatorNeedsIssuer(t *testing.T) {
	t.Parallel()
	if err := (&certs.Rotator{}).Run(context.Background(), nil); err == nil {
		t.Error("Run without an issuer returned nil")
	}
}

// The real Issuer against the TLS CA, driven by the rotator: each renewal is
// a new, verified certificate with a new key.
func TestRotatorWithIssuer(t *testing.T) {
	t.Parallel()
	_, pki, addr := setup(t)
	iss := issuer(t, dial(t, certs.CAConfig{Address: addr, RootsPEM: pki.rootPEM()}), pki.rootPEM())
	first, err := iss.Issue(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	clock := newFakeClock(time.Now())
	renewed := make(chan *certs.Bundle, 1)
	rot := &certs.Rotator{
		Issuer:  iss,
		OnRenew: func(b *certs.Bundle) { renewed <- b },
		OnError: func(err error) { t.Errorf("OnError: %v", err) },
		Clock:   clock.Now,
		After:   clock.After,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rot.Run(ctx, first) }()
	defer func() {
		cancel()
		recv(t, done, "Run to return")
	}()

	// The issuer checks validity with the real clock; the rotator's goes to
	// the half-life.
	clock.expectSleep(t, first.RenewAt().Sub(clock.Now()))
	second := recv(t, renewed, "OnRenew")
	if second.Leaf().Equal(first.Leaf()) || second.Key == first.Key {
		t.Error("renewal returned the same certificate or key")
	}
	if got := second.Leaf().URIs[0].String(); got != me.SPIFFEID() {
		t.Errorf("renewed for %s", got)
	}
}

// Retries back off, but never past the start of the last minute of the
// certificate's life, and at most 10 s apart from then on: the session
// recovers within 10 s of the CA answering again.
func TestRotatorRetriesNeverWaitPastExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	// Renewal due now; 90 s of life left.
	current := &certs.Bundle{Identity: me, NotBefore: t0.Add(-90 * time.Second), NotAfter: t0.Add(90 * time.Second)}
	r := runRotator(t, current, clock, &backoff.ExponentialBackOff{InitialInterval: time.Second, Multiplier: 2, MaxInterval: 2 * time.Minute})
	caDown := errors.New("cannot reach the mesh CA")
	at := t0
	for _, wait := range []time.Duration{
		time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		15 * time.Second,                                     // the back-off says 16 s; 75 s are left, and the last minute starts in 15
		10 * time.Second, 10 * time.Second, 10 * time.Second, // within the last minute
		10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, // expired
	} {
		r.issue(t, at, caDown)
		recv(t, r.errs, "OnError")
		clock.expectSleep(t, wait)
		at = at.Add(wait)
	}
	r.issue(t, at, nil)
	recv(t, r.renewed, "OnRenew")
}

// Once expired, a back-off that has grown long (the CA was down for minutes)
// is cut to 10 s.
func TestRotatorRetriesExpiredWithin10s(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	current := &certs.Bundle{Identity: me, NotBefore: t0.Add(-2 * time.Hour), NotAfter: t0.Add(-time.Hour)}
	r := runRotator(t, current, clock, &backoff.ExponentialBackOff{InitialInterval: 57 * time.Second, Multiplier: 2, MaxInterval: 2 * time.Minute})
	r.issue(t, t0, errors.New("CA down"))
	if err := recv(t, r.errs, "OnError"); !strings.Contains(err.Error(), "next attempt in 10s") {
		t.Errorf("OnError got %q, want the next attempt in 10s", err)
	}
	clock.expectSleep(t, 10*time.Second)
	r.issue(t, t0.Add(10*time.Second), nil)
	recv(t, r.renewed, "OnRenew")
}

// The machine sleeps while the rotator waits for the half-life: the monotonic
// timer stops, the wall clock does not. On waking, the rotator renews at once
// instead of waiting out what its timer had left.
func TestRotatorRenewsOnWake(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	current := &certs.Bundle{Identity: me, NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	r := startRotator(t, current, clock, time.Hour)
	s := recv(t, clock.sleeps, "the rotator to wait")
	if s.d > certs.DefaultWakeCheck {
		t.Fatalf("rotator waits %s in one go, want at most %s between wall-clock checks", s.d, certs.DefaultWakeCheck)
	}
	clock.advance(40 * time.Minute) // asleep past the half-life (30 min)
	s.fire <- clock.Now()
	r.issue(t, t0.Add(40*time.Minute), nil)
	recv(t, r.renewed, "OnRenew")
}

// runRotator starts a rotator with back-off bo.
func runRotator(t *testing.T, current *certs.Bundle, clock *fakeClock, bo backoff.BackOff) *rotatorRun {
	t.Helper()
	r := newRotatorRun(clock, time.Hour)
	rot := &certs.Rotator{
		Issuer:  r.issuer,
		OnRenew: func(b *certs.Bundle) { r.renewed <- b },
		OnError: func(err error) { r.errs <- err },
		BackOff: bo,
		Clock:   clock.Now,
		After:   clock.After,
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- rot.Run(ctx, current) }()
	t.Cleanup(func() {
		cancel()
		recv(t, r.done, "Run to return")
	})
	return r
}

// While the CA is unreachable, Probe is asked every ProbeInterval and its first
// success ends the wait for the back-off: the session recovers about a second
// after the CA answers, not at the next scheduled attempt.
func TestRotatorProbeEndsTheWait(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	current := &certs.Bundle{Identity: me, NotBefore: t0.Add(-15 * time.Second), NotAfter: t0.Add(15 * time.Second)}
	r := newRotatorRun(clock, 30*time.Second)
	var probes atomic.Int32
	answers := 3 // the CA answers at the third probe
	rot := &certs.Rotator{
		Issuer:  r.issuer,
		OnRenew: func(b *certs.Bundle) { r.renewed <- b },
		OnError: func(err error) { r.errs <- err },
		BackOff: &backoff.ExponentialBackOff{InitialInterval: 8 * time.Second, Multiplier: 2, MaxInterval: time.Minute},
		Probe: func(context.Context) error {
			if probes.Add(1) < int32(answers) {
				return errors.New("no answer")
			}
			return nil
		},
		Clock: clock.Now,
		After: clock.After,
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.done <- rot.Run(ctx, current) }()
	defer func() { cancel(); recv(t, r.done, "Run to return") }()

	r.issue(t, t0, fmt.Errorf("dial: %w", certs.ErrCAUnreachable))
	var f *certs.Failure
	if err := recv(t, r.errs, "OnError"); !errors.As(err, &f) || f.Retry != 8*time.Second || !f.Since.Equal(t0) || !f.CertNotAfter.Equal(current.NotAfter) {
		t.Fatalf("OnError got %#v, want a Failure since t0 retrying in 8s", err)
	}
	clock.expectSleep(t, 3*certs.DefaultProbeInterval)
	r.issue(t, t0.Add(3*certs.DefaultProbeInterval), nil)
	recv(t, r.renewed, "OnRenew")
	if n := probes.Load(); n != int32(answers) {
		t.Errorf("probed %d times, want %d", n, answers)
	}
}

// A CA that answers but refuses is not probed: its retries keep the back-off's
// pace (a probe would succeed at once and turn the back-off into a loop).
func TestRotatorProbesOnlyAnUnreachableCA(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	current := &certs.Bundle{Identity: me, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour)}
	r := newRotatorRun(clock, time.Hour)
	rot := &certs.Rotator{
		Issuer:  r.issuer,
		OnError: func(err error) { r.errs <- err },
		BackOff: &backoff.ExponentialBackOff{InitialInterval: 4 * time.Second, Multiplier: 2, MaxInterval: time.Minute},
		Probe:   func(context.Context) error { t.Error("probed a CA that answered"); return nil },
		Clock:   clock.Now,
		After:   clock.After,
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.done <- rot.Run(ctx, current) }()
	defer func() { cancel(); recv(t, r.done, "Run to return") }()
	r.issue(t, t0, fmt.Errorf("refused: %w", certs.ErrCARefused))
	recv(t, r.errs, "OnError")
	clock.expectSleep(t, 4*time.Second)
	r.issue(t, t0.Add(4*time.Second), errors.New("still"))
	var f *certs.Failure
	if err := recv(t, r.errs, "OnError"); !errors.As(err, &f) || !f.Since.Equal(t0) || !f.At.Equal(t0.Add(4*time.Second)) || !f.NextAttempt().Equal(t0.Add(12*time.Second)) {
		t.Errorf("second failure %#v: want Since t0, At t0+4s, next at t0+12s", err)
	}
}

// In the last seconds of the certificate's life a retry is not put after its expiry, even
// where the 10 s cap would allow it: the next attempt is at the expiry at the latest.
func TestRotatorRetryNotAfterExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	current := &certs.Bundle{Identity: me, NotBefore: t0.Add(-25 * time.Second), NotAfter: t0.Add(5 * time.Second)}
	r := runRotator(t, current, clock, &backoff.ExponentialBackOff{InitialInterval: 8 * time.Second, Multiplier: 2, MaxInterval: time.Minute})
	r.issue(t, t0, errors.New("CA down"))
	var f *certs.Failure
	if err := recv(t, r.errs, "OnError"); !errors.As(err, &f) || !f.NextAttempt().Equal(current.NotAfter) {
		t.Fatalf("OnError got %v, want the next attempt at the expiry %s", err, current.NotAfter)
	}
	clock.expectSleep(t, 5*time.Second)
	r.issue(t, t0.Add(5*time.Second), errors.New("CA down"))
	if err := recv(t, r.errs, "OnError"); !errors.Is(err, certs.ErrCertExpired) || !strings.Contains(err.Error(), "next attempt in 10s") {
		t.Errorf("after expiry OnError got %v, want ErrCertExpired and the next attempt in 10s", err)
	}
	clock.expectSleep(t, 10*time.Second)
	r.issue(t, t0.Add(15*time.Second), nil)
	recv(t, r.renewed, "OnRenew")
}
