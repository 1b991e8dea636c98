package mesh

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshjoin/meshjoin/certs"
)

// checker checks a decoded mesh file and keeps the first problem, located in the document.
type checker struct {
	file, dir string
	nodes     map[string]ast.Node
	err       *StaticFileError
}

func (c *checker) fail(path, format string, args ...any) {
	if c.err != nil {
		return
	}
	line, col := locate(c.nodes, path)
	c.err = &StaticFileError{File: c.file, Line: line, Column: col, Field: path, Msg: fmt.Sprintf(format, args...)}
}

// present tells whether path is written in the file (a zero value may be written).
func (c *checker) present(path string) bool { _, ok := c.nodes[path]; return ok }

func (c *checker) require(path string) bool {
	if c.present(path) {
		return true
	}
	parent, field := "", path
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		parent, field = path[:i], path[i+1:]
	}
	c.fail(parent, "missing required field %q", field)
	return false
}

func join(path string, parts ...any) string {
	for _, p := range parts {
		path += "." + fmt.Sprint(p)
	}
	return strings.TrimPrefix(path, ".")
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *checker) check(f *StaticFile) {
	if c.require("version") && f.Version != StaticFileVersion {
		c.fail("version", "version %d is not supported; this meshjoin reads version %d", f.Version, StaticFileVersion)
	}
	if c.require("trustDomain") && !validTrustDomain(f.TrustDomain) {
		c.fail("trustDomain", "%s is not a trust domain (lower-case letters, digits, '.', '-', '_')", quoteShort(f.TrustDomain))
	}
	for i, a := range f.TrustDomainAliases {
		if !validTrustDomain(a) {
			c.fail(join("trustDomainAliases", i), "%s is not a trust domain", quoteShort(a))
		}
	}
	if f.ClusterDomain != "" && len(validation.IsDNS1123Subdomain(f.ClusterDomain)) > 0 {
		c.fail("clusterDomain", "%s is not a DNS domain", quoteShort(f.ClusterDomain))
	}
	if c.require("gateways") && len(f.Gateways) == 0 {
		c.fail("gateways", "name at least one east-west gateway address (host:15443)")
	}
	for i, g := range f.Gateways {
		if !validHostPort(g) {
			c.fail(join("gateways", i), "%s is not host:port", quoteShort(g))
		}
	}
	if f.CA != nil && c.require("ca.address") && !validHostPort(f.CA.Address) {
		c.fail("ca.address", "%s is not host:port", quoteShort(f.CA.Address))
	}
	c.checkRoots(f)
	c.checkCertificate(f.Certificate)
	c.checkServices(f)
}

func (c *checker) checkRoots(f *StaticFile) {
	if c.require("roots") && len(f.Roots) == 0 {
		c.fail("roots", "name at least one root certificate (the mesh's istio-ca-root-cert)")
	}
	var all []byte
	for i := range f.Roots {
		r := &f.Roots[i]
		path := join("roots", i)
		if (r.PEM == "") == (r.File == "") {
			c.fail(path, "give exactly one of pem (inline) or file")
			continue
		}
		data, where := []byte(r.PEM), join(path, "pem")
		if r.File != "" {
			r.File = c.abs(r.File)
			where = join(path, "file")
			var err error
			if data, err = os.ReadFile(r.File); err != nil {
				c.fail(where, "cannot read the root certificate file: %v", err)
				continue
			}
		}
		pem, err := parseRoots(data)
		if err != nil {
			c.fail(where, "%v", err)
			continue
		}
		all = append(all, pem...)
	}
	f.rootsPEM = all
}

func (c *checker) checkCertificate(wc *WorkloadCertificate) {
	if wc == nil {
		return
	}
	if wc.Identity != "" {
		if _, err := certs.ParseIdentity(wc.Identity); err != nil {
			c.fail("workloadCertificate.identity", "%v", err)
		}
	}
	sources := 0
	for _, set := range []bool{wc.CertFile != "" || wc.KeyFile != "", wc.TokenFile != "", wc.TokenCommand != nil} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		c.fail("workloadCertificate", "give one of certFile+keyFile, tokenFile or tokenCommand")
	}
	switch {
	case wc.CertFile != "" || wc.KeyFile != "":
		if wc.CertFile == "" {
			c.fail("workloadCertificate.keyFile", "keyFile needs certFile beside it")
		}
		if wc.KeyFile == "" {
			c.fail("workloadCertificate.certFile", "certFile needs keyFile beside it")
		}
		wc.CertFile, wc.KeyFile = c.abs(wc.CertFile), c.abs(wc.KeyFile)
		c.readable("workloadCertificate.certFile", wc.CertFile, "certificate")
		c.readable("workloadCertificate.keyFile", wc.KeyFile, "key")
	case wc.TokenFile != "":
		wc.TokenFile = c.abs(wc.TokenFile)
		c.readable("workloadCertificate.tokenFile", wc.TokenFile, "token")
	case wc.TokenCommand != nil:
		tc := wc.TokenCommand
		if c.require("workloadCertificate.tokenCommand.command") && strings.TrimSpace(tc.Command) == "" {
			c.fail("workloadCertificate.tokenCommand.command", "the command is empty")
		}
		for i, e := range tc.Env {
			path := join("workloadCertificate.tokenCommand.env", i)
			if c.require(join(path, "name")) && !envNameRE.MatchString(e.Name) {
				c.fail(join(path, "name"), "%s is not an environment variable name", quoteShort(e.Name))
			}
		}
	}
}

