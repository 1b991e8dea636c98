package envoy

import (
	"fmt"
	"net/netip"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Names of the two SDS secrets, the same as an Istio sidecar uses.
const (
	SecretCertificate = "default"
	SecretRootCA      = "ROOTCA"
)

const (
	connectTimeout       = 5 * time.Second
	refusedStreamRetries = 2
	upstreamHTTP         = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// alpn is what the local Envoy offers the gateway per upstream protocol (protocol doc,
// section 3). Order matters: the server takes the first it supports. Never
// "istio-peer-exchange".
var alpn = map[Protocol][]string{
	HTTP:  {"istio-http/1.1", "istio", "http/1.1"},
	HTTP2: {"istio-h2", "istio", "h2"},
	TCP:   {"istio"},
}

// UpgradeClusterName is the HTTP/1.1 cluster of an HTTP port's upgrade requests (websocket).
// The port's own cluster speaks HTTP/2 to the destination's sidecar, as Istio's sidecars do
// with h2UpgradePolicy UPGRADE: the developer's HTTP/1.1 connections share one multiplexed mTLS
// connection per worker, which costs the local Envoy, the gateway and the sidecar about a
// third less CPU per request than one mTLS connection per client connection
// (docs/benchmarks.md). An HTTP/1.1 upgrade cannot cross an HTTP/2 hop unless the sidecar
// allows extended CONNECT, which Istio's do not (istio/istio#27078): upgrades keep HTTP/1.1.
func UpgradeClusterName(listener string) string { return listener + ".upgrade" }

// upstreamProtocol is the protocol the local Envoy speaks to the destination's sidecar.
func upstreamProtocol(p Protocol) Protocol {
	if p == HTTP {
		return HTTP2
	}
	return p
}

// Resources is the validated Envoy configuration for one plan.
type Resources struct {
	Listeners []types.Resource
	Clusters  []types.Resource
	Secrets   []types.Resource
}

// ByType maps the resources by xDS type URL, the shape a snapshot takes.
func (r Resources) ByType() map[resource.Type][]types.Resource {
	return map[resource.Type][]types.Resource{
		resource.ListenerType: r.Listeners,
		resource.ClusterType:  r.Clusters,
		resource.SecretType:   r.Secrets,
	}
}

// SNI is the server name the east-west gateway routes on: outbound_.<port>_._.<host>.
func SNI(host string, port uint32) string {
	return fmt.Sprintf("outbound_.%d_._.%s", port, host)
}

// BuildResources turns a plan and credentials into listeners, clusters and the two SDS
// secrets. It is a pure function: the same input gives the same output, every resource has
// passed ValidateAll, and a mistake in the plan is reported with the service it concerns.
func BuildResources(plan Plan, creds Credentials) (Resources, error) {
	if err := validatePlan(plan); err != nil {
		return Resources{}, err
	}
	if err := validateCredentials(creds); err != nil {
		return Resources{}, err
	}
	var out Resources
	for _, svc := range plan.Services {
		for _, port := range svc.Ports {
			clusters, err := buildClusters(plan, svc, port)
			if err != nil {
				return Resources{}, err
			}
			for _, c := range clusters {
				out.Clusters = append(out.Clusters, c)
			}
			if plan.Proxy != nil {
				continue // one listener for all, below
			}
			name := ListenerName(svc.Key, port.Number)
			l, err := buildListener(name, plan, svc, port)
			if err != nil {
				return Resources{}, fmt.Errorf("service %q: listener %q: %w", svc.Key, name, err)
			}
			out.Listeners = append(out.Listeners, l)
		}
		for _, j := range svc.GRPCJSON {
			l, err := buildGRPCJSONListener(svc, j)
			if err != nil {
				return Resources{}, fmt.Errorf("service %q: listener %q: %w", svc.Key, GRPCJSONListenerName(svc.Key, j), err)
			}
			out.Listeners = append(out.Listeners, l)
		}
	}
	if plan.BindInContainer && plan.Proxy == nil {
		merged, err := publishedResources(out.Listeners)
		if err != nil {
			return Resources{}, fmt.Errorf("published listener: %w", err)
		}
		out.Listeners = merged
	}
	if plan.Proxy != nil {
		l, err := buildProxyListener(plan)
		if err != nil {
			return Resources{}, fmt.Errorf("listener %q: %w", ProxyListenerName, err)
		}
		out.Listeners = append(out.Listeners, l)
	}
	out.Secrets = buildSecrets(creds)
	for _, s := range out.Secrets {
		if err := s.(interface{ ValidateAll() error }).ValidateAll(); err != nil {
			return Resources{}, fmt.Errorf("secret: %w", err)
		}
	}
	return out, nil
}

// buildClusters are a service port's clusters: the port's own, and for an HTTP port the
// HTTP/1.1 cluster of its upgrade requests.
func buildClusters(plan Plan, svc Service, port Port) ([]*clusterv3.Cluster, error) {
	name := ListenerName(svc.Key, port.Number)
	upstreams := map[string]Protocol{name: upstreamProtocol(port.Protocol)}
	names := []string{name}
	if port.Protocol == HTTP {
		upstreams[UpgradeClusterName(name)] = HTTP
		names = append(names, UpgradeClusterName(name))
	}
	var clusters []*clusterv3.Cluster
	for _, n := range names {
		c, err := buildCluster(n, plan, svc, port, upstreams[n])
		if err != nil {
			return nil, fmt.Errorf("service %q: cluster %q: %w", svc.Key, n, err)
		}
		clusters = append(clusters, c)
	}
	return clusters, nil
}

func buildListener(name string, plan Plan, svc Service, port Port) (*listenerv3.Listener, error) {
	var filter *listenerv3.Filter
	switch port.Protocol {
	case TCP:
		tp := &tcpproxyv3.TcpProxy{
			StatPrefix:       name,
			ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: name},
		}
		a, err := anyOf(tp)
		if err != nil {
			return nil, err
		}
		filter = &listenerv3.Filter{Name: wellknown.TCPProxy, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}
	default:
		router, err := anyOf(&routerv3.Router{})
		if err != nil {
			return nil, err
		}
		hcm := &hcmv3.HttpConnectionManager{
			// AUTO: curl (HTTP/1.1) and gRPC clients (h2c prior knowledge) both work on any port.
			CodecType:  hcmv3.HttpConnectionManager_AUTO,
			StatPrefix: name,
			RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
				Name: name,
				VirtualHosts: []*routev3.VirtualHost{{
					Name:    name,
					Domains: []string{"*"},
					Routes:  routes(name, port.Protocol),
				}},
			}},
			HttpFilters: []*hcmv3.HttpFilter{{
				Name:       wellknown.Router,
				ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router},
			}},
		}
		if port.Protocol == HTTP {
			hcm.UpgradeConfigs = []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}}
		}
		a, err := anyOf(hcm)
		if err != nil {
			return nil, err
		}
		filter = &listenerv3.Filter{Name: wellknown.HTTPConnectionManager, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}
	}
	l := &listenerv3.Listener{
		Name:         name,
		Address:      socketAddress(svc.ListenIP.String(), port.Number),
		StatPrefix:   name,
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{filter}}},
		// Envoy binds with SO_REUSEPORT by default: a second Envoy (another session, another
		// tool) on the same address would then silently share the port with us. Without it the
		// bind fails and WaitReady says the address is in use.
		EnableReusePort: wrapperspb.Bool(false),
	}
	if err := l.ValidateAll(); err != nil {
		return nil, err
	}
	return l, nil
}

