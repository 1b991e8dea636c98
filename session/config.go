package session

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshjoin/meshjoin/certs"
	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/mesh"
)

// Config is everything a join needs. Zero values mean the defaults below; cmd/meshjoin's flags
// and the docs show these same constants.
type Config struct {
	Client   kubernetes.Interface
	Dynamic  dynamic.Interface
	Context  string // kube context name, for status
	Identity string // "<namespace>/<serviceaccount>"
	Services []string
	Revision string
	// MeshFile, when set, is a static mesh file that replaces every read of the cluster
	// (meshfile.go); Client is then only used for tokens, when the file names no other source.
	MeshFile *mesh.StaticFile

	GatewayOverride string // host:port of the east-west gateway's 15443
	CAAddress       string // host:port of the mesh CA; default the gateway's DefaultCAPort
	CAServerName    string // default DefaultCAServerName(Revision)
	ClusterID       string // default: none sent, which istiod reads as its own cluster ("Kubernetes")
	CertTTL         time.Duration

	HostsFile    string       // default the system hosts file
	AddressRange netip.Prefix // default DefaultAddressRange
	BareNames    bool         // also map the bare service name when unambiguous
	ElevateHosts bool         // write the hosts file through sudo (when not root)

	// Mode is how names reach Envoy: ModeHosts (default: a loopback address per service and
	// the hosts file) or ModeProxy (one HTTP forward proxy on 127.0.0.1:ProxyPort; no hosts
	// file, no addresses, nothing that needs root).
	Mode      string
	ProxyPort int // ModeProxy; default DefaultProxyPort

	Runtime string // RuntimeDocker (default) or RuntimeNative
	// EnvoyNetwork is the docker runtime's envoy.NetworkMode: "auto" (default), "host" or
	// "published".
	EnvoyNetwork string
	EnvoyImage   string // docker runtime; default DefaultEnvoyImage
	EnvoyPath    string // native runtime; default DefaultEnvoyPath (on PATH)
	EnvoyLogs    io.Writer
	PullOutput   io.Writer // progress of an image pull

	// GRPCJSON are gRPC-JSON transcoding listeners for joined services (--grpc-json).
	GRPCJSON []GRPCJSON

	StateDir string
	Log      *slog.Logger
	// Progress, when set, hears about each step (for the TUI and the CLI's progress lines).
	Progress func(Event)

	transcodings []transcoding // GRPCJSON with the descriptor sets read (withDefaults)
}

// The defaults, each defined once (or taken from the package that owns it).
const (
	// DefaultEnvoyImage is the image real users run; tests and the demo use the local one.
	DefaultEnvoyImage = "envoyproxy/envoy:v1.40.0"
	// DefaultEnvoyPath is the native runtime's Envoy, looked up on PATH.
	DefaultEnvoyPath = "envoy"
	// DefaultCertTTL is the certificate lifetime asked for; renewed at half-life.
	DefaultCertTTL = certs.DefaultTTL
	// MinCertTTL is the shortest lifetime accepted (see certs.MinCertTTL for why).
	MinCertTTL = certs.MinCertTTL
	// DefaultCAPort is istiod's port on the east-west gateway (the expose-istiod sample).
	DefaultCAPort = mesh.GatewayCAPort
	// DefaultEnvoyNetwork lets the docker runtime choose host or published networking.
	DefaultEnvoyNetwork = string(envoy.NetworkAuto)
)

// Modes.
const (
	ModeHosts = "hosts"
	ModeProxy = "proxy"
	// DefaultMode maps the names in the hosts file: every client works, unconfigured.
	DefaultMode = ModeHosts
	// DefaultProxyPort is proxy mode's port on 127.0.0.1.
	DefaultProxyPort = 15080
)

// Runtimes.
const (
	RuntimeDocker = "docker"
	RuntimeNative = "native"
	// DefaultRuntime runs Envoy in a container: nothing to install besides Docker.
	DefaultRuntime = RuntimeDocker
)

// DefaultAddressRange is the loopback range services get their addresses from.
var DefaultAddressRange = hosts.DefaultPrefix

// DefaultCAServerName is the TLS name of istiod for a revision ("" or "default": none).
func DefaultCAServerName(revision string) string {
	if revision == "" || revision == "default" {
		return certs.DefaultCAServerName
	}
	return "istiod-" + revision + ".istio-system.svc"
}

// Validate checks cfg the way Join does, before anything is asked of the cluster or the CA;
// every problem is a *UsageError (exit 2).
func (cfg Config) Validate() error {
	_, err := cfg.withDefaults()
	return err
}

