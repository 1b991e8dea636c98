package mesh

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// gatewayVersions are the Istio Gateway versions read, newest first.
var gatewayVersions = []schema.GroupVersionResource{
	{Group: "networking.istio.io", Version: "v1", Resource: "gateways"},
	{Group: "networking.istio.io", Version: "v1beta1", Resource: "gateways"},
	{Group: "networking.istio.io", Version: "v1alpha3", Resource: "gateways"},
}

// DefaultPassthroughPort is the port of an east-west gateway's AUTO_PASSTHROUGH server in
// Istio's multi-network samples.
const DefaultPassthroughPort = 15443

// passthroughServer is one AUTO_PASSTHROUGH server of a Gateway resource: the east-west
// gateway routes by SNI only the services whose host one of its hosts matches.
type passthroughServer struct {
	gateway string // namespace/name of the Gateway
	port    uint32
	hosts   []string // as written: [namespace/]dnsName
}

// parsePassthroughServers reads the AUTO_PASSTHROUGH servers of a Gateway.
func parsePassthroughServers(u *unstructured.Unstructured) []passthroughServer {
	servers, _, _ := unstructured.NestedSlice(u.Object, "spec", "servers")
	var out []passthroughServer
	for _, raw := range servers {
		srv, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		if mode, _, _ := unstructured.NestedString(srv, "tls", "mode"); mode != "AUTO_PASSTHROUGH" {
			continue
		}
		number, _, _ := unstructured.NestedInt64(srv, "port", "number")
		hosts, _, _ := unstructured.NestedStringSlice(srv, "hosts")
		if number <= 0 || number > 65535 || len(hosts) == 0 {
			continue
		}
		out = append(out, passthroughServer{gateway: u.GetNamespace() + "/" + u.GetName(), port: uint32(number), hosts: hosts})
	}
	return out
}

// routes reports whether the server routes host, of a service in namespace. As istiod reads a
// Gateway host: "ns/name" limits it to namespace ns ("*/" any, "./" the Gateway's own); the
// name is "*", "*.suffix" or exact.
func (s passthroughServer) routes(namespace, host string) bool {
	gwNamespace, _, _ := strings.Cut(s.gateway, "/")
	for _, h := range s.hosts {
		ns, name, scoped := strings.Cut(h, "/")
		if !scoped {
			ns, name = "*", h
		}
		if ns == "." {
			ns = gwNamespace
		}
		if ns != "*" && ns != namespace {
			continue
		}
		if hostMatches(name, host) {
			return true
		}
	}
	return false
}

func hostMatches(pattern, host string) bool {
	pattern, host = strings.ToLower(pattern), strings.ToLower(host)
	if pattern == "*" {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(host, suffix)
	}
	return pattern == host
}

// passthroughServers lists the AUTO_PASSTHROUGH servers of every Gateway in the cache, on the
// gateway's port.
func (c *Catalog) passthroughServers() []passthroughServer {
	var out []passthroughServer
	for _, o := range c.gateways.GetStore().List() {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		for _, s := range parsePassthroughServers(u) {
			if s.port == c.gatewayPort {
				out = append(out, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].gateway < out[j].gateway })
	return out
}

// applyGateways makes a service unreachable when no AUTO_PASSTHROUGH server of the mesh's
// Gateways routes any of its hosts: a real east-west gateway has no filter chain for it, and
// closes the connection. Gateways that cannot be read, or none with such a server, change
// nothing (Start warns about the first).
func (c *Catalog) applyGateways(s *Service) {
	if c.gateways == nil || !s.Reachable {
		return
	}
	servers := c.passthroughServers()
	if len(servers) == 0 {
		// No Gateway says what the gateway routes (it may be configured where meshjoin does
		// not look, e.g. a config cluster): nothing to go by, so nothing is ruled out.
		return
	}
	for _, srv := range servers {
		for _, h := range s.Hosts {
			if srv.routes(s.Namespace, h) {
				return
			}
		}
	}
	s.Reachable = false
	var which []string
	for _, srv := range servers {
		which = append(which, fmt.Sprintf("Gateway %s hosts %s", quoteShort(srv.gateway), strings.Join(quoteAll(srv.hosts), ", ")))
	}
	which = slices.Compact(which)
	s.Reason = fmt.Sprintf("host %s matches no host of the east-west gateway's AUTO_PASSTHROUGH server (%s): the gateway does not route it; a mesh admin can add it to the Gateway's hosts",
		quoteShort(firstOr(s.Hosts, s.Key())), strings.Join(which, "; "))
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = quoteShort(v)
	}
	return out
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
