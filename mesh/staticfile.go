package mesh

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// A static mesh file (docs/mesh-file.md) describes a mesh so that a workstation can join it
// without any Kubernetes API access: the way in (the east-west gateway), whom to trust (trust
// domain and root certificates), what can be called (services with their hosts, ports and
// identities) and where the workload certificate comes from. `meshjoin mesh export` writes one
// from a cluster; ParseStaticFile reads one strictly, every problem with its line and column.
// The types below are also the source of the file's JSON Schema (docs/meshfile.schema.json):
// yaml tags name the fields, doc tags describe them, required/enum/pattern tags constrain them.

// StaticFileVersion is the only version of the format so far.
const StaticFileVersion = 1

// StaticFileSchemaURL is where editors fetch the file's JSON Schema (docs/meshfile.schema.json
// on main).
const StaticFileSchemaURL = "https://raw.githubusercontent.com/meshjoin/meshjoin/main/docs/meshfile.schema.json"

// StaticFile is a static mesh file as written.
type StaticFile struct {
	Version            int                  `yaml:"version" required:"true" enum:"1" doc:"Version of the format: 1."`
	TrustDomain        string               `yaml:"trustDomain" required:"true" pattern:"^[a-z0-9._-]{1,255}$" doc:"The mesh's trust domain (meshConfig.trustDomain), e.g. cluster.local."`
	TrustDomainAliases []string             `yaml:"trustDomainAliases,omitempty" items:"^[a-z0-9._-]{1,255}$" doc:"Other trust domains the mesh accepts (meshConfig.trustDomainAliases)."`
	ClusterDomain      string               `yaml:"clusterDomain,omitempty" doc:"The cluster's DNS domain; default cluster.local."`
	Network            string               `yaml:"network,omitempty" doc:"The mesh network of the services (topology.istio.io/network), for information."`
	ClusterID          string               `yaml:"clusterID,omitempty" doc:"The cluster name sent to the mesh CA with each certificate request (istiod's CLUSTER_ID); default none, which istiod reads as its own cluster."`
	Gateways           []string             `yaml:"gateways" required:"true" minItems:"1" items:"^[^\\s]+:[0-9]+$" doc:"The east-west gateway's address(es), host:port of its AUTO_PASSTHROUGH port (15443); the first that accepts a connection is used."`
	CA                 *StaticCA            `yaml:"ca,omitempty" doc:"The mesh CA (istiod's port 15012), for certificates from a token. Default: the first gateway's host, port 15012."`
	Roots              []StaticRoot         `yaml:"roots" required:"true" minItems:"1" doc:"The mesh root certificate(s) (ConfigMap istio-ca-root-cert): destinations and the CA are verified against them."`
	Certificate        *WorkloadCertificate `yaml:"workloadCertificate,omitempty" doc:"Where the workload certificate comes from. Left out: a token from the Kubernetes API (kubeconfig), exchanged at the mesh CA."`
	Services           []StaticService      `yaml:"services" required:"true" minItems:"1" doc:"The services that can be joined."`

	rootsPEM []byte // the roots, read and re-encoded by the checks
}

// StaticCA is the mesh CA's address.
type StaticCA struct {
	Address    string `yaml:"address" required:"true" pattern:"^[^\\s]+:[0-9]+$" doc:"host:port of the mesh CA (istiod's 15012, e.g. exposed on the east-west gateway)."`
	ServerName string `yaml:"serverName,omitempty" doc:"TLS server name of the CA; default istiod.istio-system.svc."`
}

// StaticRoot is one root bundle: inline PEM or a file.
type StaticRoot struct {
	PEM  string `yaml:"pem,omitempty" doc:"Root certificate(s) as PEM, inline."`
	File string `yaml:"file,omitempty" doc:"A PEM file of root certificate(s); relative to the mesh file's directory."`
}

// WorkloadCertificate says where the workload certificate comes from: a certificate and key
// on disk, or a token (from a file or a command) that the mesh CA exchanges for one.
type WorkloadCertificate struct {
	Identity     string        `yaml:"identity,omitempty" doc:"The service account to act as, <namespace>/<name> or its SPIFFE ID; --identity overrides it. With certFile it must match the certificate (which alone names it otherwise)."`
	CertFile     string        `yaml:"certFile,omitempty" doc:"PEM certificate chain, leaf first (with keyFile). Re-read when it changes on disk; relative to the mesh file's directory."`
	KeyFile      string        `yaml:"keyFile,omitempty" doc:"PEM private key of certFile (PKCS #8, PKCS #1 or EC). Read into memory only."`
	TokenFile    string        `yaml:"tokenFile,omitempty" doc:"A file holding a service-account token for the mesh CA (audience istio-ca); read again for each certificate request."`
	TokenCommand *TokenCommand `yaml:"tokenCommand,omitempty" doc:"A command whose standard output is a service-account token for the mesh CA, run for each certificate request (like a kubeconfig exec plugin)."`
}