// routes send everything to the port's cluster, and an HTTP port's upgrade requests to its
// HTTP/1.1 cluster (see UpgradeClusterName).
func routes(name string, protocol Protocol) []*routev3.Route {
	to := func(cluster string, h2 bool) *routev3.Route_Route {
		a := &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
			// 0s: no deadline, so gRPC streams and long polls are not cut at 15 s.
			Timeout: durationpb.New(0),
		}
		if h2 {
			// A stream the sidecar refused (it sent GOAWAY while the stream was on its way, as
			// a draining sidecar does) was never processed: send it again on a new connection,
			// as Istio's sidecars do (twice). Only refused streams: a retry never repeats a
			// request the destination saw.
			a.RetryPolicy = &routev3.RetryPolicy{RetryOn: "refused-stream", NumRetries: wrapperspb.UInt32(refusedStreamRetries)}
		}
		return &routev3.Route_Route{Route: a}
	}
	all := &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}, Action: to(name, protocol != TCP)}
	if protocol != HTTP {
		return []*routev3.Route{all}
	}
	upgrade := &routev3.Route{
		Match: &routev3.RouteMatch{
			PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
			Headers: []*routev3.HeaderMatcher{{
				Name: "upgrade", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true},
			}},
		},
		Action: to(UpgradeClusterName(name), false),
	}
	return []*routev3.Route{upgrade, all}
}

