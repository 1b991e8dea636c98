package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// DefaultFilePoll is how often CertFiles.Watch looks at the files when Interval is zero.
const DefaultFilePoll = 2 * time.Second

// CertFiles is a workload certificate and its key kept on disk by something else (a script,
// an agent, a colleague with a CA): Load reads and checks them, Watch loads them again whenever
// they change. The key is read into memory only; nothing here writes it anywhere.
//
// Watch polls rather than using file-system notifications: tools replace such files by
// renaming a new one over them, which ends a notification watch on the old file, and two
// small files every couple of seconds cost nothing.
type CertFiles struct {
	CertPath, KeyPath string
	// Identity is the one the certificate must be for; its trust domain must be set. An empty
	// namespace and service account accept any identity of the trust domain.
	Identity Identity
	Roots    *x509.CertPool // the mesh roots the chain must verify against
	Interval time.Duration  // how often Watch looks; zero means DefaultFilePoll
	Clock    func() time.Time
}

// Load reads the certificate chain and key and checks them: one SPIFFE ID, the identity
// expected, a key that matches, a chain that verifies against the mesh roots now.
func (f *CertFiles) Load() (*Bundle, error) {
	certPEM, keyPEM, err := f.read()
	if err != nil {
		return nil, err
	}
	return f.parse(certPEM, keyPEM)
}

func (f *CertFiles) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(f.CertPath); err != nil {
		return nil, nil, fmt.Errorf("read the certificate file: %w", err)
	}
	if keyPEM, err = os.ReadFile(f.KeyPath); err != nil {
		return nil, nil, fmt.Errorf("read the key file: %w", err)
	}
	return certPEM, keyPEM, nil
}

func (f *CertFiles) parse(certPEM, keyPEM []byte) (*Bundle, error) {
	chain, err := ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate file %s: %w", f.CertPath, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", f.KeyPath, err)
	}
	leaf := chain[0]
	if len(leaf.URIs) != 1 {
		return nil, fmt.Errorf("certificate file %s: the first certificate must carry exactly one SPIFFE ID (URI SAN), it has %d", f.CertPath, len(leaf.URIs))
	}
	id, err := ParseIdentity(leaf.URIs[0].String())
	if err != nil {
		return nil, fmt.Errorf("certificate file %s: %w", f.CertPath, err)
	}
	want := f.Identity
	switch {
	case id.TrustDomain != want.TrustDomain:
		return nil, fmt.Errorf("certificate file %s is for %s, outside the mesh's trust domain %q", f.CertPath, id.SPIFFEID(), want.TrustDomain)
	case want.Namespace != "" && (id.Namespace != want.Namespace || id.ServiceAccount != want.ServiceAccount):
		return nil, fmt.Errorf("certificate file %s is for %s, not %s", f.CertPath, id.SPIFFEID(), want.SPIFFEID())
	}
	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("key file %s is not the key of certificate file %s", f.KeyPath, f.CertPath)
	}
	now := time.Now()
	if f.Clock != nil {
		now = f.Clock()
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: f.Roots, Intermediates: intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("certificate file %s does not verify against the mesh roots: %w", f.CertPath, err)
	}
	return &Bundle{Identity: id, Key: key, Chain: chain, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Issued: now}, nil
}

// parseKey reads the first private key of a PEM file: PKCS #8, PKCS #1 (RSA) or SEC 1 (EC).
func parseKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse the %s: %w", block.Type, err)
		}
		switch k := key.(type) {
		case *ecdsa.PrivateKey, *rsa.PrivateKey:
			return k.(crypto.Signer), nil
		}
		return nil, fmt.Errorf("unsupported key type %T: use an ECDSA or RSA key", key)
	}
}

// Watch looks at the files every Interval until ctx ends. When their content changes and
// loads, onChange gets the new bundle. Content that does not load is reported to onError once
// it has stayed the same for a whole interval (a tool that writes the key, then the
// certificate, is caught between the two, and that is no news), and the current bundle stays in
// use. current is the bundle loaded last. Watch returns when ctx ends; call it from one
// goroutine.
func (f *CertFiles) Watch(ctx context.Context, current *Bundle, onChange func(*Bundle), onError func(error)) {
	interval := f.Interval
	if interval <= 0 {
		interval = DefaultFilePoll
	}
	// The content looked at last, loaded or not; none yet, so a change made before Watch
	// started is seen at the first look (and a rewrite of current is no change).
	var lastCert, lastKey []byte
	var pending error // why that content does not load, not yet reported
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		certPEM, keyPEM, err := f.read()
		if bytes.Equal(certPEM, lastCert) && bytes.Equal(keyPEM, lastKey) {
			if pending != nil {
				onError(pending)
				pending = nil
			}
			continue
		}
		lastCert, lastKey, pending = certPEM, keyPEM, err
		if err != nil {
			continue
		}
		b, err := f.parse(certPEM, keyPEM)
		if err != nil {
			pending = err
			continue
		}
		if current != nil && current.Leaf().Equal(b.Leaf()) {
			continue // rewritten with the same certificate
		}
		current = b
		onChange(b)
	}
}

// IdentityOfCertFile is the identity a certificate file is for: the SPIFFE ID of its first
// certificate.
func IdentityOfCertFile(path string) (Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Identity{}, fmt.Errorf("read the certificate file: %w", err)
	}
	chain, err := ParseCertificatesPEM(data)
	if err != nil {
		return Identity{}, fmt.Errorf("certificate file %s: %w", path, err)
	}
	if len(chain[0].URIs) != 1 {
		return Identity{}, fmt.Errorf("certificate file %s: the first certificate must carry exactly one SPIFFE ID (URI SAN), it has %d", path, len(chain[0].URIs))
	}
	id, err := ParseIdentity(chain[0].URIs[0].String())
	if err != nil {
		return Identity{}, fmt.Errorf("certificate file %s: %w", path, err)
	}
	return id, nil
}
