package envoy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata (and create the test credentials if missing)")

// goldenCreds are fixed test credentials (testdata/creds), so golden files are stable. They
// are created once with -update when missing; they are test-only keys.
func goldenCreds(t *testing.T) Credentials {
	t.Helper()
	dir := filepath.Join("testdata", "creds")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%v (run go test ./envoy -run Golden -update to create the test credentials)", err)
		}
		return b
	}
	if _, err := os.Stat(filepath.Join(dir, "chain.pem")); os.IsNotExist(err) && *update {
		ca := newTestCA(t, "golden mesh CA")
		me := ca.issue(t, "spiffe://cluster.local/ns/dev/sa/meshjoin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{"chain.pem": me.chainPEM, "key.pem": me.keyPEM, "roots.pem": ca.certPEM} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return Credentials{CertChainPEM: read("chain.pem"), KeyPEM: read("key.pem"), RootsPEM: read("roots.pem")}
}

var goldenCases = []struct {
	name string
	plan Plan
}{
	{
		name: "http_ip_gateway_identities",
		plan: Plan{
			Gateway:      Gateway{Host: "127.0.0.50", Port: 15443},
			TrustDomains: []string{"cluster.local"},
			Services: []Service{{
				Key: "ratings.bookinfo", Host: "ratings.bookinfo.svc.cluster.local",
				ListenIP: netip.MustParseAddr("127.77.3.4"), Ports: []Port{{Number: 9080, Protocol: HTTP}},
				Identities: []string{"spiffe://cluster.local/ns/bookinfo/sa/ratings", "spiffe://cluster.local/ns/bookinfo/sa/ratings-v2"},
			}},
		},
	},
	{
		name: "http2_hostname_gateway",
		plan: Plan{
			Gateway:      Gateway{Host: "eastwest.example.com", Port: 15443},
			TrustDomains: []string{"cluster.local"},
			Services: []Service{{
				Key: "greeter.grpc", Host: "greeter.grpc.svc.cluster.local",
				ListenIP: netip.MustParseAddr("127.77.3.5"), Ports: []Port{{Number: 50051, Protocol: HTTP2}},
				Identities: []string{"spiffe://cluster.local/ns/grpc/sa/greeter"},
			}},
		},
	},
	{
		name: "tcp_trust_domain_fallback",
		plan: Plan{
			Gateway:      Gateway{Host: "127.0.0.50", Port: 15443},
			TrustDomains: []string{"cluster.local", "old.example.org"},
			Services: []Service{{
				Key: "db.bookinfo", Host: "db.bookinfo.svc.cluster.local",
				ListenIP: netip.MustParseAddr("127.77.3.6"), Ports: []Port{{Number: 3306, Protocol: TCP}},
			}},
		},
	},
	{
		name: "port80_and_multi_port",
		plan: Plan{
			Gateway:      Gateway{Host: "127.0.0.50", Port: 15443},
			TrustDomains: []string{"cluster.local"},
			Services: []Service{{
				Key: "web.shop", Host: "web.shop.svc.cluster.local",
				ListenIP: netip.MustParseAddr("127.77.3.7"), Ports: []Port{{Number: 80, Protocol: HTTP}, {Number: 8443, Protocol: TCP}},
				Identities: []string{"spiffe://cluster.local/ns/shop/sa/web"},
			}},
		},
	},
	{
		// Docker Desktop: one listener on 0.0.0.0 behind the PROXY protocol, a filter chain per
		// service port, gateway through HostAlias.
		name: "published_two_services_same_port",
		plan: publishedPlan(),
	},
}

func publishedPlan() Plan {
	return Publish(Plan{
		Gateway:      Gateway{Host: "127.0.0.1", Port: 15443},
		TrustDomains: []string{"cluster.local"},
		Services: []Service{
			{Key: "ratings.bookinfo", Host: "ratings.bookinfo.svc.cluster.local", ListenIP: netip.MustParseAddr("127.77.3.4"),
				Ports: []Port{{Number: 9080, Protocol: HTTP}}, Identities: []string{"spiffe://cluster.local/ns/bookinfo/sa/ratings"}},
			{Key: "reviews.bookinfo", Host: "reviews.bookinfo.svc.cluster.local", ListenIP: netip.MustParseAddr("127.77.3.5"),
				Ports: []Port{{Number: 9080, Protocol: HTTP}, {Number: 3306, Protocol: TCP}}, Identities: []string{"spiffe://cluster.local/ns/bookinfo/sa/reviews"}},
		},
	})
}

// TestBuildResourcesGolden compares the resources with testdata/<case>.json and has the real
// Envoy validate them (envoy --mode validate), so a golden file is also a config Envoy takes.
func TestBuildResourcesGolden(t *testing.T) {
	creds := goldenCreds(t)
	envoyPath := envoyBinary(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := BuildResources(tc.plan, creds)
			if err != nil {
				t.Fatal(err)
			}
			got := resourcesJSON(t, res)
			again, err := BuildResources(tc.plan, creds)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, resourcesJSON(t, again)) {
				t.Fatal("BuildResources is not deterministic")
			}
			checkGolden(t, tc.name, got)
			envoyValidate(t, envoyPath, res)
		})
	}
}

