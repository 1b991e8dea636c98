package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// DefaultTTL is the certificate lifetime asked for when Issuer.TTL is zero.
const DefaultTTL = time.Hour

// maxClockSkew is how far ahead of this computer's clock a fresh leaf's
// NotBefore may be and still be accepted (istiod backdates by two minutes,
// other CAs may not; a laptop clock a little behind must not break joining).
const maxClockSkew = 5 * time.Minute

// CA signs CSRs; [*CAClient] is one.
type CA interface {
	Sign(ctx context.Context, csrPEM []byte, ttl time.Duration, token string) ([][]byte, error)
}

// Issuer obtains a verified workload certificate for one identity.
type Issuer struct {
	CA       CA
	Tokens   TokenSource
	Identity Identity         // must have its trust domain set
	Roots    *x509.CertPool   // mesh root bundle, see ParseRoots
	TTL      time.Duration    // lifetime asked for; zero means DefaultTTL
	Clock    func() time.Time // nil means time.Now
}

// Issue generates a fresh ECDSA P-256 key in memory, sends a CSR for the
// identity's SPIFFE ID with a new token, and checks the answer: the leaf's
// only URI SAN is the SPIFFE ID asked for, the chain verifies against Roots
// (intermediates from the answer), the leaf is current, and it certifies the
// key. Errors wrap the sentinels of this package.
func (i *Issuer) Issue(ctx context.Context) (*Bundle, error) {
	switch {
	case i.CA == nil:
		return nil, errors.New("issuer: no CA")
	case i.Tokens == nil:
		return nil, errors.New("issuer: no token source")
	case i.Roots == nil:
		return nil, errors.New("issuer: no mesh root bundle")
	}
	id := i.Identity
	if err := id.Validate(); err != nil {
		return nil, err
	}
	ttl := i.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	csr, err := NewCSR(key, id)
	if err != nil {
		return nil, err
	}
	token, err := i.Tokens.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("get a token for %s: %w", id, err)
	}
	der, err := i.CA.Sign(ctx, csr, ttl, token)
	if err != nil {
		return nil, fmt.Errorf("request certificate for %s: %w", id, err)
	}
	b, err := verify(der, id, key, i.Roots, i.now())
	if err != nil {
		return nil, fmt.Errorf("request certificate for %s: %w: %w", id, ErrBadCertificate, err)
	}
	return b, nil
}

func (i *Issuer) now() time.Time {
	if i.Clock != nil {
		return i.Clock()
	}
	return time.Now()
}

// NewCSR is a PEM certificate request signed by key whose only content is
// the identity's SPIFFE ID as a URI SAN: no subject, no DNS names, no e-mail,
// no IP addresses.
func NewCSR(key crypto.Signer, id Identity) ([]byte, error) {
	uri, err := url.Parse(id.SPIFFEID())
	if err != nil {
		return nil, fmt.Errorf("CSR for %s: %w", id, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{uri}}, key)
	if err != nil {
		return nil, fmt.Errorf("CSR for %s: %w", id, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// verify checks the CA's answer and makes the bundle.
func verify(der [][]byte, id Identity, key crypto.Signer, roots *x509.CertPool, now time.Time) (*Bundle, error) {
	if len(der) == 0 {
		return nil, errors.New("the CA returned no certificate")
	}
	chain := make([]*x509.Certificate, 0, len(der))
	for _, d := range der {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d of the chain: %w", len(chain), err)
		}
		chain = append(chain, c)
	}
	leaf := chain[0]

	want := id.SPIFFEID()
	got := make([]string, len(leaf.URIs))
	for j, u := range leaf.URIs {
		got[j] = u.String()
	}
	if len(got) != 1 || got[0] != want {
		return nil, fmt.Errorf("CA returned a certificate for %s, asked for %s%s", describeURIs(got), want, mismatchHint(got, id))
	}

	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("the certificate is not for the key sent in the CSR")
	}

	if !now.Before(leaf.NotAfter) {
		return nil, fmt.Errorf("the certificate expired at %s (this computer's time is %s)", leaf.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	at := now
	if now.Before(leaf.NotBefore) {
		if leaf.NotBefore.Sub(now) > maxClockSkew {
			return nil, fmt.Errorf("the certificate is valid only from %s, but this computer's time is %s: check the clock",
				leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		at = leaf.NotBefore // clock a little behind the CA's
	}

	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("the certificate does not verify against the mesh root bundle (ConfigMap istio-ca-root-cert): %w", err)
	}

	return &Bundle{
		Identity:  id,
		Key:       key,
		Chain:     chain,
		NotBefore: leaf.NotBefore,
		NotAfter:  leaf.NotAfter,
		Issued:    at,
	}, nil
}

func describeURIs(uris []string) string {
	switch len(uris) {
	case 0:
		return "no SPIFFE ID (no URI SAN)"
	case 1:
		return uris[0]
	}
	return fmt.Sprintf("%d URIs %v", len(uris), uris)
}

// mismatchHint says which part differs when the leaf is for the same kind of
// identity.
func mismatchHint(got []string, asked Identity) string {
	if len(got) != 1 {
		return ""
	}
	other, err := ParseIdentity(got[0])
	if err != nil {
		return ""
	}
	if other.Namespace == asked.Namespace && other.ServiceAccount == asked.ServiceAccount {
		return fmt.Sprintf(" (the mesh trust domain is %q, not %q: check the trustDomain read from the mesh config)", other.TrustDomain, asked.TrustDomain)
	}
	return " (the token belongs to another service account)"
}

// Bundle is a verified workload certificate with its key.
type Bundle struct {
	Identity  Identity
	Key       crypto.Signer       // ECDSA P-256, generated in memory; never write it to disk
	Chain     []*x509.Certificate // as the CA sent it: leaf first, normally root last
	NotBefore time.Time           // of the leaf
	NotAfter  time.Time           // of the leaf
	// Issued is when the certificate arrived. CAs backdate NotBefore (istiod by minutes), so
	// half-life counts from here: a short TTL is otherwise past half-life on arrival.
	Issued time.Time
}

// Leaf is the workload certificate.
func (b *Bundle) Leaf() *x509.Certificate { return b.Chain[0] }

// RenewAt is the half-life of what is left of the leaf's validity when it arrived: when the
// Rotator renews it.
func (b *Bundle) RenewAt() time.Time {
	from := b.NotBefore
	if b.Issued.After(from) {
		from = b.Issued
	}
	return from.Add(b.NotAfter.Sub(from) / 2)
}

// CertChainPEM is the whole chain in PEM, leaf first, as Istio hands it to
// Envoy (the root included).
func (b *Bundle) CertChainPEM() []byte {
	var out []byte
	for _, c := range b.Chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM is the private key as PKCS #8 PEM, for delivery to Envoy over SDS in
// memory only. It is nil if the key cannot be marshalled.
func (b *Bundle) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(b.Key)
	if err != nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
