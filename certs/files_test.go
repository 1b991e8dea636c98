package certs_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/certs"
)

// writePair writes a workload certificate (leaf, intermediate) for spiffeID and its key.
func writePair(t *testing.T, p *testPKI, certPath, keyPath, spiffeID string) *x509.Certificate {
	t.Helper()
	key := newKey(t)
	chain := p.workload(t, key.Public(), spiffeID, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	var certPEM []byte
	for _, c := range chain[:2] {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Each file replaced at once, as tools do (a new file renamed over the old one).
	for _, f := range []struct {
		path string
		data []byte
	}{{keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}, {certPath, certPEM}} {
		path, data := f.path, f.data
		if err := os.WriteFile(path+".new", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	return chain[0]
}

func TestCertFilesLoad(t *testing.T) {
	p := newTestPKI(t, "mesh")
	roots, err := certs.ParseRoots(p.rootPEM())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	alice := certs.Identity{TrustDomain: "cluster.local", Namespace: "dev", ServiceAccount: "alice"}
	f := &certs.CertFiles{CertPath: certPath, KeyPath: keyPath, Identity: alice, Roots: roots}

	leaf := writePair(t, p, certPath, keyPath, alice.SPIFFEID())
	b, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !b.Leaf().Equal(leaf) || b.Identity != alice || len(b.KeyPEM()) == 0 {
		t.Errorf("bundle = %+v", b)
	}
	if id, err := certs.IdentityOfCertFile(certPath); err != nil || id != alice {
		t.Errorf("IdentityOfCertFile = %v, %v", id, err)
	}

	bad := []struct {
		name  string
		setUp func()
		want  string
	}{
		{"another identity", func() { writePair(t, p, certPath, keyPath, "spiffe://cluster.local/ns/dev/sa/bob") }, "is for spiffe://cluster.local/ns/dev/sa/bob, not spiffe://cluster.local/ns/dev/sa/alice"},
		{"another trust domain", func() { writePair(t, p, certPath, keyPath, "spiffe://other.example/ns/dev/sa/alice") }, `outside the mesh's trust domain "cluster.local"`},
		{"another CA", func() { writePair(t, newTestPKI(t, "other"), certPath, keyPath, alice.SPIFFEID()) }, "does not verify against the mesh roots"},
		{"key of another certificate", func() {
			writePair(t, p, certPath, keyPath, alice.SPIFFEID())
			writePair(t, p, certPath+".other", keyPath, alice.SPIFFEID())
		}, "is not the key of certificate file"},
		{"not PEM", func() { os.WriteFile(certPath, []byte("hello"), 0o600) }, "no PEM certificate found"},
		{"no key", func() {
			writePair(t, p, certPath, keyPath, alice.SPIFFEID())
			os.WriteFile(keyPath, []byte("hello"), 0o600)
		}, "no PEM private key found"},
		{"missing", func() { os.Remove(keyPath) }, "read the key file"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			c.setUp()
			if _, err := f.Load(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Load: %v, want %q", err, c.want)
			}
		})
	}
	// Any identity of the trust domain when none is expected.
	writePair(t, p, certPath, keyPath, "spiffe://cluster.local/ns/dev/sa/bob")
	anyone := *f
	anyone.Identity = certs.Identity{TrustDomain: "cluster.local"}
	if _, err := anyone.Load(); err != nil {
		t.Errorf("Load with any identity: %v", err)
	}
}

// Watch reports each new certificate once, complains once about a bad one and keeps going.
func TestCertFilesWatch(t *testing.T) {
	p := newTestPKI(t, "mesh")
	roots, _ := certs.ParseRoots(p.rootPEM())
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	alice := certs.Identity{TrustDomain: "cluster.local", Namespace: "dev", ServiceAccount: "alice"}
	f := &certs.CertFiles{CertPath: certPath, KeyPath: keyPath, Identity: alice, Roots: roots, Interval: 10 * time.Millisecond}
	writePair(t, p, certPath, keyPath, alice.SPIFFEID())
	current, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var changes []*certs.Bundle
	var problems []error
	seen := func(n, m int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return len(changes) >= n && len(problems) >= m }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Watch(ctx, current, func(b *certs.Bundle) { mu.Lock(); changes = append(changes, b); mu.Unlock() },
			func(err error) { mu.Lock(); problems = append(problems, err); mu.Unlock() })
	}()
	wait := func(cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				mu.Lock()
				t.Fatalf("changes %d, problems %v", len(changes), problems)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	second := writePair(t, p, certPath, keyPath, alice.SPIFFEID())
	wait(seen(1, 0))
	writePair(t, p, certPath, keyPath, "spiffe://cluster.local/ns/dev/sa/bob")
	wait(func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(problems) > 0 && strings.Contains(problems[len(problems)-1].Error(), "dev/sa/bob")
	})
	third := writePair(t, p, certPath, keyPath, alice.SPIFFEID())
	wait(seen(2, 1))
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !changes[0].Leaf().Equal(second) || !changes[1].Leaf().Equal(third) || len(changes) != 2 {
		t.Errorf("changes: %d, not the certificates written", len(changes))
	}
	// Between the two renames the watcher may catch the new key beside the old certificate.
	bob := 0
	for _, err := range problems {
		switch {
		case strings.Contains(err.Error(), "dev/sa/bob"):
			bob++
		case !strings.Contains(err.Error(), "is not the key of"):
			t.Errorf("problem: %v", err)
		}
	}
	if bob == 0 {
		t.Errorf("no complaint about the certificate for bob: %v", problems)
	}
}

func TestTokenSources(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte("  tok-from-file\n"), 0o600)
	if got, err := (certs.FileTokenSource{Path: file}).Token(ctx); err != nil || got != "tok-from-file" {
		t.Errorf("file: %q, %v", got, err)
	}
	os.WriteFile(file, nil, 0o600)
	if _, err := (certs.FileTokenSource{Path: file}).Token(ctx); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty file: %v", err)
	}
	cases := []struct {
		name      string
		src       certs.ExecTokenSource
		want, err string
	}{
		{"bare", certs.ExecTokenSource{Command: "sh", Args: []string{"-c", `echo "$T"`}, Env: []string{"T=tok-from-env"}}, "tok-from-env", ""},
		{"ExecCredential", certs.ExecTokenSource{Command: "sh", Args: []string{"-c", `echo '{"kind":"ExecCredential","status":{"token":"tok-cred"}}'`}}, "tok-cred", ""},
		{"fails", certs.ExecTokenSource{Command: "sh", Args: []string{"-c", "echo secret-out; echo denied >&2; exit 3"}}, "", "exit status 3: denied"},
		{"nothing", certs.ExecTokenSource{Command: "true"}, "", "printed nothing"},
		{"bad JSON", certs.ExecTokenSource{Command: "sh", Args: []string{"-c", `echo '{"status":{}}'`}}, "", "not an ExecCredential"},
		{"not found", certs.ExecTokenSource{Command: filepath.Join(dir, "nope")}, "", "no such file"},
		{"too slow", certs.ExecTokenSource{Command: "sleep", Args: []string{"10"}, Timeout: 50 * time.Millisecond}, "", "deadline exceeded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.src.Token(ctx)
			if c.err == "" && (err != nil || got != c.want) {
				t.Errorf("Token = %q, %v; want %q", got, err, c.want)
			}
			if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "secret-out")) {
				t.Errorf("Token error = %v; want %q, without the command's standard output", err, c.err)
			}
		})
	}
}
