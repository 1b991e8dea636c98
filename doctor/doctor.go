// Package doctor checks, before a first join, that everything a session needs is in place:
// cluster credentials, the identity's permission, the mesh's gateway and CA, Envoy's runtime,
// the hosts file, the addresses and the clock. Each check is a small function that returns a
// verdict, what it found and, when it fails, the fix.
//
// Checks run one after another in a fixed order and share what earlier ones learnt (the mesh
// settings, the gateway); a check whose prerequisite failed is skipped and says which.
package doctor

import (
	"context"
	"net/netip"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshjoin/meshjoin/mesh"
)

// Verdict is the outcome of one check.
type Verdict string

const (
	Pass Verdict = "pass"
	Warn Verdict = "warn" // works, with something worth knowing
	Fail Verdict = "fail"
	Skip Verdict = "skip" // not run: an earlier check it needs failed
)

// Kind says what a failure is, for the exit code (as the other commands classify errors).
type Kind string

const (
	KindPermission  Kind = "permission"
	KindUnreachable Kind = "unreachable"
	KindConflict    Kind = "conflict"
	KindEnvironment Kind = "environment"
)

// Result is one check's outcome.
type Result struct {
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail"`
	Fix     string  `json:"fix,omitempty"`
	Kind    Kind    `json:"kind,omitempty"` // of a failure
}

// Report is every check's result; OK when none failed or was skipped.
type Report struct {
	OK     bool     `json:"ok"`
	Checks []Result `json:"checks"`
}

// Env is what the checks look at: the same settings a join would use.
type Env struct {
	Client     kubernetes.Interface // nil when the kubeconfig could not be loaded
	RESTConfig *rest.Config
	ConnectErr error // why Client is nil
	Context    string

	Identity        string
	Services        []string // the services that would be joined (arguments or project file); may be empty
	Revision        string
	GatewayOverride string
	CAAddress       string
	CAServerName    string

	Runtime      string // docker or native
	EnvoyImage   string
	EnvoyPath    string
	EnvoyNetwork string

	HostsFile string // "" for the system's
	Sudo      string // auto, always or never
	// ProxyPort is proxy mode's port on 127.0.0.1; 0 in hosts mode (see proxy.go).
	ProxyPort int

	AddressRange netip.Prefix
	// Ours are addresses a running meshjoin session of this user holds: in use, but by us.
	Ours map[netip.AddrPort]bool

	// Now is this machine's clock; tests shift it to fake a skew. Nil means time.Now.
	Now func() time.Time
}

// MaxClockSkew is the largest difference from the API server's clock that passes: beyond it
// fresh certificates and tokens look not yet valid (or expired) to the other side.
const MaxClockSkew = time.Minute

// probeTimeout bounds each network probe.
const probeTimeout = 5 * time.Second

// state is what the checks learnt so far.
type state struct {
	env           Env
	authenticated bool // the API server accepted the credentials
	meshCfg       *mesh.Config
	gateway       *mesh.Gateway
	caAddress     string
	probe         *mesh.Service // a joinable service: the gateway is probed with its SNI
	planned       []netip.AddrPort
}

// check is one step: its name, what it needs from earlier checks, and the function.
type check struct {
	name  string
	needs func(*state) string // "" when it can run, else the failed check it needs
	run   func(context.Context, *state) Result
}

// Run runs every check and reports.
func Run(ctx context.Context, env Env) Report {
	if env.Now == nil {
		env.Now = time.Now
	}
	st := &state{env: env}
	rep := Report{OK: true}
	for _, c := range checks() {
		var r Result
		if missing := c.needs(st); missing != "" {
			r = Result{Verdict: Skip, Detail: "needs " + missing}
		} else {
			r = c.run(ctx, st)
		}
		r.Name = c.name
		if r.Verdict == Fail || r.Verdict == Skip {
			rep.OK = false
		}
		rep.Checks = append(rep.Checks, r)
	}
	return rep
}

func checks() []check {
	always := func(*state) string { return "" }
	kube := func(s *state) string {
		if s.env.Client == nil || !s.authenticated {
			return "kube credentials"
		}
		return ""
	}
	meshCfg := func(s *state) string {
		if s.meshCfg == nil {
			return "the mesh settings"
		}
		return ""
	}
	gateway := func(s *state) string {
		if s.gateway == nil {
			return "the gateway's address"
		}
		return meshCfg(s)
	}
	return []check{
		{"kube credentials", always, checkCredentials},
		{"clock", kube, checkClock},
		{"mesh settings", kube, checkMeshConfig},
		{"identity", kube, checkIdentity},
		{"services", meshCfg, checkServices},
		{"gateway", meshCfg, findGateway},
		{"gateway TLS", func(s *state) string {
			if s.probe == nil {
				return "a joinable service"
			}
			return gateway(s)
		}, checkGatewayTLS},
		{"mesh CA", gateway, checkCA},
		{"envoy runtime", always, checkRuntime},
		{"hosts file", always, inProxyMode(checkProxyHostsFile, checkHostsFile)},
		{"helper", always, checkHelper},
		{"addresses", always, inProxyMode(checkProxyPort, checkAddresses)},
	}
}

// inProxyMode runs proxy in proxy mode, else hosts.
func inProxyMode(proxy, hosts func(context.Context, *state) Result) func(context.Context, *state) Result {
	return func(ctx context.Context, s *state) Result {
		if s.env.ProxyPort > 0 {
			return proxy(ctx, s)
		}
		return hosts(ctx, s)
	}
}

func pass(detail string) Result { return Result{Verdict: Pass, Detail: detail} }

func fail(kind Kind, detail, fix string) Result {
	return Result{Verdict: Fail, Detail: detail, Fix: fix, Kind: kind}
}
