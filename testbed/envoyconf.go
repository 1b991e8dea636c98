package testbed

import (
	"fmt"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// IstioALPNs is the list the east-west gateway (and a PERMISSIVE sidecar) require, as istiod generates it.
var IstioALPNs = []string{"istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"}

// Ports of the east-west gateway, as Istio's expose-istiod and cross-network samples define them.
const (
	GatewayTLSPort = 15443
	GatewayCAPort  = 15012
)

// gatewayBootstrap is the east-west gateway. Its clusters are the test mesh's: one per
// service port, named as istiod names the gateway's SNI clusters (outbound_.<port>_._.<host>),
// pointing at the sidecars' loopback addresses; 15012 is passed through to the CA. Its 15443
// listener comes from istiod over ADS (xdsAddr), generated from the Gateway resource, as a real
// east-west gateway's does; without istiod (xdsAddr "") it is static: one chain per service
// port, matched by SNI and Istio ALPN, TLS passed through untouched.
func gatewayBootstrap(ip string, adminPort int, workloads []Workload, caAddr, xdsAddr string) (*bootstrapv3.Bootstrap, error) {
	var chains []*listenerv3.FilterChain
	var clusters []*clusterv3.Cluster
	for _, w := range workloads {
		if w.OutsideMesh {
			continue
		}
		for _, p := range w.Ports {
			name := w.SNI(p.Number) // istiod's tcp_proxy names the cluster as the SNI
			clusters = append(clusters, staticCluster(name, w.Addr, p.TargetPort, nil, nil))
			chains = append(chains, &listenerv3.FilterChain{
				FilterChainMatch: &listenerv3.FilterChainMatch{
					ServerNames:          []string{w.SNI(p.Number)},
					ApplicationProtocols: IstioALPNs,
				},
				Filters: []*listenerv3.Filter{tcpProxy(name, name)},
			})
		}
	}
	clusters = append(clusters, staticCluster("istiod", hostOf(caAddr), portOf(caAddr), nil, nil))
	listeners := []*listenerv3.Listener{{
		Name:         "0.0.0.0_15012",
		Address:      socketAddress(ip, GatewayCAPort),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{tcpProxy("istiod", "istiod")}}},
	}}
	if xdsAddr == "" {
		listeners = append(listeners, &listenerv3.Listener{
			Name:            "0.0.0.0_15443",
			Address:         socketAddress(ip, GatewayTLSPort),
			ListenerFilters: []*listenerv3.ListenerFilter{tlsInspector()},
			FilterChains:    chains, // no default chain: wrong SNI or no Istio ALPN is closed
		})
		return bootstrap("east-west-gateway", adminPort, listeners, clusters)
	}
	http2 := &upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}},
	}
	clusters = append(clusters, staticCluster(xdsCluster, hostOf(xdsAddr), portOf(xdsAddr), nil, http2))
	b, err := bootstrap(gatewayNodeID(ip), adminPort, listeners, clusters)
	if err != nil {
		return nil, err
	}
	b.Node.Metadata = gatewayNodeMetadata()
	ads := &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
	b.DynamicResources = &bootstrapv3.Bootstrap_DynamicResources{
		LdsConfig: ads, // only listeners: the clusters stay the test mesh's (see above)
		AdsConfig: &corev3.ApiConfigSource{
			ApiType:             corev3.ApiConfigSource_GRPC,
			TransportApiVersion: corev3.ApiVersion_V3,
			GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: xdsCluster},
			}}},
		},
	}
	return b, b.ValidateAll()
}

