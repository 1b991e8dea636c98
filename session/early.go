package session

import (
	"context"
	"errors"
)

// earlyLaunch is the start of the local Envoy, begun before the session has a plan or a
// certificate: beside discovery (Join) or beside the certificate (Start after Open). Envoy
// needs neither until its first configuration, which the ADS server holds back until the
// first push (startEnvoy); its admin interface answers only after that, so the start step
// ends after the push. With published ports the container needs the plan's ports: only the
// ADS server, the runtime and the bootstrap are prepared early, and startEnvoy launches.
//
// The goroutine owns the proxy fields (xds, rt, adminToken, adminPort, bootstrap, published)
// until decided is closed, and proxy and publishedPorts until done is closed; the operation
// that started it reads them only after that.
//
// A kill -9 during the early launch can land while the engine creates the container: the
// state file names the runtime before the creation starts (launch), and the clean-up waits
// for a creation in flight (envoy.DockerRuntime.RemoveSession).
type earlyLaunch struct {
	decided   chan struct{} // preparation over: prepErr says how it went
	done      chan struct{} // the goroutine has ended: launchErr says how the launch went
	prepErr   error
	launched  bool // an Envoy is being started here (not in published mode)
	launchErr error
	cancel    context.CancelCauseFunc
}

// errJoinEnded cancels an early launch whose join ended before it did.
var errJoinEnded = errors.New("the join ended")

func (s *Session) launchEarly(ctx context.Context) *earlyLaunch {
	ctx, cancel := context.WithCancelCause(ctx)
	l := &earlyLaunch{decided: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(l.done)
		l.prepErr = s.prepareEnvoy(ctx)
		l.launched = l.prepErr == nil && !s.published
		close(l.decided)
		if l.launched {
			l.launchErr = s.launchStep(ctx, nil)
		}
	}()
	return l
}

// failed is the early launch's error if it has already failed, without waiting.
func (l *earlyLaunch) failed() error {
	select {
	case <-l.done:
		return errors.Join(l.prepErr, l.launchErr)
	default:
		return nil
	}
}

// waitDecided waits until the preparation is over and returns its error.
func (l *earlyLaunch) waitDecided(ctx context.Context) error {
	select {
	case <-l.decided:
		return l.prepErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait waits until the launch is over and returns its error.
func (l *earlyLaunch) wait(ctx context.Context) error {
	select {
	case <-l.done:
		return errors.Join(l.prepErr, l.launchErr)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop cancels an early launch still running and waits for it: the teardown's first step,
// before it stops Envoy and closes the ADS server and the runtime.
func (l *earlyLaunch) stop() {
	if l != nil {
		l.cancel(errJoinEnded)
		<-l.done
	}
}
