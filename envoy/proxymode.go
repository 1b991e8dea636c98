package envoy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Proxy mode: instead of a listener per service port on its own loopback address (which needs
// the hosts file and, on macOS, loopback aliases), one listener on 127.0.0.1 that is an HTTP
// forward proxy. Plain HTTP requests in absolute form ("GET http://ratings.bookinfo:9080/")
// are routed on their authority; CONNECT ("CONNECT ledger.payments:7070") opens a tunnel whose
// bytes go, as raw TCP, into the same mTLS cluster a hosts-mode listener would use, so gRPC and
// TCP work too. Every other authority gets a 403 naming it: nothing passes through to the
// internet.

// ProxyListenerName names proxy mode's one listener.
const ProxyListenerName = "meshjoin-proxy"

// upgradeConnect is Envoy's upgrade type for CONNECT requests.
const upgradeConnect = "CONNECT"

// refusalFormat is the body of the 403 for an authority that is not joined (an Envoy
// substitution format: %REQ(:AUTHORITY)% is the host:port asked for).
const refusalFormat = "meshjoin: %REQ(:AUTHORITY)% is not a service joined to this session: only joined services' names go through this proxy " +
	"(`meshjoin status` lists them; a host outside the mesh belongs in NO_PROXY)\n"

// ProxyListener is where proxy mode's listener binds: 127.0.0.1 and a port of the user's
// choice on the workstation; ContainerPort inside a container (Plan.BindInContainer).
type ProxyListener struct {
	IP            netip.Addr
	Port          uint32
	ContainerPort uint32
}

// Addr is the listener's host:port on the workstation, e.g. 127.0.0.1:15080.
func (p ProxyListener) Addr() string {
	return netip.AddrPortFrom(p.IP, uint16(p.Port)).String()
}

// ProxyDomains are the authorities proxy mode routes to one service port: every name of the
// service with ":port", and without it for port 80 (what an http:// URL without a port
// means). CONNECT always carries the port.
func ProxyDomains(names []string, port uint32) []string {
	var out []string
	for _, n := range names {
		out = append(out, n+":"+strconv.FormatUint(uint64(port), 10))
		if port == 80 {
			out = append(out, n)
		}
	}
	return out
}

// buildProxyListener is proxy mode's listener: one virtual host per service port whose
// domains are its authorities, with a CONNECT route (tunnel) and a plain route (forward
// proxy) to the port's cluster, and a catch-all virtual host that refuses.
func buildProxyListener(plan Plan) (*listenerv3.Listener, error) {
	var vhosts []*routev3.VirtualHost
	for _, svc := range plan.Services {
		for _, port := range svc.Ports {
			cluster := ListenerName(svc.Key, port.Number)
			tunnel := cluster
			if port.Protocol == HTTP {
				// The client speaks HTTP/1.1 inside the tunnel: the cluster that keeps it.
				tunnel = UpgradeClusterName(cluster)
			}
			vhosts = append(vhosts, &routev3.VirtualHost{
				Name:    cluster,
				Domains: ProxyDomains(svc.Names, port.Number),
				Routes: append([]*routev3.Route{
					{
						Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_ConnectMatcher_{ConnectMatcher: &routev3.RouteMatch_ConnectMatcher{}}},
						Action: &routev3.Route_Route{Route: &routev3.RouteAction{
							ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: tunnel},
							// connect_config: Envoy answers the CONNECT itself and sends the
							// tunnel's bytes upstream as a TCP stream (not a CONNECT of its own).
							UpgradeConfigs: []*routev3.RouteAction_UpgradeConfig{{
								UpgradeType:   upgradeConnect,
								ConnectConfig: &routev3.RouteAction_UpgradeConfig_ConnectConfig{},
							}},
							Timeout: durationpb.New(0),
						}},
					},
				}, routes(cluster, port.Protocol)...), // as in hosts mode
			})
		}
	}
	refuse := &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 403}}
	vhosts = append(vhosts, &routev3.VirtualHost{
		Name:    "not-joined",
		Domains: []string{"*"},
		Routes: []*routev3.Route{
			{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_ConnectMatcher_{ConnectMatcher: &routev3.RouteMatch_ConnectMatcher{}}}, Action: refuse},
			{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}, Action: refuse},
		},
	})
	router, err := anyOf(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	hcm := &hcmv3.HttpConnectionManager{
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		StatPrefix: ProxyListenerName,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name:         ProxyListenerName,
			VirtualHosts: vhosts,
		}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: wellknown.Router, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}},
		// HTTP/1.1 CONNECT is an upgrade; HTTP/2 clients' CONNECT needs allow_connect.
		UpgradeConfigs:       []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: upgradeConnect}, {UpgradeType: "websocket"}},
		Http2ProtocolOptions: &corev3.Http2ProtocolOptions{AllowConnect: true},
		LocalReplyConfig: &hcmv3.LocalReplyConfig{Mappers: []*hcmv3.ResponseMapper{{
			// The only 403 Envoy itself answers here is the refusal above.
			Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{StatusCodeFilter: &accesslogv3.StatusCodeFilter{
				Comparison: &accesslogv3.ComparisonFilter{Op: accesslogv3.ComparisonFilter_EQ, Value: &corev3.RuntimeUInt32{DefaultValue: 403, RuntimeKey: "meshjoin.refusal"}},
			}}},
			BodyFormatOverride: &corev3.SubstitutionFormatString{
				Format:      &corev3.SubstitutionFormatString_TextFormatSource{TextFormatSource: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: refusalFormat}}},
				ContentType: "text/plain; charset=utf-8",
			},
		}}},
	}
	a, err := anyOf(hcm)
	if err != nil {
		return nil, err
	}
	host, number := plan.Proxy.IP.String(), plan.Proxy.Port
	if plan.BindInContainer {
		host, number = "0.0.0.0", plan.Proxy.ContainerPort
	}
	l := &listenerv3.Listener{
		Name:         ProxyListenerName,
		Address:      socketAddress(host, number),
		StatPrefix:   ProxyListenerName,
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{Name: wellknown.HTTPConnectionManager, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}}}},
		// As in hosts mode (see buildListener): a port in use is an error, never shared.
		EnableReusePort: wrapperspb.Bool(false),
	}
	if err := l.ValidateAll(); err != nil {
		return nil, err
	}
	return l, nil
}