// readable checks that a file the mesh file names can be read now (it is read again later).
func (c *checker) readable(path, file, what string) {
	if file == "" {
		return
	}
	if _, err := os.ReadFile(file); err != nil {
		c.fail(path, "cannot read the %s file: %v", what, err)
	}
}

func (c *checker) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c *checker) checkServices(f *StaticFile) {
	if c.require("services") && len(f.Services) == 0 {
		c.fail("services", "name at least one service")
	}
	clusterDomain := f.ClusterDomain
	if clusterDomain == "" {
		clusterDomain = DefaultClusterDomain
	}
	keys := map[string]int{}
	owner := map[string]string{}
	for i := range f.Services {
		s := &f.Services[i]
		path := join("services", i)
		if c.require(join(path, "name")) && len(validation.IsDNS1123Label(s.Name)) > 0 {
			c.fail(join(path, "name"), "%s is not a service name (a DNS label)", quoteShort(s.Name))
		}
		if c.require(join(path, "namespace")) && len(validation.IsDNS1123Label(s.Namespace)) > 0 {
			c.fail(join(path, "namespace"), "%s is not a namespace name (a DNS label)", quoteShort(s.Namespace))
		}
		switch Kind(s.Kind) {
		case "", KindService, KindServiceEntry:
		default:
			c.fail(join(path, "kind"), "%s is not a kind; want Service or ServiceEntry", quoteShort(s.Kind))
		}
		key := s.Name + "." + s.Namespace + "/" + s.Kind
		if prev, dup := keys[key]; dup {
			c.fail(path, "%s.%s is listed twice (also services.%d)", s.Name, s.Namespace, prev)
		}
		keys[key] = i
		if len(s.Hosts) == 0 && Kind(s.Kind) == KindServiceEntry {
			c.fail(path, "a ServiceEntry needs its hosts")
		}
		for j, h := range s.Hosts {
			if why := checkHost(h); why != "" {
				c.fail(join(path, "hosts", j), "host %s: %s", quoteShort(h), why)
			}
			if o, taken := owner[strings.ToLower(h)]; taken {
				c.fail(join(path, "hosts", j), "host %s is also a host of %s", h, o)
			}
			owner[strings.ToLower(h)] = s.Name + "." + s.Namespace
		}
		if len(s.Hosts) == 0 {
			fqdn := s.Name + "." + s.Namespace + ".svc." + clusterDomain
			owner[fqdn] = s.Name + "." + s.Namespace
		}
		c.checkPorts(path, s.Ports)
		for j, id := range s.Identities {
			if why := checkSPIFFE(id); why != "" {
				c.fail(join(path, "identities", j), "identity %s: %s", quoteShort(id), why)
			}
		}
	}
}

func (c *checker) checkPorts(path string, ports []StaticPort) {
	if c.require(join(path, "ports")) && len(ports) == 0 {
		c.fail(join(path, "ports"), "name at least one port")
	}
	seen := map[int]bool{}
	for j, p := range ports {
		pp := join(path, "ports", j)
		if c.require(join(pp, "number")) && (p.Number < 1 || p.Number > 65535) {
			c.fail(join(pp, "number"), "%d is not a port number (1-65535)", p.Number)
		}
		if seen[p.Number] {
			c.fail(join(pp, "number"), "port %d is listed twice", p.Number)
		}
		seen[p.Number] = true
		if c.require(join(pp, "protocol")) && !validStaticProtocol(p.Protocol) {
			c.fail(join(pp, "protocol"), "%s is not a protocol; want http, http2, grpc or tcp", quoteShort(p.Protocol))
		}
		if why := checkPortName(p.Name); why != "" {
			c.fail(join(pp, "name"), "port name %s: %s", quoteShort(p.Name), why)
		}
	}
}

func validStaticProtocol(s string) bool {
	switch Protocol(s) {
	case ProtocolHTTP, ProtocolHTTP2, ProtocolGRPC, ProtocolTCP:
		return true
	}
	return false
}
