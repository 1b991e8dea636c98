package envoy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	overloadv3 "github.com/envoyproxy/go-control-plane/envoy/config/overload/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	downstreamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// XDSClusterName is the static cluster in the bootstrap that leads to the ADS server.
const XDSClusterName = "meshjoin-xds"

// maxDownstreamConnections bounds the local Envoy's open connections; a laptop's apps never
// come near it, and setting it silences Envoy's start-up warning about an unlimited count.
const maxDownstreamConnections = 10000

// BootstrapOptions describe the one static config the local Envoy starts from.
type BootstrapOptions struct {
	NodeID string // must be the id given to NewServer
	// XDSAddr is the ADS server, host:port (Server.Addr()). An IP gives a STATIC cluster,
	// a name (e.g. host.docker.internal) a STRICT_DNS one.
	XDSAddr string
	// Secret is Server.Secret(); Envoy sends it as "authorization: Bearer <secret>".
	Secret string
	// AdminPort is where the admin interface listens, on 127.0.0.1 only.
	AdminPort int
	// AdminInContainer binds the admin listener to 0.0.0.0:AdminPort inside Envoy's own
	// bridge network, where only Docker's port published on 127.0.0.1 leads to it.
	AdminInContainer bool
	// AdminToken is what the admin listener wants in "authorization: Bearer <token>".
	AdminToken string
	// AdminSocket is the unix socket Envoy's admin interface itself listens on (the admin
	// listener forwards to it): ContainerAdminSocket, or a path in a 0700 directory.
	AdminSocket string
}

// Bootstrap returns the Envoy bootstrap as JSON: node id, the admin interface on AdminSocket
// behind the token-checking admin listener on 127.0.0.1:AdminPort (see AdminEndpoint), and
// listeners, clusters and secrets all from one ADS stream to XDSAddr over HTTP/2. The bytes
// hold the ADS secret and the admin token: write them only to a 0600 file or into the
// container, never to a log or a command line.
func Bootstrap(opts BootstrapOptions) ([]byte, error) {
	if opts.NodeID == "" {
		return nil, errors.New("bootstrap: empty node id")
	}
	if opts.Secret == "" {
		return nil, errors.New("bootstrap: empty ADS secret")
	}
	if opts.AdminPort <= 0 || opts.AdminPort > 65535 {
		return nil, fmt.Errorf("bootstrap: admin port %d out of range 1-65535", opts.AdminPort)
	}
	if opts.AdminToken == "" || opts.AdminSocket == "" {
		return nil, errors.New("bootstrap: admin token and admin socket are required")
	}
	host, portStr, err := net.SplitHostPort(opts.XDSAddr)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: ADS address %q: %w", opts.XDSAddr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("bootstrap: ADS address %q: bad port", opts.XDSAddr)
	}

	h2, err := anyOf(&upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		},
	})
	if err != nil {
		return nil, err
	}
	xds := &clusterv3.Cluster{
		Name:                          XDSClusterName,
		ConnectTimeout:                durationpb.New(connectTimeout),
		LoadAssignment:                oneEndpoint(XDSClusterName, socketAddress(host, uint32(port))),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{upstreamHTTP: h2},
	}
	if _, err := netip.ParseAddr(host); err == nil {
		xds.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	} else {
		xds.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		xds.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	}

	monitor, err := anyOf(&downstreamv3.DownstreamConnectionsConfig{MaxActiveDownstreamConnections: maxDownstreamConnections})
	if err != nil {
		return nil, err
	}
	adminHost := "127.0.0.1"
	if opts.AdminInContainer {
		adminHost = "0.0.0.0"
	}
	adminListener, adminCluster, err := adminFront(adminHost, uint32(opts.AdminPort), opts.AdminToken, opts.AdminSocket)
	if err != nil {
		return nil, err
	}
	b := &bootstrapv3.Bootstrap{
		Node: &corev3.Node{Id: opts.NodeID, Cluster: "meshjoin"},
		Admin: &bootstrapv3.Admin{
			Address: &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: opts.AdminSocket, Mode: 0o600}}},
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Listeners: []*listenerv3.Listener{adminListener},
			Clusters:  []*clusterv3.Cluster{xds, adminCluster},
		},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:             corev3.ApiConfigSource_GRPC,
				TransportApiVersion: corev3.ApiVersion_V3,
				GrpcServices: []*corev3.GrpcService{{
					TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{
						ClusterName: XDSClusterName,
					}},
					InitialMetadata: []*corev3.HeaderValue{{
						Key: "authorization", Value: "Bearer " + opts.Secret,
					}},
				}},
				SetNodeOnFirstMessageOnly: true,
			},
			LdsConfig: adsConfigSource(),
			CdsConfig: adsConfigSource(),
		},
		OverloadManager: &overloadv3.OverloadManager{
			ResourceMonitors: []*overloadv3.ResourceMonitor{{
				Name:       "envoy.resource_monitors.global_downstream_max_connections",
				ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: monitor},
			}},
		},
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return marshalJSON(b)
}

// adminFront is the admin listener on host:port, which passes requests with the token to
// the admin interface on socket and answers 401 to the rest, and its cluster.
func adminFront(host string, port uint32, token, socket string) (*listenerv3.Listener, *clusterv3.Cluster, error) {
	router, err := anyOf(&routerv3.Router{})
	if err != nil {
		return nil, nil, err
	}
	hcm, err := anyOf(&hcmv3.HttpConnectionManager{
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		StatPrefix: AdminListenerName,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: AdminListenerName,
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    AdminListenerName,
				Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Match: &routev3.RouteMatch{
						PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
						Headers: []*routev3.HeaderMatcher{{
							Name: "authorization",
							HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
								MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "Bearer " + token},
							}},
						}},
					},
					Action: &routev3.Route_Route{Route: &routev3.RouteAction{
						ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: AdminListenerName},
					}},
				}, {
					Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
						Status: 401,
						Body:   &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "meshjoin: the admin interface needs the session's token\n"}},
					}},
				}},
			}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: wellknown.Router, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}},
	})
	if err != nil {
		return nil, nil, err
	}
	l := &listenerv3.Listener{
		Name:            AdminListenerName,
		Address:         socketAddress(host, port),
		StatPrefix:      AdminListenerName,
		EnableReusePort: wrapperspb.Bool(false),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name: wellknown.HTTPConnectionManager, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm},
		}}}},
	}
	c := &clusterv3.Cluster{
		Name:                 AdminListenerName,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(connectTimeout),
		LoadAssignment:       oneEndpoint(AdminListenerName, &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: socket}}}),
	}
	return l, c, nil
}

// marshalJSON gives stable, indented protojson (protojson itself varies its whitespace).
func marshalJSON(m proto.Message) ([]byte, error) {
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	var compact, buf bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	if err := json.Indent(&buf, compact.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
