package session

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/mesh"
)

// Planning is pure: these tests need no cluster, only catalogue entries.

func svc(name, ns string, ports ...mesh.Port) mesh.Service {
	return mesh.Service{Name: name, Namespace: ns, Kind: mesh.KindService, Hosts: []string{name + "." + ns + ".svc.cluster.local"},
		Ports: ports, Identities: []string{"spiffe://td/ns/" + ns + "/sa/" + name}, IdentitiesExact: true, Reachable: true}
}

func testCatalog(svcs ...mesh.Service) func(string) (mesh.Service, error) {
	return func(name string) (mesh.Service, error) {
		for _, s := range svcs {
			if s.Key() == name || slices.Contains(s.Hosts, name) {
				return s, nil
			}
		}
		return mesh.Service{}, &mesh.ErrUnknownService{Name: name}
	}
}

func TestMakePlan(t *testing.T) {
	http := mesh.Port{Name: "http", Number: 9080, Protocol: mesh.ProtocolHTTP}
	grpc := mesh.Port{Name: "grpc", Number: 7070, Protocol: mesh.ProtocolGRPC}
	mysql := mesh.Port{Name: "mysql", Number: 3306, Protocol: mesh.ProtocolTCP}
	ratings, ratingsDev := svc("ratings", "bookinfo", http), svc("ratings", "dev", http)
	db := svc("db", "payments", mysql, grpc)
	inexact := svc("web", "bookinfo", http)
	inexact.IdentitiesExact = false
	se := mesh.Service{Name: "inv", Namespace: "payments", Kind: mesh.KindServiceEntry, Hosts: []string{"inv.internal", "inventory.internal"},
		Ports: []mesh.Port{http}, IdentitiesExact: true, Identities: []string{"spiffe://td/ns/payments/sa/inv"}, Reachable: true}
	unreachable := svc("legacy", "old")
	unreachable.Reachable, unreachable.Reason = false, "no sidecar"
	nameless := mesh.Service{Name: "bad", Namespace: "x", Kind: mesh.KindServiceEntry, Reachable: true, Warnings: []string{`host "a b" is not a DNS name`}}
	lookup := testCatalog(ratings, ratingsDev, db, inexact, se, unreachable, nameless)

	type want struct {
		keys      []string
		names     map[string][]string
		listeners []string
		protocols []envoy.Protocol
		warning   string // a substring of one warning
		err       string // a substring of the error
	}
	for _, tc := range []struct {
		name      string
		services  []string
		bareNames bool
		want      want
	}{
		{name: "one service", services: []string{"ratings.bookinfo"}, want: want{
			keys:      []string{"ratings.bookinfo"},
			names:     map[string][]string{"ratings.bookinfo": {"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc", "ratings.bookinfo"}},
			listeners: []string{"ratings.bookinfo:9080"}, protocols: []envoy.Protocol{envoy.HTTP},
		}},
		{name: "a name twice counts once", services: []string{"ratings.bookinfo", "ratings.bookinfo.svc.cluster.local"}, want: want{
			keys: []string{"ratings.bookinfo"}, listeners: []string{"ratings.bookinfo:9080"}, protocols: []envoy.Protocol{envoy.HTTP},
		}},
		{name: "ports and protocols", services: []string{"db.payments"}, want: want{
			keys: []string{"db.payments"}, listeners: []string{"db.payments:3306", "db.payments:7070"}, protocols: []envoy.Protocol{envoy.TCP, envoy.HTTP2},
		}},
		{name: "ServiceEntry keeps its hosts", services: []string{"inv.payments"}, bareNames: true, want: want{
			keys: []string{"inv.payments"}, names: map[string][]string{"inv.payments": {"inv.internal", "inventory.internal"}},
			listeners: []string{"inv.payments:9080"}, protocols: []envoy.Protocol{envoy.HTTP},
		}},
		{name: "bare name when unambiguous", services: []string{"ratings.bookinfo", "db.payments"}, bareNames: true, want: want{
			keys: []string{"ratings.bookinfo", "db.payments"},
			names: map[string][]string{
				"ratings.bookinfo": {"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc", "ratings.bookinfo", "ratings"},
				"db.payments":      {"db.payments.svc.cluster.local", "db.payments.svc", "db.payments", "db"},
			},
		}},
		{name: "no bare name for two ratings", services: []string{"ratings.bookinfo", "ratings.dev"}, bareNames: true, want: want{
			keys: []string{"ratings.bookinfo", "ratings.dev"},
			names: map[string][]string{
				"ratings.bookinfo": {"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc", "ratings.bookinfo"},
				"ratings.dev":      {"ratings.dev.svc.cluster.local", "ratings.dev.svc", "ratings.dev"},
			},
			warning: "bare name ratings is ambiguous",
		}},
		{name: "pods unreadable: any identity, with a warning", services: []string{"web.bookinfo"}, want: want{
			keys: []string{"web.bookinfo"}, warning: "accepting any identity",
		}},
		{name: "unknown service", services: []string{"ratings.bookinfo", "nope"}, want: want{err: "nope"}},
		{name: "unreachable service", services: []string{"legacy.old"}, want: want{err: "not reachable through the east-west gateway: no sidecar"}},
		{name: "no usable host name", services: []string{"bad.x"}, want: want{err: `no usable host name: host "a b" is not a DNS name`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := planInput{Lookup: lookup, Gateway: envoy.Gateway{Host: "192.0.2.1", Port: 15443}, TrustDomains: []string{"td"},
				AddressRange: DefaultAddressRange, BareNames: tc.bareNames}
			plan, joined, warnings, err := makePlan(in, tc.services)
			if tc.want.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.want.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for i, js := range joined {
				keys = append(keys, js.Key)
				if plan.Services[i].Key != js.Key || plan.Services[i].ListenIP.String() != js.Addr {
					t.Errorf("plan service %d = %s at %s, joined %s at %s", i, plan.Services[i].Key, plan.Services[i].ListenIP, js.Key, js.Addr)
				}
				if want, ok := tc.want.names[js.Key]; ok && !slices.Equal(js.Names, want) {
					t.Errorf("%s: names %v, want %v", js.Key, js.Names, want)
				}
				if !DefaultAddressRange.Contains(netip.MustParseAddr(js.Addr)) {
					t.Errorf("%s: address %s outside %s", js.Key, js.Addr, DefaultAddressRange)
				}
			}
			if !slices.Equal(keys, tc.want.keys) {
				t.Errorf("joined %v, want %v", keys, tc.want.keys)
			}
			if tc.want.listeners != nil {
				if got := envoy.ListenerNames(plan); !slices.Equal(got, tc.want.listeners) {
					t.Errorf("listeners %v, want %v", got, tc.want.listeners)
				}
				var protos []envoy.Protocol
				for _, s := range plan.Services {
					for _, p := range s.Ports {
						protos = append(protos, p.Protocol)
					}
				}
				if !slices.Equal(protos, tc.want.protocols) {
					t.Errorf("protocols %v, want %v", protos, tc.want.protocols)
				}
			}
			found := tc.want.warning == ""
			for _, w := range warnings {
				found = found || strings.Contains(w.Msg, tc.want.warning)
			}
			if !found {
				t.Errorf("warnings %v, want one saying %q", warnings, tc.want.warning)
			}
			// The same input, the same plan: a service keeps its address across runs.
			_, again, _, _ := makePlan(in, tc.services)
			if !slices.EqualFunc(joined, again, func(a, b JoinedService) bool { return a.Addr == b.Addr }) {
				t.Errorf("a second plan gave other addresses")
			}
		})
	}
}

