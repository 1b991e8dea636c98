package mesh

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// indent puts every line of s under n spaces, for PEM inside a YAML block scalar.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pad)
}

// goodMeshFile is a complete mesh file; the bad ones below are edits of it.
func goodMeshFile(t *testing.T) string {
	return `version: 1
trustDomain: cluster.local
trustDomainAliases: [old.example]
gateways: ["203.0.113.10:15443", "gw.example.com:15443"]
ca:
  address: 203.0.113.10:15012
roots:
  - pem: |
` + indent(string(selfSignedPEM(t, "root")), 6) + `
workloadCertificate:
  identity: dev/alice
  tokenCommand:
    command: get-token
    args: [--audience, istio-ca]
    env:
      - name: TOKEN_PROFILE
        value: dev
services:
  - name: ratings
    namespace: bookinfo
    ports:
      - number: 9080
        protocol: http
        name: http
    identities: [spiffe://cluster.local/ns/bookinfo/sa/bookinfo-ratings]
  - name: payments
    namespace: shop
    kind: ServiceEntry
    hosts: [payments.internal.example]
    ports:
      - {number: 8443, protocol: tcp}
`
}

func TestParseStaticFile(t *testing.T) {
	f, err := ParseStaticFile("mesh.yaml", t.TempDir(), []byte(goodMeshFile(t)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.Config()
	if cfg.TrustDomain != "cluster.local" || cfg.CAAddress != "203.0.113.10:15012" || !strings.Contains(string(cfg.RootsPEM), "BEGIN CERTIFICATE") {
		t.Errorf("config = %+v", cfg)
	}
	cat := NewStaticCatalog(f)
	if got := len(cat.Services()); got != 2 {
		t.Fatalf("%d services, want 2", got)
	}
	for _, name := range []string{"ratings.bookinfo", "ratings.bookinfo.svc", "ratings.bookinfo.svc.cluster.local", "bookinfo/ratings", "ratings", "payments.internal.example"} {
		if _, err := cat.Lookup(name); err != nil {
			t.Errorf("Lookup(%q): %v", name, err)
		}
	}
	r, _ := cat.Lookup("ratings.bookinfo")
	wantIDs := []string{"spiffe://cluster.local/ns/bookinfo/sa/bookinfo-ratings", "spiffe://old.example/ns/bookinfo/sa/bookinfo-ratings"}
	if !r.Reachable || !r.IdentitiesExact || !slices.Equal(r.Identities, wantIDs) || r.Hosts[0] != "ratings.bookinfo.svc.cluster.local" ||
		len(r.Ports) != 1 || r.Ports[0] != (Port{Name: "http", Number: 9080, Protocol: ProtocolHTTP}) {
		t.Errorf("ratings = %+v", r)
	}
	p, _ := cat.Lookup("payments.internal.example")
	if p.Kind != KindServiceEntry || p.IdentitiesExact {
		t.Errorf("payments = %+v", p)
	}
	var unknown *ErrUnknownService
	if _, err := cat.Lookup("ratingz.bookinfo"); !errors.As(err, &unknown) || !slices.Contains(unknown.Suggestions, "ratings.bookinfo") {
		t.Errorf("Lookup of a typo: %v", err)
	}
}

// Every problem is reported at its line and column, with the field's path.
func TestParseStaticFileErrors(t *testing.T) {
	good := goodMeshFile(t)
	edit := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("fixture has no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	lineOf := func(doc, s string) int { return strings.Count(doc[:strings.Index(doc, s)], "\n") + 1 }
	pemLine := lineOf(good, "  - pem:")
	tokenLine := lineOf(good, "  tokenCommand:")
	servicesLine := lineOf(good, "services:")
	cases := []struct {
		name, doc, want string
	}{
		{"not YAML", "version: 1\ntrustDomain: [\n", "mesh.yaml:2:"},
		{"empty", "", "mesh.yaml:1:1: the file is empty"},
		{"unknown field", edit("trustDomain: cluster.local", "trustDomian: cluster.local"), `mesh.yaml:2:1: trustDomian: unknown field "trustDomian"`},
		{"wrong type", edit("version: 1", "version: one"), "mesh.yaml:1:10: version: want a number, got a string"},
		{"duplicate key", edit("version: 1", "version: 1\nversion: 1"), "mesh.yaml:2:1"},
		{"bad version", edit("version: 1", "version: 2"), "mesh.yaml:1:10: version: version 2 is not supported"},
		{"missing trust domain", edit("trustDomain: cluster.local\n", ""), `mesh.yaml:1:1: missing required field "trustDomain"`},
		{"bad trust domain", edit("trustDomain: cluster.local", "trustDomain: Cluster Local"), "mesh.yaml:2:14: trustDomain: \"Cluster Local\" is not a trust domain"},
		{"bad alias", edit("[old.example]", "[old.example, BAD!]"), "mesh.yaml:3:35: trustDomainAliases.1:"},
		{"bad gateway", edit(`"gw.example.com:15443"`, `"gw.example.com"`), "mesh.yaml:4:34: gateways.1: \"gw.example.com\" is not host:port"},
		{"no gateways", edit(`gateways: ["203.0.113.10:15443", "gw.example.com:15443"]`, "gateways: []"), "mesh.yaml:4:11: gateways: name at least one"},
		{"bad CA", edit("address: 203.0.113.10:15012", "address: 203.0.113.10"), "mesh.yaml:6:12: ca.address:"},
		{"root not PEM", edit("  - pem: |", "  - pem: not a certificate\n    x-pem: |"), "unknown field \"x-pem\""},
		{"root garbage", strings.Replace(edit("  - pem: |", "  - pem: garbage\n  - file: x\n    pem: |"), "-----BEGIN", "-----BEGIN", 1), "roots.0.pem: no PEM certificate found"},
		{"root file missing", edit("  - pem: |", "  - file: nowhere.pem\n  - pem: |"), "roots.0.file: cannot read the root certificate file"},
		{"root both", edit("  - pem: |", "  - file: x.pem\n    pem: |"), "mesh.yaml:" + strconv.Itoa(pemLine) + ":5: roots.0: give exactly one of pem (inline) or file"},
		{"two sources", edit("  tokenCommand:", "  tokenFile: /tmp/x\n  tokenCommand:"), "workloadCertificate: give one of certFile+keyFile, tokenFile or tokenCommand"},
		{"cert without key", edit("  tokenCommand:\n    command: get-token\n    args: [--audience, istio-ca]\n    env:\n      - name: TOKEN_PROFILE\n        value: dev\n", "  certFile: a.pem\n"), "workloadCertificate.certFile: certFile needs keyFile beside it"},
		{"empty command", edit("command: get-token", `command: " "`), "mesh.yaml:" + strconv.Itoa(tokenLine+1) + ":14: workloadCertificate.tokenCommand.command: the command is empty"},
		{"bad env name", edit("name: TOKEN_PROFILE", "name: TOKEN-PROFILE"), "workloadCertificate.tokenCommand.env.0.name: \"TOKEN-PROFILE\" is not an environment variable name"},
		{"bad identity", edit("identity: dev/alice", "identity: alice"), "workloadCertificate.identity: invalid identity"},
		{"no services", edit(good[strings.Index(good, "services:"):], "services: []\n"), "mesh.yaml:" + strconv.Itoa(servicesLine) + ":11: services: name at least one service"},
		{"missing name", edit("  - name: ratings\n    namespace: bookinfo", "  - namespace: bookinfo"), "mesh.yaml:" + strconv.Itoa(servicesLine+1) + ":5: services.0: missing required field \"name\""},
		{"bad name", edit("name: ratings", "name: Ratings_v2"), "services.0.name: \"Ratings_v2\" is not a service name"},
		{"bad kind", edit("kind: ServiceEntry", "kind: Entry"), "services.1.kind: \"Entry\" is not a kind"},
		{"entry without hosts", edit("    hosts: [payments.internal.example]\n", ""), "services.1: a ServiceEntry needs its hosts"},
		{"wildcard host", edit("[payments.internal.example]", `["*.internal.example"]`), "services.1.hosts.0: host \"*.internal.example\": wildcard hosts cannot be joined"},
		{"host taken", edit("payments.internal.example", "ratings.bookinfo.svc.cluster.local"), "host ratings.bookinfo.svc.cluster.local is also a host of ratings.bookinfo"},
		{"twice", edit("name: payments\n    namespace: shop", "name: ratings\n    namespace: bookinfo\n    kind: Service"), ""},
		{"port number", edit("number: 9080", "number: 70000"), "services.0.ports.0.number: 70000 is not a port number"},
		{"port not a number", edit("number: 9080", "number: http"), "want a number, got a string"},
		{"no ports", edit("    ports:\n      - {number: 8443, protocol: tcp}\n", ""), "services.1: missing required field \"ports\""},
		{"protocol", edit("protocol: http\n", "protocol: HTTPS\n"), "services.0.ports.0.protocol: \"HTTPS\" is not a protocol; want http, http2, grpc or tcp"},
		{"missing protocol", edit("{number: 8443, protocol: tcp}", "{number: 8443}"), "services.1.ports.0: missing required field \"protocol\""},
		{"identity not SPIFFE", edit("spiffe://cluster.local/ns/bookinfo/sa/bookinfo-ratings", "bookinfo/bookinfo-ratings"), "services.0.identities.0: identity \"bookinfo/bookinfo-ratings\": not a SPIFFE ID"},
		{"ports a mapping", edit("    ports:\n      - {number: 8443, protocol: tcp}", "    ports: {number: 8443}"), "services.1.ports: want a list, got a mapping"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseStaticFile("mesh.yaml", t.TempDir(), []byte(c.doc))
			var fe *StaticFileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v (%T), want a *StaticFileError", err, err)
			}
			if fe.Line == 0 {
				t.Errorf("no line in %q", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q\nwant it to contain %q", err, c.want)
			}
		})
	}
}

// Relative paths are read against the mesh file's directory and made absolute.
func TestLoadStaticFileRelativePaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "roots.pem"), selfSignedPEM(t, "root"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice.crt", "alice.key"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("read later"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doc := strings.Replace(goodMeshFile(t), "  - pem: |", "  - file: roots.pem\n  - pem: |", 1)
	doc = doc[:strings.Index(doc, "workloadCertificate:")] + "workloadCertificate:\n  certFile: alice.crt\n  keyFile: alice.key\n" + doc[strings.Index(doc, "services:"):]
	path := filepath.Join(dir, "mesh.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadStaticFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Roots[0].File != filepath.Join(dir, "roots.pem") || f.Certificate.CertFile != filepath.Join(dir, "alice.crt") || f.Certificate.KeyFile != filepath.Join(dir, "alice.key") {
		t.Errorf("paths not made absolute: %+v %+v", f.Roots[0], f.Certificate)
	}
	if n := strings.Count(string(f.Config().RootsPEM), "BEGIN CERTIFICATE"); n != 2 {
		t.Errorf("%d roots, want 2 (the file's and the inline one)", n)
	}
}

// An exported file reads back as the same catalogue.
func TestStaticFileRoundTrip(t *testing.T) {
	f, err := ParseStaticFile("mesh.yaml", t.TempDir(), []byte(goodMeshFile(t)))
	if err != nil {
		t.Fatal(err)
	}
	before := NewStaticCatalog(f).Services()
	out, err := StaticFileFrom(StaticExport{Config: f.Config(), Gateway: Gateway{Host: "203.0.113.10", Port: 15443}, CAAddress: "203.0.113.10:15012", Services: before})
	if err != nil {
		t.Fatal(err)
	}
	data, err := MarshalStaticFile(out)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseStaticFile("exported.yaml", t.TempDir(), data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	after := NewStaticCatalog(back).Services()
	for i := range before {
		if before[i].Key() != after[i].Key() || !slices.Equal(before[i].Hosts, after[i].Hosts) || !slices.Equal(before[i].Ports, after[i].Ports) ||
			!slices.Equal(before[i].Identities, after[i].Identities) || before[i].Kind != after[i].Kind {
			t.Errorf("round trip changed %s:\n%+v\n%+v", before[i].Key(), before[i], after[i])
		}
	}
	unreachable := before[0]
	unreachable.Reachable, unreachable.Reason = false, "no sidecar"
	if _, err := StaticFileFrom(StaticExport{Config: f.Config(), Services: []Service{unreachable}}); err == nil {
		t.Error("an unreachable service was exported")
	}
}
