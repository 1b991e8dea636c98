package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/meshjoin/meshjoin/certs"
)

// Rotation: the certificate is renewed in the background (certs.Rotator: at half-life, at once
// after the machine slept past that, with capped back-off when the CA fails) and each new one
// reaches Envoy through the operation "push renewed certificate".

// certify takes a token for the identity and has the mesh CA sign a fresh key.
func (s *Session) certify(ctx context.Context) error {
	return s.step(StepCertificate, func() (string, error) {
		if cf, err := s.certFiles(); cf != nil || err != nil {
			if err != nil {
				return "", err
			}
			return s.loadCertFiles(cf)
		}
		roots, err := certs.ParseRoots(s.meshCfg.RootsPEM)
		if err != nil {
			return "", err
		}
		s.ca, err = certs.DialCA(ctx, certs.CAConfig{
			Address: s.cfg.CAAddress, ServerName: s.cfg.CAServerName, RootsPEM: s.meshCfg.RootsPEM, ClusterID: s.cfg.ClusterID,
			ClusterName: s.meshCfg.ClusterName, ClusterCAAddress: s.meshCfg.ClusterCAAddress,
		})
		if err != nil {
			return "", err
		}
		s.issuer = &certs.Issuer{
			CA:       s.ca,
			Tokens:   s.timedTokens(s.tokenSource()),
			Identity: s.identity,
			Roots:    roots,
			TTL:      s.cfg.CertTTL,
		}
		b, err := s.issuer.Issue(ctx)
		if err != nil {
			return "", err
		}
		s.bundle = b
		s.mu.Lock()
		s.state.CertNotAfter = b.NotAfter
		s.mu.Unlock()
		return fmt.Sprintf("%s until %s", s.identity.SPIFFEID(), b.NotAfter.Format(time.TimeOnly)), nil
	})
}

// timedTokens reports each token request as its own step (the TUI and benchmarks show it).
func (s *Session) timedTokens(inner certs.TokenSource) certs.TokenSource {
	return certs.TokenSourceFunc(func(ctx context.Context) (string, error) {
		var tok string
		err := s.step(StepToken, func() (string, error) {
			var err error
			tok, err = inner.Token(ctx)
			return s.identity.String(), err
		})
		return tok, err
	})
}

// startRotation renews the certificate in the background until the session ends.
func (s *Session) startRotation() {
	if s.watchCertFiles() {
		return
	}
	r := &certs.Rotator{
		Issuer: s.issuer,
		OnRenew: func(b *certs.Bundle) {
			if err := s.renewed(s.life, b); err != nil {
				s.log.Warn("renewed certificate not pushed", "err", err)
			}
		},
		OnError: func(err error) {
			s.log.Warn("certificate renewal failed; retrying", "err", err)
			s.mu.Lock()
			s.state.LastError = err.Error()
			s.state.RenewalError = err.Error()
			var f *certs.Failure
			if errors.As(err, &f) {
				s.state.RenewalTrouble = s.state.RenewalTrouble.record(f)
			}
			s.mu.Unlock()
			s.save()
		},
		Probe: s.ca.Reachable,
	}
	current := s.bundle
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		// Run returns nil when the session ends; an error means it could not start at all.
		if err := r.Run(s.life, current); err != nil {
			s.log.Error("certificate renewal stopped", "err", err)
		}
	}()
}

// renewed is the operation "push renewed certificate": b becomes the session's certificate and
// goes to Envoy together with the current plan.
func (s *Session) renewed(ctx context.Context, b *certs.Bundle) error {
	if err := s.begin(ctx, "push renewed certificate"); err != nil {
		return err
	}
	defer s.finish()
	s.bundle = b
	err := s.push()
	if err != nil {
		s.log.Error("push renewed certificate", "err", err)
	}
	s.mu.Lock()
	s.state.CertNotAfter = b.NotAfter
	s.state.Renewals++
	s.state.LastRenewal = time.Now()
	s.state.LastError, s.state.RenewalError, s.state.RenewalTrouble = "", "", nil
	s.mu.Unlock()
	s.save()
	s.log.Info("certificate renewed", "notAfter", b.NotAfter)
	return err
}

// RenewalTrouble is a renewal failing now, for `status` and the TUI (nil in State once a
// renewal succeeds).
type RenewalTrouble struct {
	Since        time.Time `json:"since"`        // the first failed attempt
	Cause        string    `json:"cause"`        // why the latest attempt failed
	CertNotAfter time.Time `json:"certNotAfter"` // the certificate still in use; zero: none yet
	NextAttempt  time.Time `json:"nextAttempt"`  // at the latest (sooner once the CA answers)
	// Attempts are the latest failed attempts, oldest first: the schedule the back-off kept.
	Attempts []RenewalAttempt `json:"attempts"`
}

// RenewalAttempt is one failed attempt and the wait it scheduled before the next.
type RenewalAttempt struct {
	At    time.Time     `json:"at"`
	Retry time.Duration `json:"retry"`
}

// attemptsKept bounds RenewalTrouble.Attempts: a few minutes of an outage at the urgent pace.
const attemptsKept = 32

// record returns t with a failed attempt added (t nil: the first of a new streak). t itself
// is not changed: copies of the state (State()) share it.
func (t *RenewalTrouble) record(f *certs.Failure) *RenewalTrouble {
	var attempts []RenewalAttempt
	if t != nil {
		attempts = t.Attempts[max(0, len(t.Attempts)+1-attemptsKept):]
	}
	return &RenewalTrouble{
		Since: f.Since, Cause: f.Err.Error(), CertNotAfter: f.CertNotAfter, NextAttempt: f.NextAttempt(),
		Attempts: append(slices.Clip(attempts), RenewalAttempt{At: f.At, Retry: f.Retry}),
	}
}

// Summary is the one line status shows while renewal fails, as of now.
func (t *RenewalTrouble) Summary(now time.Time) string {
	return fmt.Sprintf("certificate renewal failing since %s (%s); %s", t.Since.Local().Format(time.TimeOnly), t.Cause, t.Outlook(now))
}

// Outlook says how long the certificate in use lasts and when the next attempt is, as of now.
func (t *RenewalTrouble) Outlook(now time.Time) string {
	var line string
	switch {
	case t.CertNotAfter.IsZero():
		line = "no certificate yet"
	case now.Before(t.CertNotAfter):
		line = "the current certificate stays in use and expires at " + t.CertNotAfter.Local().Format(time.TimeOnly)
	default:
		line = "the current certificate EXPIRED at " + t.CertNotAfter.Local().Format(time.TimeOnly) + " (new connections fail)"
	}
	return line + fmt.Sprintf(", next retry in %s", max(t.NextAttempt.Sub(now), 0).Round(time.Second))
}
