// Package project reads meshjoin.yaml, the project file that says which services a repository
// joins and with which identity, and its personal companion meshjoin.local.yaml.
//
// The file is found by [Find] (walking up to the repository root, or --config /
// $MESHJOIN_CONFIG), decoded strictly by [Load] (an unknown field or a wrong type is a
// [*FileError] naming the file, line and field), and narrowed to one profile by
// [File.Resolve]. The command line applies the result under its flags: flags > file (profile >
// top level, the local file merged in first) > defaults. The JSON Schema published in
// docs/meshjoin.schema.json is generated from these types by [Schema], so the two cannot drift.
package project

import (
	"time"
)

// FileName is the project file looked for in the current directory and its parents.
const FileName = "meshjoin.yaml"

// DefaultEnvFile is where `meshjoin env` writes and IDE configurations read the services'
// environment when the file names no envFile; relative to the project file's directory.
const DefaultEnvFile = ".meshjoin/env"

// File is the content of meshjoin.yaml (or meshjoin.local.yaml). Empty fields are unset.
// Struct tags: yaml names the key; doc is the description published in the JSON Schema.
type File struct {
	Context  string `yaml:"context,omitempty" doc:"kubeconfig context to use (like --context); default the kubeconfig's current context"`
	Settings `yaml:",inline"`

	HostsFile    string             `yaml:"hostsFile,omitempty" doc:"hosts file to write (like --hosts-file); relative to this file's directory; default the system's"`
	AddressRange string             `yaml:"addressRange,omitempty" doc:"loopback range the services' addresses come from (like --address-range), e.g. 127.77.0.0/16"`
	EnvFile      string             `yaml:"envFile,omitempty" doc:"where 'meshjoin env' writes the services' environment and IDE configurations read it; relative to this file's directory; default .meshjoin/env"`
	IdleTimeout  Duration           `yaml:"idleTimeout,omitempty" doc:"the background session ('meshjoin up') ends after this long with no client; default never"`
	MeshFile     string             `yaml:"meshFile,omitempty" doc:"static mesh file to join from instead of reading the cluster (like --mesh-file, docs/mesh-file.md); relative to this file's directory"`
	Profiles     map[string]Profile `yaml:"profiles,omitempty" doc:"named sets of settings chosen with --profile NAME; a profile's fields override the top level's" names:"^[A-Za-z0-9][-A-Za-z0-9_.]*$"`
}

// Profile is a named variant of the top-level settings, chosen with --profile.
type Profile struct {
	Settings `yaml:",inline"`
}

// Settings are the fields allowed both at the top level and in a profile.
type Settings struct {
	Identity   Identity          `yaml:"identity,omitempty" doc:"service account to act as, <namespace>/<name> or its SPIFFE ID (like --identity)"`
	Services   []string          `yaml:"services,omitempty" doc:"services joined when none are named on the command line: <name>.<namespace>, or a ServiceEntry host" items:"^\\S+$"`
	CertTTL    Duration          `yaml:"certTTL,omitempty" doc:"lifetime of the workload certificate, renewed at half-life (like --cert-ttl), e.g. 1h"`
	BareNames  *bool             `yaml:"bareNames,omitempty" doc:"also map the bare service name (e.g. ratings) when unambiguous (like --bare-names)"`
	Runtime    Runtime           `yaml:"runtime,omitempty" doc:"how to run Envoy (like --runtime): docker or native"`
	EnvoyImage string            `yaml:"envoyImage,omitempty" doc:"Envoy image for the docker runtime (like --envoy-image)"`
	Mode       Mode              `yaml:"mode,omitempty" doc:"how names reach the mesh (like --mode): hosts (a loopback address per service, names in the hosts file; the default) or proxy (an HTTP proxy on 127.0.0.1 that clients use through HTTP_PROXY: no hosts file, no root)"`
	ProxyPort  Port              `yaml:"proxyPort,omitempty" doc:"proxy mode: the HTTP proxy's port on 127.0.0.1 (like --proxy-port); default 15080"`
	GRPCJSON   map[string]string `yaml:"grpcJSON,omitempty" doc:"gRPC-JSON transcoding (like --grpc-json): SERVICE or SERVICE:PORT to the descriptor set file made by protoc --include_imports --descriptor_set_out; relative to this file's directory. The JSON listener is on the gRPC port + 10000" names:"^[^\\s:=]+(:[0-9]+)?$"`
}

// Resolved is what the project file says for one profile, with the local file merged in and
// the profile applied over the top level. Zero fields are unset: the flag's default applies.
type Resolved struct {
	Path    string // the project file read; "" when there is none
	Profile string // the profile applied; "" for the top level

	Context      string
	Identity     string
	Services     []string
	CertTTL      time.Duration
	BareNames    *bool
	Runtime      string
	EnvoyImage   string
	Mode         string
	ProxyPort    int    // 0: unset
	HostsFile    string // absolute
	AddressRange string
	EnvFile      string            // absolute; DefaultEnvFile beside the project file when unset
	IdleTimeout  time.Duration     // 0: never
	GRPCJSON     map[string]string // SERVICE[:PORT] -> absolute descriptor set path
	MeshFile     string            // absolute
}
