package session

import (
	"context"
	"fmt"
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
			s.mu.Unlock()
			s.save()
		},
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
	s.state.LastError, s.state.RenewalError = "", ""
	s.mu.Unlock()
	s.save()
	s.log.Info("certificate renewed", "notAfter", b.NotAfter)
	return err
}
