package daemon

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

// Variables every session's environment has besides the services'.
const (
	EnvSession  = "MESHJOIN_SESSION"  // the session ID
	EnvIdentity = "MESHJOIN_IDENTITY" // the SPIFFE ID the session acts as
)

// Environment is what a pod of the mesh would get for the joined services, exactly as the
// kubelet sets it (pkg/kubelet/envvars): <SVC>_SERVICE_HOST, <SVC>_SERVICE_PORT (the first
// port), <SVC>_SERVICE_PORT_<PORT_NAME> per named port, and the Docker-link variables
// <SVC>_PORT, <SVC>_PORT_<n>_TCP{,_PROTO,_PORT,_ADDR}; the host is the service's loopback
// address here. A pod only sees its own namespace's services, so two joined services of the
// same name would collide: the first (by key) wins and a warning says so. lookup gives the
// port names, which the state does not keep. In proxy mode the host is the service's full
// name (the proxy routes on it) and ProxyEnvironment's variables come last.
func Environment(st session.State, lookup func(string) (mesh.Service, error)) (vars []EnvVar, warnings []string) {
	svcs := slices.Clone(st.Services)
	slices.SortFunc(svcs, func(a, b session.JoinedService) int { return strings.Compare(a.Key, b.Key) })
	seen := map[string]string{}
	for _, js := range svcs {
		if len(js.Ports) == 0 {
			continue
		}
		name, _, _ := strings.Cut(js.Key, ".")
		portNames := map[uint32]string{}
		if svc, err := lookup(js.Key); err == nil {
			name = svc.Name
			for _, p := range svc.Ports {
				portNames[p.Number] = p.Name
			}
		}
		prefix := envName(name)
		if other, dup := seen[prefix]; dup {
			warnings = append(warnings, fmt.Sprintf("%s and %s both make %s_SERVICE_HOST: %s's variables are left out", other, js.Key, prefix, js.Key))
			continue
		}
		seen[prefix] = js.Key
		vars = append(vars, EnvVar{prefix + "_SERVICE_HOST", host(js)}, EnvVar{prefix + "_SERVICE_PORT", port(js.Ports[0])})
		for _, p := range js.Ports {
			if n := portNames[p.Number]; n != "" {
				vars = append(vars, EnvVar{prefix + "_SERVICE_PORT_" + envName(n), port(p)})
			}
		}
		vars = append(vars, linkVariables(prefix, js)...)
	}
	vars = append(vars, EnvVar{EnvSession, st.ID}, EnvVar{EnvIdentity, st.Identity})
	if st.ProxyAddr != "" {
		vars = append(vars, ProxyEnvironment(st.ProxyAddr, st.Services)...)
	}
	return vars, warnings
}

// linkVariables are the Docker-link style variables; the mesh carries TCP only.
func linkVariables(prefix string, js session.JoinedService) []EnvVar {
	const proto = "tcp"
	var out []EnvVar
	for i, p := range js.Ports {
		url := proto + "://" + net.JoinHostPort(host(js), port(p))
		if i == 0 {
			out = append(out, EnvVar{prefix + "_PORT", url})
		}
		pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Number, strings.ToUpper(proto))
		out = append(out, EnvVar{pp, url}, EnvVar{pp + "_PROTO", proto}, EnvVar{pp + "_PORT", port(p)}, EnvVar{pp + "_ADDR", host(js)})
	}
	return out
}

// host is where the service is called: its loopback address, or in proxy mode its full name.
func host(js session.JoinedService) string {
	if js.Addr == "" && len(js.Names) > 0 {
		return js.Names[0]
	}
	return js.Addr
}

func port(p session.Port) string { return strconv.FormatUint(uint64(p.Number), 10) }

// envName is the kubelet's makeEnvVariableName: upper case, '-' as '_'. A name with a dot (a
// ServiceEntry's) gets '_' for the dot too, which the kubelet never sees.
func envName(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(s))
}
