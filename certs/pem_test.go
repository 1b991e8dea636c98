package certs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/certs"
)

func selfSigned(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// The one PEM rule: certificates in order, other blocks and text skipped, none is an error,
// a broken certificate is an error.
func TestParseCertificatesPEM(t *testing.T) {
	a, b := selfSigned(t, "root-a"), selfSigned(t, "root-b")
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}})
	bundle := append(append(append([]byte("# roots during a rotation\n"), a...), key...), b...)
	got, err := certs.ParseCertificatesPEM(bundle)
	if err != nil || len(got) != 2 || got[0].Subject.CommonName != "root-a" || got[1].Subject.CommonName != "root-b" {
		t.Fatalf("bundle: %v, %d certificates", err, len(got))
	}
	for name, data := range map[string][]byte{"empty": nil, "text": []byte("not a certificate"), "key only": key} {
		if _, err := certs.ParseCertificatesPEM(data); !errors.Is(err, certs.ErrNoCertificate) {
			t.Errorf("%s: %v, want ErrNoCertificate", name, err)
		}
	}
	broken := append(append([]byte{}, a...), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})...)
	if _, err := certs.ParseCertificatesPEM(broken); err == nil || !strings.HasPrefix(err.Error(), "certificate 2: ") {
		t.Errorf("broken second certificate: %v", err)
	}
}
