//go:build linux

package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/config/metrics/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
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

	"github.com/meshjoin/meshjoin/testbed"
)

// The reference: an Envoy configured as istiod configures a client sidecar's outbound side
// for the same hop (shared/docs/istiod-generated-reference.md and Istio's outbound listener
// and cluster builders), with what stock Envoy has. Istio's own filters (istio.metadata_exchange,
// istio.stats, istio.alpn) are not in stock Envoy: the ALPN that istio.alpn sets per request
// is set on the cluster instead, which is what meshjoin does too, so the TLS hop is the same.
// It runs natively with Istio's default of two workers.

// refService is one service port the reference Envoy forwards.
type refService struct {
	workload testbed.Workload
	port     testbed.Port
	listen   string // ip the reference listener binds, on the service port
}

// istioALPN is what Istio's sidecar offers upstream: istio.alpn's override for HTTP, the
// cluster's own list for TCP.
func istioALPN(protocol string) []string {
	switch protocol {
	case testbed.ProtocolHTTP:
		return []string{"istio-http/1.1", "istio", "http/1.1"}
	case testbed.ProtocolGRPC:
		return []string{"istio-h2", "istio", "h2"}
	}
	return []string{"istio-peer-exchange", "istio"}
}

func referenceBootstrap(adminPort int, gatewayIP string, svcs []refService, cert *testbed.KeyPair, rootPEM []byte, trustDomain string) (*bootstrapv3.Bootstrap, error) {
	var listeners []*listenerv3.Listener
	var clusters []*clusterv3.Cluster
	for _, s := range svcs {
		cluster := fmt.Sprintf("outbound|%d||%s", s.port.Number, s.workload.Host())
		c, err := referenceCluster(cluster, gatewayIP, s, cert, rootPEM, trustDomain)
		if err != nil {
			return nil, err
		}
		clusters = append(clusters, c)
		var filter *listenerv3.Filter
		if s.port.Protocol == testbed.ProtocolTCP {
			filter = typedFilter("envoy.filters.network.tcp_proxy", &tcpproxyv3.TcpProxy{
				StatPrefix: cluster, ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster},
				IdleTimeout: durationpb.New(time.Hour),
			})
		} else {
			filter = typedFilter("envoy.filters.network.http_connection_manager", referenceHCM(s, cluster))
		}
		listeners = append(listeners, &listenerv3.Listener{
			Name:         fmt.Sprintf("%s_%d", s.listen, s.port.Number),
			Address:      socketAddr(s.listen, s.port.Number),
			FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{filter}}},
		})
	}
	b := &bootstrapv3.Bootstrap{
		Node:  &corev3.Node{Id: "sidecar~127.0.0.1~reference.bench~bench.svc.cluster.local", Cluster: "reference.bench"},
		Admin: &bootstrapv3.Admin{Address: socketAddr("127.0.0.1", uint32(adminPort))},
		// Istio's bootstrap keeps only these stats (its default inclusion list); the rest are
		// null stats that cost nothing to update.
		StatsConfig: &metricsv3.StatsConfig{
			UseAllDefaultTags: wrapperspb.Bool(false),
			StatsMatcher: &metricsv3.StatsMatcher{StatsMatcher: &metricsv3.StatsMatcher_InclusionList{InclusionList: &matcherv3.ListStringMatcher{
				Patterns: append(prefixes("reporter=", "cluster_manager", "listener_manager", "server", "cluster.xds-grpc", "wasm", "component"),
					// What the benchmark reads (handshakes, connections, requests): kept
					// so the two Envoys report the same.
					&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "cluster.outbound|"}}),
			}}},
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{Listeners: listeners, Clusters: clusters},
	}
	return b, b.ValidateAll()
}

func prefixes(ps ...string) []*matcherv3.StringMatcher {
	var out []*matcherv3.StringMatcher
	for _, p := range ps {
		out = append(out, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: p}})
	}
	return out
}