// withDefaults is cfg with every zero value replaced by its default, or the first thing wrong
// with it.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir()
	}
	switch {
	case cfg.CertTTL == 0:
		cfg.CertTTL = DefaultCertTTL
	case cfg.CertTTL < MinCertTTL:
		return cfg, &UsageError{Msg: fmt.Sprintf("--cert-ttl %s is below the minimum of %s", cfg.CertTTL, MinCertTTL),
			Hint: fmt.Sprintf("use --cert-ttl %s or longer (the default is %s): the certificate is renewed at half its life, and each renewal asks the cluster for a token and the CA for a signature", MinCertTTL, DefaultCertTTL)}
	}
	if !cfg.AddressRange.IsValid() {
		cfg.AddressRange = DefaultAddressRange
	}
	if !cfg.AddressRange.Addr().Is4() || !cfg.AddressRange.Addr().IsLoopback() {
		return cfg, &UsageError{Msg: fmt.Sprintf("--address-range %s is not a loopback range", cfg.AddressRange),
			Hint: fmt.Sprintf("use one inside 127.0.0.0/8, e.g. %s", DefaultAddressRange)}
	}
	if cfg.Mode == "" {
		cfg.Mode = DefaultMode
	}
	if cfg.Mode != ModeHosts && cfg.Mode != ModeProxy {
		return cfg, &UsageError{Msg: fmt.Sprintf("unknown mode %q", cfg.Mode), Hint: "use --mode hosts or --mode proxy"}
	}
	if cfg.ProxyPort == 0 {
		cfg.ProxyPort = DefaultProxyPort
	}
	if cfg.ProxyPort < 1 || cfg.ProxyPort > 65535 {
		return cfg, &UsageError{Msg: fmt.Sprintf("--proxy-port %d out of range 1-65535", cfg.ProxyPort), Hint: fmt.Sprintf("use a free port on 127.0.0.1, e.g. --proxy-port %d", DefaultProxyPort)}
	}
	if cfg.Runtime == "" {
		cfg.Runtime = DefaultRuntime
	}
	if cfg.Runtime != RuntimeDocker && cfg.Runtime != RuntimeNative {
		return cfg, &UsageError{Msg: fmt.Sprintf("unknown runtime %q", cfg.Runtime), Hint: "use --runtime docker or --runtime native"}
	}
	if _, err := envoy.ParseNetworkMode(cfg.EnvoyNetwork); err != nil {
		return cfg, &UsageError{Msg: err.Error(), Hint: "use --envoy-network auto, host or published"}
	}
	if cfg.Runtime != RuntimeDocker && cfg.EnvoyNetwork != "" && cfg.EnvoyNetwork != DefaultEnvoyNetwork {
		return cfg, &UsageError{Msg: fmt.Sprintf("--envoy-network %s applies to the docker runtime only", cfg.EnvoyNetwork),
			Hint: "drop --envoy-network, or use --runtime docker"}
	}
	if cfg.GatewayOverride != "" {
		if _, _, err := splitHostPort(cfg.GatewayOverride); err != nil {
			return cfg, &UsageError{Msg: fmt.Sprintf("--gateway %q: %v", cfg.GatewayOverride, err), Hint: "give host:port, e.g. --gateway 203.0.113.10:15443"}
		}
	}
	if cfg.EnvoyImage == "" {
		cfg.EnvoyImage = DefaultEnvoyImage
	}
	if cfg.EnvoyPath == "" {
		cfg.EnvoyPath = DefaultEnvoyPath
	}
	cfg, err := cfg.withMeshFile()
	if err != nil {
		return cfg, err
	}
	if cfg.CAServerName == "" {
		cfg.CAServerName = DefaultCAServerName(cfg.Revision)
	}
	if cfg.HostsFile == "" {
		cfg.HostsFile = hosts.SystemPath()
	}
	if _, err := certs.ParseIdentity(cfg.Identity); err != nil {
		return cfg, err
	}
	if cfg.Mode == ModeProxy && len(cfg.GRPCJSON) > 0 {
		// The JSON listener lives on the service's own loopback address, which proxy mode has not.
		return cfg, &UsageError{Msg: "--grpc-json needs hosts mode: its listener is on the service's own address, which proxy mode does not give it",
			Hint: "drop --grpc-json, or use --mode hosts"}
	}
	t, err := loadTranscodings(cfg.GRPCJSON)
	if err != nil {
		return cfg, err
	}
	cfg.transcodings = t
	return cfg, nil
}

// proxyListener is where proxy mode's listener binds (nil in hosts mode).
func (cfg Config) proxyListener() *envoy.ProxyListener {
	if cfg.Mode != ModeProxy {
		return nil
	}
	return &envoy.ProxyListener{IP: netip.MustParseAddr("127.0.0.1"), Port: uint32(cfg.ProxyPort)}
}

func splitHostPort(hp string) (string, uint32, error) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("bad port %q", port)
	}
	if host == "" {
		return "", 0, errors.New("empty host")
	}
	return host, uint32(n), nil
}
