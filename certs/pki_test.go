package certs_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI is a mesh CA as istiod with a plugged-in CA has it: a root and an
// intermediate that signs workloads and istiod's serving certificate.
type testPKI struct {
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
}

func newTestPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	p := &testPKI{rootKey: newKey(t), interKey: newKey(t)}
	now := time.Now()
	p.root = signCert(t, &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{name}, CommonName: name + " root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}, nil, p.rootKey.Public(), p.rootKey)
	p.inter = signCert(t, &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{name}, CommonName: name + " intermediate"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}, p.root, p.interKey.Public(), p.rootKey)
	return p
}

func (p *testPKI) rootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw})
}

// serving is a TLS certificate for the given DNS names, with the intermediate.
func (p *testPKI) serving(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key := newKey(t)
	leaf := signCert(t, &x509.Certificate{
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(24 * time.Hour),
		DNSNames:    names,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, p.inter, key.Public(), p.interKey)
	return tls.Certificate{Certificate: [][]byte{leaf.Raw, p.inter.Raw}, PrivateKey: key, Leaf: leaf}
}

// workload signs a workload certificate as istiod does (NotBefore backdated
// two minutes) and returns leaf, intermediate, root.
func (p *testPKI) workload(t *testing.T, pub crypto.PublicKey, spiffeID string, notBefore, notAfter time.Time) []*x509.Certificate {
	t.Helper()
	u, err := url.Parse(spiffeID)
	if err != nil {
		t.Fatal(err)
	}
	leaf := signCert(t, &x509.Certificate{
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		URIs:        []*url.URL{u},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, p.inter, pub, p.interKey)
	return []*x509.Certificate{leaf, p.inter, p.root}
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serial atomic.Int64

func signCert(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