// TokenCommand is a command that prints a token.
type TokenCommand struct {
	Command string   `yaml:"command" required:"true" doc:"The program: a path, or a name looked up on PATH."`
	Args    []string `yaml:"args,omitempty" doc:"Its arguments."`
	Env     []EnvVar `yaml:"env,omitempty" doc:"Variables added to meshjoin's environment for it."`
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name  string `yaml:"name" required:"true" pattern:"^[A-Za-z_][A-Za-z0-9_]*$" doc:"The variable's name."`
	Value string `yaml:"value" doc:"Its value."`
}

// StaticService is one service that can be joined.
type StaticService struct {
	Name       string       `yaml:"name" required:"true" doc:"The service's name (a DNS label)."`
	Namespace  string       `yaml:"namespace" required:"true" doc:"Its namespace."`
	Kind       string       `yaml:"kind,omitempty" enum:"Service|ServiceEntry" doc:"Service (default): a Kubernetes Service, named <name>.<namespace>.svc.<clusterDomain>; ServiceEntry: only its hosts."`
	Hosts      []string     `yaml:"hosts,omitempty" doc:"Its host names, the first the one the gateway knows it by. Default for a Service: <name>.<namespace>.svc.<clusterDomain>; required for a ServiceEntry."`
	Ports      []StaticPort `yaml:"ports" required:"true" minItems:"1" doc:"Its ports (the service ports, not the target ports)."`
	Identities []string     `yaml:"identities,omitempty" items:"^spiffe://" doc:"The SPIFFE IDs its workloads present; any other answer is refused. Left out: any identity of the trust domain is accepted (with a warning)."`
}

// StaticPort is one port of a service.
type StaticPort struct {
	Number   int    `yaml:"number" required:"true" minimum:"1" maximum:"65535" doc:"The service port."`
	Protocol string `yaml:"protocol" required:"true" enum:"http|http2|grpc|tcp" doc:"How the local Envoy carries it: http (HTTP/1.1), http2, grpc or tcp."`
	Name     string `yaml:"name,omitempty" doc:"The port's name, for display."`
}

// StaticFileError is a mesh file that cannot be used; Line and Column say where (0 when the
// whole file is meant), Field the YAML path (services.0.ports.1.number).
type StaticFileError struct {
	File         string
	Line, Column int
	Field        string
	Msg          string
	Err          error // the cause, when it is an error of the file system
}

func (e *StaticFileError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(":%d:%d", e.Line, e.Column)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Msg
}

func (e *StaticFileError) Unwrap() error { return e.Err }

// LoadStaticFile reads and checks the mesh file at path. Relative paths in it are made
// absolute against its directory. Errors are *StaticFileError.
func LoadStaticFile(path string) (*StaticFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &StaticFileError{File: path, Msg: "cannot read the mesh file", Err: err}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &StaticFileError{File: path, Msg: err.Error(), Err: err}
	}
	return ParseStaticFile(path, filepath.Dir(abs), data)
}

// ParseStaticFile reads a mesh file's bytes strictly: every key must be a field, every value of
// its type and valid, every required field present, files it names readable; relative paths
// are resolved against dir. name is used in errors.
func ParseStaticFile(name, dir string, data []byte) (*StaticFile, error) {
	doc, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(name, nil, err)
	}
	var f StaticFile
	err = yaml.NewDecoder(bytes.NewReader(data), yaml.Strict()).Decode(&f)
	if errors.Is(err, io.EOF) {
		return nil, &StaticFileError{File: name, Line: 1, Column: 1, Msg: "the file is empty; `meshjoin mesh export` writes one"}
	}
	if err != nil {
		return nil, yamlError(name, indexNodes(doc), err)
	}
	c := checker{file: name, dir: dir, nodes: indexNodes(doc)}
	c.check(&f)
	if c.err != nil {
		return nil, c.err
	}
	return &f, nil
}

// MarshalStaticFile is f as YAML, as `meshjoin mesh export` writes it.
func MarshalStaticFile(f *StaticFile) ([]byte, error) {
	return yaml.MarshalWithOptions(f, yaml.UseLiteralStyleIfMultiline(true), yaml.IndentSequence(true))
}