// The hosts block gets one entry per service, with the planned names.
func TestHostsEntries(t *testing.T) {
	joined := []JoinedService{{Key: "a.x", Addr: "127.77.0.1", Names: []string{"a.x", "a"}}, {Key: "b.x", Addr: "127.77.0.2", Names: []string{"b.x"}}}
	got := hostsEntries(joined)
	want := []hosts.Entry{{IP: netip.MustParseAddr("127.77.0.1"), Names: []string{"a.x", "a"}}, {IP: netip.MustParseAddr("127.77.0.2"), Names: []string{"b.x"}}}
	if !slices.EqualFunc(got, want, func(a, b hosts.Entry) bool { return a.IP == b.IP && slices.Equal(a.Names, b.Names) }) || countNames(got) != 3 {
		t.Fatalf("entries %v, want %v", got, want)
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	base := Config{Identity: "dev/alice"}
	cfg, err := base.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CertTTL != DefaultCertTTL || cfg.AddressRange != DefaultAddressRange || cfg.Runtime != DefaultRuntime ||
		cfg.EnvoyImage != DefaultEnvoyImage || cfg.EnvoyPath != DefaultEnvoyPath || cfg.CAServerName != "istiod.istio-system.svc" {
		t.Errorf("defaults: %+v", cfg)
	}
	if got := DefaultCAServerName("canary"); got != "istiod-canary.istio-system.svc" {
		t.Errorf("revision server name %s", got)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"TTL below the minimum", func(c *Config) { c.CertTTL = MinCertTTL - 1 }, "below the minimum of 30s"},
		{"negative TTL", func(c *Config) { c.CertTTL = -1 }, "below the minimum"},
		{"range outside loopback", func(c *Config) { c.AddressRange = netip.MustParsePrefix("10.0.0.0/8") }, "not a loopback range"},
		{"unknown runtime", func(c *Config) { c.Runtime = "podman" }, `unknown runtime "podman"`},
		{"network for native", func(c *Config) { c.Runtime, c.EnvoyNetwork = RuntimeNative, "host" }, "docker runtime only"},
		{"bad network", func(c *Config) { c.EnvoyNetwork = "bridge" }, "bridge"},
		{"bad gateway", func(c *Config) { c.GatewayOverride = "gw:0" }, "--gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.mod(&c)
			err := c.Validate()
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) || ue.Hint == "" {
				t.Fatalf("Validate = %v, want a UsageError with a hint saying %q", err, tc.want)
			}
		})
	}
	c := base
	c.CertTTL = MinCertTTL
	if err := c.Validate(); err != nil {
		t.Errorf("the minimum TTL itself refused: %v", err)
	}
}
