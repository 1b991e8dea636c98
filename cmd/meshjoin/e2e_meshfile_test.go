//go:build !windows

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/certs"
	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/testbed"
)

// The static mesh file: exported by someone who can read the cluster, used by someone who
// cannot. The joins below run with no kubeconfig at all (KUBECONFIG names a file that does not
// exist, no --kubeconfig): any read of the cluster would fail them.

// exportMeshFile runs `meshjoin mesh export` as the developer of the test mesh and returns
// the file's content.
func (e *env) exportMeshFile(services ...string) string {
	e.t.Helper()
	path := filepath.Join(e.t.TempDir(), "mesh.yaml")
	code, _, stderr := e.run(e.args(append(append([]string{"mesh", "export"}, services...), "-o", path)...)...)
	if code != 0 {
		e.t.Fatalf("mesh export exited %d:\n%s", code, stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(data)
}

// withoutCluster makes every later meshjoin of e run without any way to the kube API.
func (e *env) withoutCluster() {
	e.extraEnv = append(e.extraEnv, "KUBECONFIG="+filepath.Join(e.t.TempDir(), "no-such-kubeconfig"))
}

// meshFileJoinArgs are join's flags for a mesh file: no --kubeconfig, no --identity. The
// services get addresses of a range of their own: the other join tests on this machine use the
// default range's, the same for the same service.
func (e *env) meshFileJoinArgs(meshFile string, services ...string) []string {
	return append([]string{"--state-dir", e.stateDir, "join", "--mesh-file", meshFile, "--hosts-file", e.hostsFile,
		"--envoy-image", testbed.EnvoyImage, "--sudo", "never", "--address-range", "127.79.0.0/16"}, services...)
}

// writeMeshFile is the exported file with a workloadCertificate section added, as its reader
// would add it.
func writeMeshFile(t *testing.T, exported, workloadCertificate string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(path, []byte(exported+workloadCertificate), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The export names what join discovers, and nothing secret.
func TestMeshExport(t *testing.T) {
	e := newEnv(t)
	exported := e.exportMeshFile(allProtocols...)
	f, err := mesh.ParseStaticFile("exported", t.TempDir(), []byte(exported))
	if err != nil {
		t.Fatalf("the exported file does not read back: %v\n%s", err, exported)
	}
	if f.TrustDomain != e.tb.TrustDomain || len(f.Gateways) != 1 || f.Gateways[0] != e.tb.GatewayAddr() || f.CA == nil || f.CA.Address != e.tb.CAAddr() {
		t.Errorf("exported settings: trust domain %q, gateways %v, CA %+v; want %q, %s, %s", f.TrustDomain, f.Gateways, f.CA, e.tb.TrustDomain, e.tb.GatewayAddr(), e.tb.CAAddr())
	}
	roots, err := certs.ParseCertificatesPEM(f.Config().RootsPEM)
	if want := must(certs.ParseCertificatesPEM(e.tb.RootPEM)); err != nil || len(roots) != len(want) || !roots[0].Equal(want[0]) {
		t.Errorf("the exported roots are not the mesh's: %v", err)
	}
	if f.Certificate != nil || strings.Contains(exported, "PRIVATE KEY") || strings.Contains(exported, "eyJ") {
		t.Errorf("the exported file holds a credential:\n%s", exported)
	}
	got := map[string]mesh.StaticService{}
	for _, s := range f.Services {
		got[s.Name+"."+s.Namespace] = s
	}
	ratings := got["ratings.bookinfo"]
	if len(got) != len(allProtocols) || len(ratings.Ports) != 1 || ratings.Ports[0].Number != 9080 || ratings.Ports[0].Protocol != "http" ||
		len(ratings.Identities) == 0 || !strings.HasSuffix(ratings.Identities[0], "/ns/bookinfo/sa/bookinfo-ratings") {
		t.Errorf("exported services: %+v", f.Services)
	}
	if inv := got["inventory.payments"]; inv.Kind != "ServiceEntry" || len(inv.Hosts) == 0 || inv.Hosts[0] != "inventory.mesh.internal" {
		t.Errorf("exported ServiceEntry: %+v", inv)
	}

	// Its reader lists them without the cluster.
	e.withoutCluster()
	path := writeMeshFile(t, exported, "")
	code, out, stderr := e.run("services", "--mesh-file", path)
	if code != 0 || !strings.Contains(out, "ratings.bookinfo") || !strings.Contains(out, "inventory.payments") {
		t.Errorf("services --mesh-file: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr := e.run("services", "--mesh-file", filepath.Join(t.TempDir(), "none.yaml")); code != 2 || !strings.Contains(stderr, "Next:") {
		t.Errorf("services --mesh-file with no such file: exit %d (want 2 with a Next: line)\n%s", code, stderr)
	}
}

// Acceptance: a join from the exported file, the kubeconfig withheld, with a token a command
// prints (as a kubeconfig exec plugin would), calls every kind of service as dev/alice.
func TestMeshFileJoinWithTokenCommand(t *testing.T) {
	e := newEnv(t)
	exported := e.exportMeshFile(allProtocols...)
	token := must(e.tb.Token(context.Background(), "dev", "alice", certs.CAAudience))
	path := writeMeshFile(t, exported, fmt.Sprintf(`workloadCertificate:
  identity: dev/alice
  tokenCommand:
    command: sh
    args: ["-c", "printf %%s \"$MESH_TOKEN\""]
    env:
      - name: MESH_TOKEN
        value: %s
`, token))
	e.withoutCluster()
	r := e.startJoin(e.meshFileJoinArgs(path, allProtocols...)...)
	e.assertAllProtocols()
	if st := e.state(); !strings.Contains(st.Context, "mesh file") {
		t.Errorf("state context %q, want the mesh file named", st.Context)
	}
	if strings.Contains(r.stderr.String(), token) {
		t.Error("the token is in join's output")
	}
	r.interrupt(t)
}

// Acceptance: a join from certificate files, the kubeconfig withheld; a certificate replaced
// on disk reaches Envoy without a restart, and calls keep the same identity.
func TestMeshFileJoinWithCertificateFiles(t *testing.T) {
	e := newEnv(t)
	exported := e.exportMeshFile("ratings.bookinfo", "ledger.payments")
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "alice.crt"), filepath.Join(dir, "alice.key")
	me := testbed.SPIFFEID(e.tb.TrustDomain, "dev", "alice")
	issue := func() string {
		kp, err := e.tb.CA.NewKeyPair(testbed.LeafOptions{URIs: []string{me}, TTL: time.Hour, Server: true, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		// Replaced as tools do: a new file renamed over the old one, the key first.
		for _, f := range []struct {
			path string
			data []byte
		}{{keyPath, kp.KeyPEM()}, {certPath, kp.ChainPEM()}} {
			if err := os.WriteFile(f.path+".new", f.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(f.path+".new", f.path); err != nil {
				t.Fatal(err)
			}
		}
		return fmt.Sprintf("%x", kp.Chain[0].SerialNumber)
	}
	first := issue()
	path := writeMeshFile(t, exported, "workloadCertificate:\n  certFile: "+certPath+"\n  keyFile: "+keyPath+"\n")
	e.withoutCluster()
	r := e.startJoin(e.meshFileJoinArgs(path, "ratings.bookinfo", "ledger.payments")...)
	call := func() {
		t.Helper()
		if got, err := getHTTP(e.addr("ratings.bookinfo"), 9080, "/ratings/0"); err != nil || got.Caller != me {
			t.Errorf("HTTP: %+v, %v", got, err)
		}
		if got, err := callGRPC(e.addr("ledger.payments") + ":7070"); err != nil || got.Caller != me {
			t.Errorf("gRPC: %+v, %v", got, err)
		}
	}
	call()
	if got := e.certSerial(); !strings.EqualFold(got, first) {
		t.Fatalf("Envoy serves serial %s, want the file's %s", got, first)
	}
	pid := r.cmd.Process.Pid
	second := issue()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.EqualFold(e.certSerial(), second) {
		if time.Now().After(deadline) {
			t.Fatalf("Envoy still serves %s 30 s after the files changed to %s:\n%s", e.certSerial(), second, r.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if e.state().PID != pid {
		t.Error("the session restarted")
	}
	call()
	// A certificate for someone else is refused; the current one stays.
	other, err := e.tb.CA.NewKeyPair(testbed.LeafOptions{URIs: []string{testbed.SPIFFEID(e.tb.TrustDomain, "dev", "bob")}, TTL: time.Hour, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, other.ChainPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, other.KeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(e.state().RenewalError, "dev/sa/bob") {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("no complaint about the certificate for bob:\n%s", r.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := e.certSerial(); !strings.EqualFold(got, second) {
		t.Errorf("Envoy serves %s after a certificate for another identity, want %s kept", got, second)
	}
	call()
	r.interrupt(t)
}

// Malformed mesh files are refused before anything starts, with file, line and column, and
// exit 2.
func TestMeshFileErrors(t *testing.T) {
	e := newEnv(t)
	exported := e.exportMeshFile("ratings.bookinfo")
	e.withoutCluster()
	lineOf := func(s string) int {
		i := strings.Index(exported, s)
		if i < 0 {
			t.Fatalf("exported file lacks %q:\n%s", s, exported)
		}
		return strings.Count(exported[:i], "\n") + 1
	}
	cases := []struct {
		name, content string
		line          int // 0: no line to check
		want          string
	}{
		{"unknown field", strings.Replace(exported, "trustDomain:", "trustDomian:", 1), lineOf("trustDomain:"), "trustDomian: unknown field"},
		{"bad port", strings.Replace(exported, "number: 9080", "number: 99999", 1), lineOf("number: 9080"), "services.0.ports.0.number: 99999 is not a port number"},
		{"two certificate sources", exported + "workloadCertificate:\n  tokenFile: /etc/hostname\n  certFile: /etc/hostname\n  keyFile: /etc/hostname\n",
			strings.Count(exported, "\n") + 2, "workloadCertificate: give one of certFile+keyFile, tokenFile or tokenCommand"},
		{"misspelt gateways", strings.Replace(exported, "gateways:", "gateway:", 1), lineOf("gateways:"), `gateway: unknown field "gateway"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeMeshFile(t, c.content, "")
			code, _, stderr := e.run(e.meshFileJoinArgs(path, "ratings.bookinfo")...)
			at := fmt.Sprintf("%s:%d:", path, c.line)
			if code != exitUsage || !strings.Contains(stderr, at) || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "Next:") {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d, %q, %q and a Next: line", code, stderr, exitUsage, at, c.want)
			}
		})
	}
	// Without a source of the certificate, a token would come from the cluster: there is none.
	code, _, stderr := e.run(e.meshFileJoinArgs(writeMeshFile(t, exported, ""), "ratings.bookinfo")...)
	if code != exitEnvironment || !strings.Contains(stderr, "kubeconfig") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit %d naming the kubeconfig", code, stderr, exitEnvironment)
	}
}
