package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/meshjoin/meshjoin/certs"
	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/mesh"
)

// A session from a static mesh file (Config.MeshFile) reads nothing from Kubernetes: the mesh
// settings, the gateway and the catalogue come from the file, and the workload certificate from
// the source it names (certificate files, a token file or command exchanged at the mesh CA; only
// when it names none is a token asked of the Kubernetes API, through Config.Client).

// meshFileHint is the next step for a mesh file the session cannot use.
const meshFileHint = "fix the mesh file (docs/mesh-file.md), or export a new one with `meshjoin mesh export`"

// withMeshFile fills in what the mesh file gives and the flags left unset: the CA's TLS name,
// the cluster id and the identity (the file's, else the one its certificate file is for).
func (cfg Config) withMeshFile() (Config, error) {
	f := cfg.MeshFile
	if f == nil {
		return cfg, nil
	}
	if cfg.CAServerName == "" && f.CA != nil {
		cfg.CAServerName = f.CA.ServerName
	}
	if cfg.ClusterID == "" {
		cfg.ClusterID = f.ClusterID
	}
	wc := f.Certificate
	if cfg.Identity == "" && wc != nil {
		cfg.Identity = wc.Identity
	}
	if cfg.Identity == "" && wc != nil && wc.CertFile != "" {
		id, err := certs.IdentityOfCertFile(wc.CertFile)
		if err != nil {
			return cfg, &UsageError{Msg: err.Error(), Hint: "give the certificate file of a workload certificate (one spiffe:// URI SAN)"}
		}
		cfg.Identity = id.Namespace + "/" + id.ServiceAccount
	}
	if cfg.Identity == "" {
		return cfg, &UsageError{Msg: "no identity given", Hint: "pass --identity <namespace>/<serviceaccount>, or set workloadCertificate.identity in the mesh file"}
	}
	if cfg.Client == nil && (wc == nil || (wc.CertFile == "" && wc.TokenFile == "" && wc.TokenCommand == nil)) {
		return cfg, &UsageError{Msg: "the mesh file names no source of the workload certificate, and there is no Kubernetes connection to ask for a token",
			Hint: "add workloadCertificate with certFile+keyFile, tokenFile or tokenCommand to the mesh file (docs/mesh-file.md)"}
	}
	return cfg, nil
}

// readStatic is readMesh for a mesh file: its settings, and the first of its gateways that
// accepts a connection (--gateway overrides them).
func readStatic(ctx context.Context, cfg *Config) (*mesh.Config, envoy.Gateway, error) {
	f := cfg.MeshFile
	meshCfg := f.Config()
	addrs := f.Gateways
	if cfg.GatewayOverride != "" {
		addrs = []string{cfg.GatewayOverride}
	}
	var gw envoy.Gateway
	var errs []error
	for _, a := range addrs {
		host, port, err := splitHostPort(a)
		if err != nil {
			return nil, gw, &UsageError{Msg: fmt.Sprintf("gateway %q: %v", a, err), Hint: meshFileHint}
		}
		gw = envoy.Gateway{Host: host, Port: port}
		if err = probeGateway(ctx, gw); err == nil {
			errs = nil
			break
		}
		errs = append(errs, err)
	}
	if cfg.CAAddress == "" {
		cfg.CAAddress = meshCfg.CAAddress
	}
	if cfg.CAAddress == "" {
		cfg.CAAddress = net.JoinHostPort(gw.Host, strconv.Itoa(DefaultCAPort))
	}
	return meshCfg, gw, errors.Join(errs...)
}

// newCatalog is the catalogue this session's services come from.
func newCatalog(cfg *Config, meshCfg *mesh.Config) mesh.Source {
	if cfg.MeshFile != nil {
		return mesh.NewStaticCatalog(cfg.MeshFile)
	}
	return mesh.NewCatalog(cfg.Client, cfg.Dynamic, meshCfg, mesh.CatalogOptions{})
}

// tokenSource is where tokens for the mesh CA come from: the mesh file's token file or command,
// else the Kubernetes API.
func (s *Session) tokenSource() certs.TokenSource {
	if f := s.cfg.MeshFile; f != nil && f.Certificate != nil {
		wc := f.Certificate
		switch {
		case wc.TokenFile != "":
			return certs.FileTokenSource{Path: wc.TokenFile}
		case wc.TokenCommand != nil:
			tc := wc.TokenCommand
			env := make([]string, 0, len(tc.Env))
			for _, e := range tc.Env {
				env = append(env, e.Name+"="+e.Value)
			}
			return certs.ExecTokenSource{Command: tc.Command, Args: tc.Args, Env: env}
		}
	}
	return certs.NewServiceAccountTokenSource(s.cfg.Client, s.identity)
}

// certFiles is the mesh file's certificate and key on disk, or nil when the certificate comes
// from the mesh CA.
func (s *Session) certFiles() (*certs.CertFiles, error) {
	f := s.cfg.MeshFile
	if f == nil || f.Certificate == nil || f.Certificate.CertFile == "" {
		return nil, nil
	}
	roots, err := certs.ParseRoots(s.meshCfg.RootsPEM)
	if err != nil {
		return nil, err
	}
	return &certs.CertFiles{CertPath: f.Certificate.CertFile, KeyPath: f.Certificate.KeyFile, Identity: s.identity, Roots: roots}, nil
}

// loadCertFiles is the certificate step when the certificate is on disk.
func (s *Session) loadCertFiles(cf *certs.CertFiles) (string, error) {
	b, err := cf.Load()
	if err != nil {
		return "", &UsageError{Msg: err.Error(), Hint: "give a certificate and key the mesh CA issued for this identity (workloadCertificate in the mesh file)"}
	}
	s.bundle = b
	s.mu.Lock()
	s.state.CertNotAfter = b.NotAfter
	s.mu.Unlock()
	return fmt.Sprintf("%s until %s (from %s)", s.identity.SPIFFEID(), b.NotAfter.Format(time.TimeOnly), cf.CertPath), nil
}

// watchCertFiles replaces the certificate whenever its files change, until the session ends;
// false when the certificate does not come from files.
func (s *Session) watchCertFiles() bool {
	cf, err := s.certFiles()
	if cf == nil || err != nil {
		return false
	}
	current := s.bundle
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		cf.Watch(s.life, current, func(b *certs.Bundle) {
			if err := s.renewed(s.life, b); err != nil {
				s.log.Warn("new certificate from the files not pushed", "err", err)
			}
		}, func(err error) {
			s.log.Warn("certificate files changed but cannot be used; the current certificate stays", "err", err)
			s.mu.Lock()
			s.state.LastError = err.Error()
			s.state.RenewalError = err.Error()
			s.mu.Unlock()
			s.save()
		})
	}()
	return true
}
