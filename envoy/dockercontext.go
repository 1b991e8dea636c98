package envoy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/connhelper"
	dcontext "github.com/docker/cli/cli/context"
	"github.com/docker/cli/cli/context/store"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/tlsconfig"
)

// ErrDockerContext marks a docker CLI context that cannot be used: missing, damaged, or with
// TLS material that does not load.
var ErrDockerContext = errors.New("docker context unusable")

// DockerEndpoint is the engine the docker CLI would talk to, and why.
type DockerEndpoint struct {
	Context string // the docker context's name ("default" for DOCKER_HOST or the built-in socket)
	Source  string // what chose the context: "DOCKER_HOST", "DOCKER_CONTEXT", the config file, or "default"
	Host    string // the engine's address, e.g. unix:///var/run/docker.sock
	opts    []client.Opt
}

func (e DockerEndpoint) String() string {
	return fmt.Sprintf("docker context %q (%s, from %s)", e.Context, e.Host, e.Source)
}

// defaultContextName is the docker CLI's built-in context: DOCKER_HOST, or the platform's socket.
const defaultContextName = "default"

// dockerEndpointName is the endpoint key of a docker context's metadata.
const dockerEndpointName = "docker"

// ResolveDockerEndpoint picks the engine exactly as the docker CLI does (cli/command's
// resolveContextName): DOCKER_HOST set → the default context; else DOCKER_CONTEXT; else the
// config file's currentContext (in DOCKER_CONFIG, default ~/.docker); else "default". A named
// context is read with the docker CLI's own context store, TLS material included.
func ResolveDockerEndpoint() (DockerEndpoint, error) {
	return resolveDockerEndpoint(config.Dir())
}

func resolveDockerEndpoint(configDir string) (DockerEndpoint, error) {
	name, source := defaultContextName, "default"
	switch {
	case os.Getenv(client.EnvOverrideHost) != "":
		source = client.EnvOverrideHost
	case os.Getenv("DOCKER_CONTEXT") != "":
		name, source = os.Getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	default:
		cf, err := config.Load(configDir)
		if err != nil {
			return DockerEndpoint{}, fmt.Errorf("%w: docker config in %s: %v", ErrDockerContext, configDir, err)
		}
		if cf.CurrentContext != "" {
			name, source = cf.CurrentContext, filepath.Join(configDir, "config.json")
		}
	}
	if name == defaultContextName {
		// client.FromEnv is the default context: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH.
		host := os.Getenv(client.EnvOverrideHost)
		if host == "" {
			host = client.DefaultDockerHost
		}
		return DockerEndpoint{Context: name, Source: source, Host: host, opts: []client.Opt{client.FromEnv}}, nil
	}
	return namedEndpoint(filepath.Join(configDir, "contexts"), name, source)
}

// namedEndpoint reads context name from the store in dir.
func namedEndpoint(dir, name, source string) (DockerEndpoint, error) {
	ep := DockerEndpoint{Context: name, Source: source}
	fail := func(format string, args ...any) (DockerEndpoint, error) {
		return ep, fmt.Errorf("%w: docker context %q (from %s): %s", ErrDockerContext, name, source, fmt.Sprintf(format, args...))
	}
	s := store.New(dir, store.NewConfig(
		func() any { return &map[string]any{} },
		store.EndpointTypeGetter(dockerEndpointName, func() any { return &dcontext.EndpointMetaBase{} }),
	))
	meta, err := s.GetMetadata(name)
	if cerrdefs.IsNotFound(err) {
		return fail("no such context in %s", dir)
	}
	if err != nil {
		return fail("%v", err)
	}
	var host dcontext.EndpointMetaBase
	switch m := meta.Endpoints[dockerEndpointName].(type) {
	case dcontext.EndpointMetaBase:
		host = m
	case *dcontext.EndpointMetaBase:
		host = *m
	default:
		return fail("it has no docker endpoint")
	}
	ep.Host = host.Host
	if ep.Host == "" {
		return fail("its docker endpoint has no host")
	}
	tlsData, err := dcontext.LoadTLSData(s, name, dockerEndpointName)
	if err != nil {
		return fail("TLS material: %v", err)
	}
	ep.opts, err = endpointOpts(host, tlsData)
	if err != nil {
		return fail("endpoint %s: %v", ep.Host, err)
	}
	return ep, nil
}

// endpointOpts mirrors docker/cli's cli/context/docker Endpoint.ClientOpts, which builds
// options for the newer moby client; this module uses github.com/docker/docker's.
func endpointOpts(ep dcontext.EndpointMetaBase, tlsData *dcontext.TLSData) ([]client.Opt, error) {
	helper, err := connhelper.GetConnectionHelper(ep.Host)
	if err != nil {
		return nil, err
	}
	if helper != nil { // ssh://: the docker CLI's own connection helper
		return []client.Opt{
			client.WithHTTPClient(&http.Client{Transport: &http.Transport{DialContext: helper.Dialer}}),
			client.WithHost(helper.Host),
			client.WithDialContext(helper.Dialer),
		}, nil
	}
	opts := []client.Opt{client.WithHost(ep.Host)}
	if isSocket(ep.Host) {
		return opts, nil
	}
	tc, err := contextTLS(ep, tlsData)
	if err != nil || tc == nil {
		return opts, err
	}
	return []client.Opt{client.WithHTTPClient(&http.Client{
		Transport: &http.Transport{
			TLSClientConfig: tc,
			DialContext:     (&net.Dialer{KeepAlive: 30 * time.Second, Timeout: 30 * time.Second}).DialContext,
		},
		CheckRedirect: client.CheckRedirect,
	}), client.WithHost(ep.Host)}, nil
}

// contextTLS is the TLS configuration of a tcp:// context: its ca.pem, cert.pem and key.pem.
func contextTLS(ep dcontext.EndpointMetaBase, data *dcontext.TLSData) (*tls.Config, error) {
	if data == nil && !ep.SkipTLSVerify {
		return nil, nil
	}
	var opts []func(*tls.Config)
	if data != nil && data.CA != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data.CA) {
			return nil, errors.New("its ca.pem holds no certificate")
		}
		opts = append(opts, func(c *tls.Config) { c.RootCAs = pool })
	}
	if data != nil && data.Key != nil && data.Cert != nil {
		if b, _ := pem.Decode(data.Key); b == nil {
			return nil, errors.New("its key.pem holds no private key")
		}
		pair, err := tls.X509KeyPair(data.Cert, data.Key)
		if err != nil {
			return nil, fmt.Errorf("its cert.pem and key.pem: %w", err)
		}
		opts = append(opts, func(c *tls.Config) { c.Certificates = []tls.Certificate{pair} })
	}
	if ep.SkipTLSVerify {
		opts = append(opts, func(c *tls.Config) { c.InsecureSkipVerify = true })
	}
	return tlsconfig.ClientDefault(opts...), nil
}

// isSocket: unix sockets, Windows named pipes and file descriptors need no TLS.
func isSocket(host string) bool {
	proto, _, _ := strings.Cut(host, "://")
	return proto == "unix" || proto == "npipe" || proto == "fd"
}