// referenceHCM is Istio's outbound HTTP connection manager, less its own filters.
func referenceHCM(s refService, cluster string) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{
		StatPrefix: fmt.Sprintf("outbound_0.0.0.0_%d", s.port.Number),
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: fmt.Sprint(s.port.Number),
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    fmt.Sprintf("%s:%d", s.workload.Host(), s.port.Number),
				Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Name:  "default",
					Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_Route{Route: &routev3.RouteAction{
						ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
						Timeout:          durationpb.New(0),
						RetryPolicy: &routev3.RetryPolicy{
							RetryOn:                       "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
							NumRetries:                    wrapperspb.UInt32(2),
							HostSelectionRetryMaxAttempts: 5,
						},
					}},
				}},
			}},
			ValidateClusters: wrapperspb.Bool(false),
		}},
		HttpFilters: []*hcmv3.HttpFilter{
			httpFilter("envoy.filters.http.grpc_stats", &grpcstatsv3.FilterConfig{EmitFilterState: true, PerMethodStatSpecifier: &grpcstatsv3.FilterConfig_StatsForAllMethods{StatsForAllMethods: wrapperspb.Bool(false)}}),
			httpFilter("envoy.filters.http.fault", &faultv3.HTTPFault{}),
			httpFilter("envoy.filters.http.cors", &corsv3.Cors{}),
			httpFilter("envoy.filters.http.router", &routerv3.Router{}),
		},
		UseRemoteAddress:             wrapperspb.Bool(false),
		NormalizePath:                wrapperspb.Bool(true),
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_KEEP_UNCHANGED,
		StreamIdleTimeout:            durationpb.New(0),
		UpgradeConfigs:               []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
	}
}

// referenceCluster is istiod's outbound cluster for the port, its endpoint the gateway.
func referenceCluster(name, gatewayIP string, s refService, cert *testbed.KeyPair, rootPEM []byte, trustDomain string) (*clusterv3.Cluster, error) {
	san := fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", trustDomain, s.workload.Namespace, s.workload.ServiceAccount)
	tlsCtx := &tlsv3.UpstreamTlsContext{
		Sni: s.workload.SNI(s.port.Number),
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams: &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2, TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3},
			TlsCertificates: []*tlsv3.TlsCertificate{{
				CertificateChain: inline(cert.ChainPEM()), PrivateKey: inline(cert.KeyPEM()),
			}},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: inline(rootPEM),
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
					SanType: tlsv3.SubjectAltNameMatcher_URI,
					Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}},
				}},
			}},
			AlpnProtocols: istioALPN(s.port.Protocol),
		},
	}
	max := wrapperspb.UInt32(4294967295)
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(10 * time.Second),
		CircuitBreakers: &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
			MaxConnections: max, MaxPendingRequests: max, MaxRequests: max, MaxRetries: max, TrackRemaining: true,
		}}},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: socketAddr(gatewayIP, testbed.GatewayTLSPort),
			}}}},
		}}},
		TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(tlsCtx)}},
	}
	if s.port.Protocol != testbed.ProtocolTCP {
		opts := &upstreamhttpv3.HttpProtocolOptions{
			CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(time.Hour)},
			UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
			}},
		}
		if s.port.Protocol == testbed.ProtocolGRPC {
			opts.UpstreamProtocolOptions = &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
					MaxConcurrentStreams: wrapperspb.UInt32(1073741824),
				}},
			}}
		}
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(opts)}
	}
	return c, nil
}

// referenceEnvoy is the running reference Envoy.
type referenceEnvoy struct {
	cmd   *exec.Cmd
	admin string
}

// startReference runs the reference Envoy natively (the pinned binary, two workers) until the
// benchmark ends.
func startReference(b *testing.B, boot *bootstrapv3.Bootstrap) *referenceEnvoy {
	bin, err := testbed.EnvoyBinary()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := protojson.Marshal(boot)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "reference.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "reference.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path, "--disable-hot-restart", "--concurrency", "2", "-l", "warning")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); log.Close() })
	a := boot.GetAdmin().GetAddress().GetSocketAddress()
	r := &referenceEnvoy{cmd: cmd, admin: fmt.Sprintf("%s:%d", a.GetAddress(), a.GetPortValue())}
	deadline := time.Now().Add(time.Minute)
	for {
		body, err := r.get("/ready")
		if err == nil && strings.TrimSpace(string(body)) == "LIVE" {
			return r
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			b.Fatalf("reference Envoy not ready: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *referenceEnvoy) get(path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.admin+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func socketAddr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func inline(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

func typedFilter(name string, m proto.Message) *listenerv3.Filter {
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(m)}}
}

func httpFilter(name string, m proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(m)}}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err) // only messages compiled into this binary
	}
	return a
}