// validateProxy checks what proxy mode needs of a plan: a loopback listener, and names that
// are valid, unique authorities (Envoy refuses a route configuration whose virtual hosts
// share a domain).
func validateProxy(plan Plan) error {
	p := plan.Proxy
	if !p.IP.IsValid() || !p.IP.IsLoopback() {
		return fmt.Errorf("proxy: listen address %s is not a loopback address (the proxy would be open beyond this machine)", p.IP)
	}
	if p.Port == 0 || p.Port > 65535 {
		return fmt.Errorf("proxy: port %d out of range 1-65535", p.Port)
	}
	if plan.BindInContainer && (p.ContainerPort == 0 || p.ContainerPort > 65535) {
		return fmt.Errorf("proxy: container port %d out of range 1-65535", p.ContainerPort)
	}
	owner := map[string]string{}
	for _, svc := range plan.Services {
		if len(svc.Names) == 0 {
			return fmt.Errorf("service %q: no names to route on", svc.Key)
		}
		for _, port := range svc.Ports {
			for _, d := range ProxyDomains(svc.Names, port.Number) {
				if d == "" || strings.ContainsAny(d, " \t\r\n/*") {
					return fmt.Errorf("service %q: name %q cannot be routed on", svc.Key, d)
				}
				key := strings.ToLower(d)
				if other, dup := owner[key]; dup {
					return fmt.Errorf("service %q: %s is already routed to %s", svc.Key, d, other)
				}
				owner[key] = ListenerName(svc.Key, port.Number)
			}
		}
	}
	return nil
}

// publishProxy is Publish for proxy mode: the one listener binds PublishedContainerPort,
// which Docker publishes where the user asked for the proxy (PublishedProxy). It routes by
// name, so no forwarder is needed, and a change of services changes no port either.
func publishProxy(out Plan) Plan {
	p := *out.Proxy
	p.ContainerPort = PublishedContainerPort
	out.Proxy = &p
	return out
}

// PublishedProxy is the port Docker publishes for proxy mode's listener, on 127.0.0.1.
func PublishedProxy(p ProxyListener) PublishedPort {
	return PublishedPort{Listener: ProxyListenerName, HostIP: p.IP, HostPort: p.Port, ContainerPort: PublishedContainerPort}
}