// buildCluster is the cluster of a service port towards the gateway, speaking upstream.
func buildCluster(name string, plan Plan, svc Service, port Port, upstream Protocol) (*clusterv3.Cluster, error) {
	tlsCtx := &tlsv3.UpstreamTlsContext{
		Sni: SNI(svc.Host, port.Number),
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams: &tlsv3.TlsParameters{
				TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2,
				TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
			},
			AlpnProtocols: append([]string(nil), alpn[upstream]...),
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{
				Name: SecretCertificate, SdsConfig: adsConfigSource(),
			}},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext: &tlsv3.CertificateValidationContext{
						MatchTypedSubjectAltNames: sanMatchers(svc.Identities, plan.TrustDomains),
					},
					ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{
						Name: SecretRootCA, SdsConfig: adsConfigSource(),
					},
				},
			},
		},
	}
	tlsAny, err := anyOf(tlsCtx)
	if err != nil {
		return nil, err
	}
	c := &clusterv3.Cluster{
		Name:           name,
		ConnectTimeout: durationpb.New(connectTimeout),
		LoadAssignment: oneEndpoint(name, socketAddress(plan.Gateway.Host, plan.Gateway.Port)),
		TransportSocket: &corev3.TransportSocket{
			Name:       wellknown.TransportSocketTLS,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tlsAny},
		},
	}
	if _, err := netip.ParseAddr(plan.Gateway.Host); err == nil {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	} else {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	}
	if upstream != TCP {
		opts := &upstreamhttpv3.HttpProtocolOptions{}
		if upstream == HTTP2 {
			opts.UpstreamProtocolOptions = &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
				ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
						Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
					},
				},
			}
		} else {
			opts.UpstreamProtocolOptions = &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
				ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{
						HttpProtocolOptions: &corev3.Http1ProtocolOptions{},
					},
				},
			}
		}
		a, err := anyOf(opts)
		if err != nil {
			return nil, err
		}
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{upstreamHTTP: a}
	}
	if err := c.ValidateAll(); err != nil {
		return nil, err
	}
	return c, nil
}

// sanMatchers accepts exactly the destination's identities, or, without them, any identity of
// the mesh's trust domains (protocol doc, section 5).
func sanMatchers(identities, trustDomains []string) []*tlsv3.SubjectAltNameMatcher {
	var out []*tlsv3.SubjectAltNameMatcher
	if len(identities) > 0 {
		for _, id := range identities {
			out = append(out, &tlsv3.SubjectAltNameMatcher{
				SanType: tlsv3.SubjectAltNameMatcher_URI,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: id}},
			})
		}
		return out
	}
	for _, td := range trustDomains {
		out = append(out, &tlsv3.SubjectAltNameMatcher{
			SanType: tlsv3.SubjectAltNameMatcher_URI,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://" + td + "/"}},
		})
	}
	return out
}

func buildSecrets(creds Credentials) []types.Resource {
	return []types.Resource{
		&tlsv3.Secret{
			Name: SecretCertificate,
			Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
				CertificateChain: inlineBytes(creds.CertChainPEM),
				PrivateKey:       inlineBytes(creds.KeyPEM),
			}},
		},
		&tlsv3.Secret{
			Name: SecretRootCA,
			Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: inlineBytes(creds.RootsPEM),
			}},
		},
	}
}

// adsConfigSource fetches a resource over the same ADS stream as listeners and clusters.
func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

// oneEndpoint is the load assignment of a cluster with a single endpoint.
func oneEndpoint(cluster string, addr *corev3.Address) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr}},
			}},
		}},
	}
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Protocol:      corev3.SocketAddress_TCP,
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: append([]byte(nil), b...)}}
}

// anyOf validates m (ValidateAll does not look inside an Any) and packs it deterministically,
// so golden files and Envoy's config hashes stay stable.
func anyOf(m proto.Message) (*anypb.Any, error) {
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return nil, err
		}
	}
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, fmt.Errorf("pack %T: %w", m, err)
	}
	return a, nil
}