// sidecarBootstrap terminates mTLS in front of a workload's echo apps as Istio's sidecar does:
// client certificate required, chained to the mesh root, URI SAN under the trust domain(s);
// STRICT has one TLS chain per port, PERMISSIVE picks mTLS by Istio ALPN and accepts plaintext.
func sidecarBootstrap(w Workload, adminPort int, cert *KeyPair, rootPEM []byte, trustDomains []string, apps map[uint32]*echoApp) (*bootstrapv3.Bootstrap, error) {
	var sans []*tlsv3.SubjectAltNameMatcher
	for _, td := range trustDomains {
		sans = append(sans, &tlsv3.SubjectAltNameMatcher{
			SanType: tlsv3.SubjectAltNameMatcher_URI,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://" + td + "/"}},
		})
	}
	downstreamTLS := &tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams: &tlsv3.TlsParameters{
				TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2,
				TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
			},
			TlsCertificates: []*tlsv3.TlsCertificate{{
				CertificateChain: inlineBytes(cert.ChainPEM()),
				PrivateKey:       inlineBytes(cert.KeyPEM()),
			}},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa:                 inlineBytes(rootPEM),
				MatchTypedSubjectAltNames: sans,
			}},
			AlpnProtocols: []string{"h2", "http/1.1"},
		},
	}
	var listeners []*listenerv3.Listener
	var clusters []*clusterv3.Cluster
	for _, p := range w.Ports {
		app := apps[p.Number]
		clusterName := fmt.Sprintf("inbound|%d||", p.TargetPort)
		// plainFilter serves a PERMISSIVE port's plaintext chain; filter the mTLS chain.
		var filter, plainFilter *listenerv3.Filter
		switch p.Protocol {
		case ProtocolTCP:
			// Opaque TCP reaches the app through an HTTP/1.1 CONNECT tunnel whose request carries
			// the caller's URI SAN, formatted once the downstream handshake is done.
			clusters = append(clusters, staticCluster(clusterName, hostOf(app.addr()), portOf(app.addr()), nil, nil))
			filter = tcpTunnel("inbound_"+p.Name, clusterName, fmt.Sprintf("%s:%d", w.Key(), p.Number), true)
			plainFilter = tcpTunnel("inbound_"+p.Name, clusterName, fmt.Sprintf("%s:%d", w.Key(), p.Number), false)
		default:
			var protoOpts proto.Message = &upstreamhttpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{},
				}},
			}
			if p.Protocol == ProtocolGRPC {
				protoOpts = &upstreamhttpv3.HttpProtocolOptions{
					UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
						ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
					}},
				}
			}
			clusters = append(clusters, staticCluster(clusterName, hostOf(app.addr()), portOf(app.addr()), nil, protoOpts))
			filter = inboundHCM(p, clusterName)
			plainFilter = filter
		}
		tlsChain := &listenerv3.FilterChain{
			Name:             "inbound-mtls",
			FilterChainMatch: &listenerv3.FilterChainMatch{TransportProtocol: "tls"},
			Filters:          []*listenerv3.Filter{filter},
			TransportSocket:  &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: typed(downstreamTLS)},
		}
		chains := []*listenerv3.FilterChain{tlsChain}
		if w.Permissive {
			tlsChain.FilterChainMatch.ApplicationProtocols = IstioALPNs
			chains = append(chains, &listenerv3.FilterChain{
				Name:             "inbound-plaintext",
				FilterChainMatch: &listenerv3.FilterChainMatch{TransportProtocol: "raw_buffer"},
				Filters:          []*listenerv3.Filter{plainFilter},
			})
		}
		listeners = append(listeners, &listenerv3.Listener{
			Name:            fmt.Sprintf("virtualInbound_%d", p.TargetPort),
			Address:         socketAddress(w.Addr, p.TargetPort),
			ListenerFilters: []*listenerv3.ListenerFilter{tlsInspector()},
			FilterChains:    chains,
		})
	}
	return bootstrap("sidecar~"+w.Addr+"~"+w.Key(), adminPort, listeners, clusters)
}

func inboundHCM(p Port, cluster string) *listenerv3.Filter {
	route := &routev3.RouteConfiguration{
		Name: "inbound|" + p.Name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    "inbound",
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
					Timeout:          durationpb.New(0),
				}},
			}},
		}},
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:     "inbound_" + p.Name,
		CodecType:      hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: route},
		// Websockets reach the app, as through Istio's sidecars (its HCMs allow the upgrade).
		UpgradeConfigs: []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		// Pass the caller's identity to the app, as Istio's sidecar does.
		ForwardClientCertDetails:    hcmv3.HttpConnectionManager_APPEND_FORWARD,
		SetCurrentClientCertDetails: &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{Uri: true},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})},
		}},
	}
	return &listenerv3.Filter{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)}}
}

func bootstrap(node string, adminPort int, listeners []*listenerv3.Listener, clusters []*clusterv3.Cluster) (*bootstrapv3.Bootstrap, error) {
	b := &bootstrapv3.Bootstrap{
		Node: &corev3.Node{Id: node, Cluster: "meshjoin-testbed"},
		Admin: &bootstrapv3.Admin{
			Address: socketAddress("127.0.0.1", uint32(adminPort)),
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{Listeners: listeners, Clusters: clusters},
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("invalid Envoy config for %s: %w", node, err)
	}
	return b, nil
}

func marshalBootstrap(b *bootstrapv3.Bootstrap) ([]byte, error) {
	return protojson.MarshalOptions{Indent: "  "}.Marshal(b)
}

func staticCluster(name, host string, port uint32, socket *corev3.TransportSocket, httpOpts proto.Message) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(5 * time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(host, port)}},
			}}}},
		},
		TransportSocket: socket,
	}
	if httpOpts != nil {
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(httpOpts)}
	}
	return c
}

func tcpProxy(stat, cluster string) *listenerv3.Filter {
	tp := &tcpproxyv3.TcpProxy{StatPrefix: stat, ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster}}
	return &listenerv3.Filter{Name: "envoy.filters.network.tcp_proxy", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(tp)}}
}

func tcpTunnel(stat, cluster, authority string, afterHandshake bool) *listenerv3.Filter {
	tp := &tcpproxyv3.TcpProxy{
		StatPrefix:       stat,
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster},
		TunnelingConfig: &tcpproxyv3.TcpProxy_TunnelingConfig{
			Hostname: authority,
			HeadersToAdd: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{
				Key: callerHeader, Value: "%DOWNSTREAM_PEER_URI_SAN%",
			}}},
		},
	}
	if afterHandshake {
		tp.UpstreamConnectMode = tcpproxyv3.UpstreamConnectMode_ON_DOWNSTREAM_TLS_HANDSHAKE
		tp.MaxEarlyDataBytes = wrapperspb.UInt32(64 << 10) // what the client sends while we connect
	}
	return &listenerv3.Filter{Name: "envoy.filters.network.tcp_proxy", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(tp)}}
}

func tlsInspector() *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{
		Name:       "envoy.filters.listener.tls_inspector",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})},
	}
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

func typed(m proto.Message) *corev3.TransportSocket_TypedConfig {
	return &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(m)}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err) // only for messages compiled into this binary
	}
	return a
}
