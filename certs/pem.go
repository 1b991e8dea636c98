package certs

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrNoCertificate is a PEM bundle without a single certificate in it.
var ErrNoCertificate = errors.New("no PEM certificate found")

// ParseCertificatesPEM is the one reader of PEM certificate bundles (mesh roots, the CA's
// chain, the roots handed to Envoy). The rule, the one of crypto/x509's AppendCertsFromPEM
// and crypto/tls: CERTIFICATE blocks are parsed, in order, and each must parse; other blocks
// and text between blocks are skipped; a bundle without any certificate is ErrNoCertificate.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, ErrNoCertificate
	}
	return out, nil
}