// checkGolden compares built resources (as JSON) with testdata/<name>.json, which -update
// rewrites.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("resources differ from %s (run with -update if the change is intended):\n%s", path, diffLines(string(want), string(got)))
	}
}

// TestClusterTLSFollowsProtocol checks the facts of the protocol doc (sections 2, 3, 5 and 8)
// on the built clusters directly, so a golden update cannot slip a wrong one in.
func TestClusterTLSFollowsProtocol(t *testing.T) {
	creds := goldenCreds(t)
	cases := []struct {
		golden   int
		cluster  int // index in the golden case's clusters
		sni      string
		alpn     []string
		dnsType  clusterv3.Cluster_DiscoveryType
		sans     []string // "exact:" or "prefix:" + value
		upstream string   // "h1", "h2" or "" (TCP)
	}{
		// An HTTP port speaks h2 to the sidecar, and HTTP/1.1 for upgrades (UpgradeClusterName).
		{0, 0, "outbound_.9080_._.ratings.bookinfo.svc.cluster.local", []string{"istio-h2", "istio", "h2"}, clusterv3.Cluster_STATIC,
			[]string{"exact:spiffe://cluster.local/ns/bookinfo/sa/ratings", "exact:spiffe://cluster.local/ns/bookinfo/sa/ratings-v2"}, "h2"},
		{0, 1, "outbound_.9080_._.ratings.bookinfo.svc.cluster.local", []string{"istio-http/1.1", "istio", "http/1.1"}, clusterv3.Cluster_STATIC,
			[]string{"exact:spiffe://cluster.local/ns/bookinfo/sa/ratings", "exact:spiffe://cluster.local/ns/bookinfo/sa/ratings-v2"}, "h1"},
		{1, 0, "outbound_.50051_._.greeter.grpc.svc.cluster.local", []string{"istio-h2", "istio", "h2"}, clusterv3.Cluster_STRICT_DNS,
			[]string{"exact:spiffe://cluster.local/ns/grpc/sa/greeter"}, "h2"},
		{2, 0, "outbound_.3306_._.db.bookinfo.svc.cluster.local", []string{"istio"}, clusterv3.Cluster_STATIC,
			[]string{"prefix:spiffe://cluster.local/", "prefix:spiffe://old.example.org/"}, ""},
	}
	for _, tc := range cases {
		plan := goldenCases[tc.golden].plan
		t.Run(fmt.Sprintf("%s/%d", goldenCases[tc.golden].name, tc.cluster), func(t *testing.T) {
			res, err := BuildResources(plan, creds)
			if err != nil {
				t.Fatal(err)
			}
			c := res.Clusters[tc.cluster].(*clusterv3.Cluster)
			if c.GetType() != tc.dnsType {
				t.Errorf("cluster type %v, want %v", c.GetType(), tc.dnsType)
			}
			ep := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
			if ep.GetAddress() != plan.Gateway.Host || ep.GetPortValue() != plan.Gateway.Port {
				t.Errorf("endpoint %s:%d, want the gateway %s:%d", ep.GetAddress(), ep.GetPortValue(), plan.Gateway.Host, plan.Gateway.Port)
			}
			var up tlsv3.UpstreamTlsContext
			if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(&up); err != nil {
				t.Fatal(err)
			}
			if up.GetSni() != tc.sni || up.GetAutoHostSni() {
				t.Errorf("sni %q (auto %v), want static %q", up.GetSni(), up.GetAutoHostSni(), tc.sni)
			}
			common := up.GetCommonTlsContext()
			if !slices.Equal(common.GetAlpnProtocols(), tc.alpn) {
				t.Errorf("alpn %q, want %q", common.GetAlpnProtocols(), tc.alpn)
			}
			if slices.Contains(common.GetAlpnProtocols(), "istio-peer-exchange") {
				t.Error("offers istio-peer-exchange")
			}
			p := common.GetTlsParams()
			if p.GetTlsMinimumProtocolVersion() != tlsv3.TlsParameters_TLSv1_2 || p.GetTlsMaximumProtocolVersion() != tlsv3.TlsParameters_TLSv1_3 {
				t.Errorf("tls versions %v-%v, want 1.2-1.3", p.GetTlsMinimumProtocolVersion(), p.GetTlsMaximumProtocolVersion())
			}
			if n := common.GetTlsCertificateSdsSecretConfigs(); len(n) != 1 || n[0].GetName() != SecretCertificate || n[0].GetSdsConfig().GetAds() == nil {
				t.Errorf("certificate SDS %v, want %q over ADS", n, SecretCertificate)
			}
			combined := common.GetCombinedValidationContext()
			if v := combined.GetValidationContextSdsSecretConfig(); v.GetName() != SecretRootCA || v.GetSdsConfig().GetAds() == nil {
				t.Errorf("validation SDS %v, want %q over ADS", v, SecretRootCA)
			}
			var sans []string
			for _, m := range combined.GetDefaultValidationContext().GetMatchTypedSubjectAltNames() {
				if m.GetSanType() != tlsv3.SubjectAltNameMatcher_URI {
					t.Errorf("san type %v, want URI", m.GetSanType())
				}
				if e := m.GetMatcher().GetExact(); e != "" {
					sans = append(sans, "exact:"+e)
				} else {
					sans = append(sans, "prefix:"+m.GetMatcher().GetPrefix())
				}
			}
			if !slices.Equal(sans, tc.sans) {
				t.Errorf("SAN matchers %q, want %q", sans, tc.sans)
			}
			//lint:ignore SA1019 the test asserts that the deprecated field stays empty
			if len(combined.GetDefaultValidationContext().GetMatchSubjectAltNames()) != 0 {
				t.Error("uses the deprecated untyped match_subject_alt_names")
			}
			opts := c.GetTypedExtensionProtocolOptions()[upstreamHTTP]
			switch tc.upstream {
			case "":
				if opts != nil {
					t.Error("TCP cluster has HTTP protocol options")
				}
			default:
				var h upstreamhttpv3.HttpProtocolOptions
				if err := opts.UnmarshalTo(&h); err != nil {
					t.Fatal(err)
				}
				ex := h.GetExplicitHttpConfig()
				if got := map[bool]string{true: "h2", false: "h1"}[ex.GetHttp2ProtocolOptions() != nil]; got != tc.upstream || ex == nil {
					t.Errorf("upstream protocol %s (explicit %v), want %s", got, ex != nil, tc.upstream)
				}
			}
		})
	}
}

