package testbed

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Authority is a certificate authority of the test mesh: a self-signed root and, when asked for,
// an intermediate that signs the leaves (root → intermediate → leaf, as a plugged-in Istio CA).
type Authority struct {
	Root       *x509.Certificate
	RootKey    crypto.Signer
	Signer     *x509.Certificate // the intermediate, or the root when there is none
	SignerKey  crypto.Signer
	trustChain []*x509.Certificate // signer up to root, without the leaf
}

// NewAuthority makes a fresh CA. With intermediate, leaves are signed by an intermediate.
func NewAuthority(name string, intermediate bool) (*Authority, error) {
	rootKey, err := newKey()
	if err != nil {
		return nil, err
	}
	root, err := sign(&x509.Certificate{
		Subject:               pkix.Name{Organization: []string{name}, CommonName: name + " root"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
	}, nil, rootKey.Public(), rootKey)
	if err != nil {
		return nil, err
	}
	a := &Authority{Root: root, RootKey: rootKey, Signer: root, SignerKey: rootKey, trustChain: []*x509.Certificate{root}}
	if intermediate {
		key, err := newKey()
		if err != nil {
			return nil, err
		}
		inter, err := sign(&x509.Certificate{
			Subject:               pkix.Name{Organization: []string{name}, CommonName: name + " intermediate"},
			IsCA:                  true,
			BasicConstraintsValid: true,
			MaxPathLenZero:        true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			NotAfter:              time.Now().Add(5 * 365 * 24 * time.Hour),
		}, root, key.Public(), rootKey)
		if err != nil {
			return nil, err
		}
		a.Signer, a.SignerKey = inter, key
		a.trustChain = []*x509.Certificate{inter, root}
	}
	return a, nil
}

// RootPEM is the root certificate as istio-ca-root-cert carries it.
func (a *Authority) RootPEM() []byte { return certPEM(a.Root) }

// Pool is a CertPool holding the root.
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.Root)
	return p
}

// LeafOptions describe a leaf certificate.
type LeafOptions struct {
	URIs     []string // SPIFFE IDs
	DNSNames []string
	IPs      []net.IP
	TTL      time.Duration
	Server   bool // serverAuth usage (workload certs carry both)
	Client   bool
}

// Issue signs pub into a leaf and returns the chain leaf first, root last.
func (a *Authority) Issue(pub crypto.PublicKey, o LeafOptions) ([]*x509.Certificate, error) {
	uris := make([]*url.URL, 0, len(o.URIs))
	for _, s := range o.URIs {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("parse SAN %q: %w", s, err)
		}
		uris = append(uris, u)
	}
	if o.TTL == 0 {
		o.TTL = 24 * time.Hour
	}
	var usage []x509.ExtKeyUsage
	if o.Server {
		usage = append(usage, x509.ExtKeyUsageServerAuth)
	}
	if o.Client {
		usage = append(usage, x509.ExtKeyUsageClientAuth)
	}
	leaf, err := sign(&x509.Certificate{
		URIs:        uris,
		DNSNames:    o.DNSNames,
		IPAddresses: o.IPs,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: usage,
		NotAfter:    time.Now().Add(o.TTL),
	}, a.Signer, pub, a.SignerKey)
	if err != nil {
		return nil, err
	}
	return append([]*x509.Certificate{leaf}, a.trustChain...), nil
}

// KeyPair is a private key with its certificate chain (leaf first).
type KeyPair struct {
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// NewKeyPair makes a key and has the authority sign it.
func (a *Authority) NewKeyPair(o LeafOptions) (*KeyPair, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	chain, err := a.Issue(key.Public(), o)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Key: key, Chain: chain}, nil
}

// ChainPEM is the certificate chain as PEM, leaf first, without the root (as Envoy serves it).
func (k *KeyPair) ChainPEM() []byte {
	var out []byte
	for _, c := range k.Chain {
		if c.IsCA && isSelfSigned(c) {
			continue
		}
		out = append(out, certPEM(c)...)
	}
	return out
}

// KeyPEM is the private key as PKCS#8 PEM.
func (k *KeyPair) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		panic(err) // ECDSA keys always marshal
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TLSCertificate is the pair for crypto/tls.
func (k *KeyPair) TLSCertificate() tls.Certificate {
	c := tls.Certificate{PrivateKey: k.Key, Leaf: k.Chain[0]}
	for _, cert := range k.Chain {
		if cert.IsCA && isSelfSigned(cert) {
			continue
		}
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return c
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Minute)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func isSelfSigned(c *x509.Certificate) bool { return c.CheckSignatureFrom(c) == nil }