func TestListenersPerProtocol(t *testing.T) {
	res, err := BuildResources(goldenCases[3].plan, goldenCreds(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"web.shop:80":   "127.77.3.7:80 envoy.filters.network.http_connection_manager",
		"web.shop:8443": "127.77.3.7:8443 envoy.filters.network.tcp_proxy",
	}
	for _, r := range res.Listeners {
		l := r.(*listenerv3.Listener)
		sa := l.GetAddress().GetSocketAddress()
		got := netip.AddrPortFrom(netip.MustParseAddr(sa.GetAddress()), uint16(sa.GetPortValue())).String() + " " + l.GetFilterChains()[0].GetFilters()[0].GetName()
		if want[l.GetName()] != got {
			t.Errorf("listener %s: %s, want %s", l.GetName(), got, want[l.GetName()])
		}
	}
	if !slices.Equal(ListenerNames(goldenCases[3].plan), []string{"web.shop:80", "web.shop:8443"}) {
		t.Errorf("ListenerNames = %q", ListenerNames(goldenCases[3].plan))
	}
}

func TestBuildResourcesRejectsBadPlan(t *testing.T) {
	creds := goldenCreds(t)
	good := func() Plan {
		return Plan{
			Gateway:      Gateway{Host: "127.0.0.50", Port: 15443},
			TrustDomains: []string{"cluster.local"},
			Services: []Service{{
				Key: "ratings.bookinfo", Host: "ratings.bookinfo.svc.cluster.local",
				ListenIP: netip.MustParseAddr("127.77.3.4"), Ports: []Port{{Number: 9080, Protocol: HTTP}},
			}},
		}
	}
	if _, err := BuildResources(good(), creds); err != nil {
		t.Fatalf("the base plan must be valid: %v", err)
	}
	other := Service{Key: "details.bookinfo", Host: "details.bookinfo.svc.cluster.local", ListenIP: netip.MustParseAddr("127.77.3.4"), Ports: []Port{{Number: 9080, Protocol: HTTP}}}
	cases := []struct {
		name   string
		change func(*Plan, *Credentials)
		want   []string
	}{
		{"invalid listen IP", func(p *Plan, _ *Credentials) { p.Services[0].ListenIP = netip.Addr{} }, []string{`service "ratings.bookinfo"`, "no valid listen address"}},
		{"unspecified listen IP", func(p *Plan, _ *Credentials) { p.Services[0].ListenIP = netip.IPv4Unspecified() }, []string{"0.0.0.0", "beyond this machine"}},
		{"duplicate port", func(p *Plan, _ *Credentials) {
			p.Services[0].Ports = append(p.Services[0].Ports, Port{Number: 9080, Protocol: TCP})
		}, []string{`service "ratings.bookinfo": port 9080 listed twice`}},
		{"address taken by another service", func(p *Plan, _ *Credentials) { p.Services = append(p.Services, other) }, []string{`service "details.bookinfo": address 127.77.3.4:9080 already used by service "ratings.bookinfo"`}},
		{"duplicate key", func(p *Plan, _ *Credentials) {
			o := other
			o.Key, o.ListenIP = "ratings.bookinfo", netip.MustParseAddr("127.77.3.9")
			p.Services = append(p.Services, o)
		}, []string{`service "ratings.bookinfo": listed twice`}},
		{"port zero", func(p *Plan, _ *Credentials) { p.Services[0].Ports[0].Number = 0 }, []string{"port 0 out of range"}},
		{"unknown protocol", func(p *Plan, _ *Credentials) { p.Services[0].Ports[0].Protocol = "mongo" }, []string{`unknown protocol "mongo"`}},
		{"identity not SPIFFE", func(p *Plan, _ *Credentials) { p.Services[0].Identities = []string{"ratings"} }, []string{`identity "ratings" is not a SPIFFE ID`}},
		{"no identity, no trust domain", func(p *Plan, _ *Credentials) { p.TrustDomains = nil }, []string{"no identities and no trust domain"}},
		{"no gateway", func(p *Plan, _ *Credentials) { p.Gateway.Host = "" }, []string{"gateway: no address"}},
		{"gateway port", func(p *Plan, _ *Credentials) { p.Gateway.Port = 70000 }, []string{"gateway: port 70000"}},
		// Caught by Envoy's own rules (ValidateAll): an SNI longer than 255 bytes.
		{"host too long for SNI", func(p *Plan, _ *Credentials) {
			p.Services[0].Host = strings.Repeat("a", 250) + ".svc.cluster.local"
		}, []string{`service "ratings.bookinfo": cluster "ratings.bookinfo:9080"`, "UpstreamTlsContext.Sni", "255"}},
		{"key does not match certificate", func(_ *Plan, c *Credentials) {
			c.KeyPEM = newTestCA(t, "x").issue(t, "spiffe://cluster.local/ns/a/sa/b").keyPEM
		}, []string{"credentials", "private key does not match public key"}},
		{"empty root bundle", func(_ *Plan, c *Credentials) { c.RootsPEM = nil }, []string{"root bundle holds no certificate"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, c := good(), creds
			tc.change(&p, &c)
			_, err := BuildResources(p, c)
			if !errContains(err, tc.want...) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestBootstrapGolden(t *testing.T) {
	b, err := Bootstrap(BootstrapOptions{NodeID: "meshjoin~dev~s1", XDSAddr: "127.0.0.1:41234", Secret: "test-secret", AdminPort: 15000,
		AdminToken: "test-admin-token", AdminSocket: ContainerAdminSocket})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "bootstrap.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("bootstrap differs from %s (run with -update if intended):\n%s", path, diffLines(string(want), string(b)))
	}
	// The real Envoy accepts it.
	file := filepath.Join(t.TempDir(), "bootstrap.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(envoyBinary(t), "--mode", "validate", "-c", file, "--disable-hot-restart").CombinedOutput(); err != nil {
		t.Fatalf("envoy --mode validate: %v\n%s", err, out)
	}

	for _, bad := range []BootstrapOptions{
		{XDSAddr: "127.0.0.1:1", Secret: "s", AdminPort: 1, AdminToken: "t", AdminSocket: "/a"},
		{NodeID: "n", XDSAddr: "127.0.0.1:1", AdminPort: 1, AdminToken: "t", AdminSocket: "/a"},
		{NodeID: "n", XDSAddr: "127.0.0.1", Secret: "s", AdminPort: 1, AdminToken: "t", AdminSocket: "/a"},
		{NodeID: "n", XDSAddr: "127.0.0.1:1", Secret: "s", AdminToken: "t", AdminSocket: "/a"},
		{NodeID: "n", XDSAddr: "127.0.0.1:1", Secret: "s", AdminPort: 1, AdminSocket: "/a"},
		{NodeID: "n", XDSAddr: "127.0.0.1:1", Secret: "s", AdminPort: 1, AdminToken: "t"},
	} {
		if _, err := Bootstrap(bad); err == nil {
			t.Errorf("Bootstrap(%+v) accepted", bad)
		}
	}
}

// envoyValidate runs `envoy --mode validate` on a bootstrap holding res as static resources.
// The clusters' SDS references lose their ADS config source there, so they name the static
// secrets (Envoy 1.40's validate mode crashes on an SDS-over-ADS cluster without a server).
func envoyValidate(t *testing.T, envoyPath string, res Resources) {
	t.Helper()
	if out, err := runEnvoyValidate(t, envoyPath, res); err != nil {
		t.Fatalf("envoy --mode validate rejects the resources: %v\n%s", err, out)
	}
}

// envoyValidateFails reports whether envoy --mode validate rejects the resources.
func envoyValidateFails(t *testing.T, envoyPath string, res Resources) bool {
	t.Helper()
	out, err := runEnvoyValidate(t, envoyPath, res)
	t.Logf("envoy --mode validate: %v\n%s", err, out)
	return err != nil
}

// runEnvoyValidate has the real Envoy check the resources as a static bootstrap would hold
// them, and returns its output.
func runEnvoyValidate(t *testing.T, envoyPath string, res Resources) ([]byte, error) {
	t.Helper()
	b := &bootstrapv3.Bootstrap{StaticResources: &bootstrapv3.Bootstrap_StaticResources{}}
	boot, err := Bootstrap(BootstrapOptions{NodeID: "validate", XDSAddr: "127.0.0.1:1", Secret: "s", AdminPort: 1, AdminToken: "t", AdminSocket: ContainerAdminSocket})
	if err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(boot, b); err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Listeners {
		b.StaticResources.Listeners = append(b.StaticResources.Listeners, r.(*listenerv3.Listener))
	}
	for _, r := range res.Clusters {
		c := proto.Clone(r).(*clusterv3.Cluster)
		var up tlsv3.UpstreamTlsContext
		if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(&up); err != nil {
			t.Fatal(err)
		}
		common := up.GetCommonTlsContext()
		common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig().SdsConfig = nil
		for _, sc := range common.GetTlsCertificateSdsSecretConfigs() {
			sc.SdsConfig = nil
		}
		a, err := anyOf(&up)
		if err != nil {
			t.Fatal(err)
		}
		c.GetTransportSocket().ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: a}
		b.StaticResources.Clusters = append(b.StaticResources.Clusters, c)
	}
	for _, r := range res.Secrets {
		b.StaticResources.Secrets = append(b.StaticResources.Secrets, r.(*tlsv3.Secret))
	}
	raw, err := marshalJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "validate.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return exec.Command(envoyPath, "--mode", "validate", "-c", file, "--disable-hot-restart").CombinedOutput()
}

// resourcesJSON is the golden form: {"listeners": [...], "clusters": [...], "secrets": [...]}.
func resourcesJSON(t *testing.T, res Resources) []byte {
	t.Helper()
	enc := func(rs []types.Resource) []json.RawMessage {
		out := []json.RawMessage{}
		for _, r := range rs {
			b, err := marshalJSON(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	b, err := json.MarshalIndent(map[string][]json.RawMessage{
		"listeners": enc(res.Listeners),
		"clusters":  enc(res.Clusters),
		"secrets":   enc(res.Secrets),
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// diffLines shows the first differing lines, enough to see what changed.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)) && len(out) < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			out = append(out, "line "+strconv.Itoa(i+1)+":\n  want: "+wl+"\n  got:  "+gl)
		}
	}
	return strings.Join(out, "\n")
}
