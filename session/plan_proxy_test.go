package session

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/mesh"
)

// Proxy mode plans no addresses: the Envoy plan has the proxy listener and every service's
// names to route on; a name two joined services claim goes to the first.
func TestMakePlanProxyMode(t *testing.T) {
	http := mesh.Port{Name: "http", Number: 9080, Protocol: mesh.ProtocolHTTP}
	ratings := svc("ratings", "bookinfo", http)
	// A ServiceEntry that also claims ratings' short name (a mistake in the cluster).
	se := mesh.Service{Name: "inv", Namespace: "payments", Kind: mesh.KindServiceEntry, Hosts: []string{"inv.internal", "ratings.bookinfo"},
		Ports: []mesh.Port{http}, IdentitiesExact: true, Identities: []string{"spiffe://td/ns/payments/sa/inv"}, Reachable: true}
	proxy := &envoy.ProxyListener{IP: netip.MustParseAddr("127.0.0.1"), Port: 15080}
	in := planInput{Lookup: testCatalog(ratings, se), Gateway: envoy.Gateway{Host: "127.0.0.9", Port: 15443}, TrustDomains: []string{"td"},
		AddressRange: DefaultAddressRange, BareNames: true, Proxy: proxy}
	plan, joined, _, err := makePlan(in, []string{"ratings.bookinfo", "inv.payments"})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Proxy != proxy {
		t.Error("the plan lacks the proxy listener")
	}
	for i, js := range joined {
		if js.Addr != "" || plan.Services[i].ListenIP.IsValid() || js.Proxy != "http://127.0.0.1:15080" {
			t.Errorf("%s: address %q / %v, proxy %q: proxy mode allocates no address", js.Key, js.Addr, plan.Services[i].ListenIP, js.Proxy)
		}
		if !slices.Equal(plan.Services[i].Names, js.Names) {
			t.Errorf("%s: Envoy routes %q, the state says %q", js.Key, plan.Services[i].Names, js.Names)
		}
	}
	if want := []string{"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc", "ratings.bookinfo", "ratings"}; !slices.Equal(joined[0].Names, want) {
		t.Errorf("ratings' names %q, want %q (bare name included)", joined[0].Names, want)
	}
	if !slices.Equal(joined[1].Names, []string{"inv.internal"}) || len(joined[1].Unmapped) != 1 || !strings.Contains(joined[1].Unmapped[0], "routed to ratings.bookinfo") {
		t.Errorf("the ServiceEntry keeps %q, unmapped %q", joined[1].Names, joined[1].Unmapped)
	}
	if got := envoy.ListenerNames(plan); !slices.Equal(got, []string{envoy.ProxyListenerName, "ratings.bookinfo:9080", "inv.payments:9080"}) {
		t.Errorf("ListenerNames = %q", got)
	}
}

func TestConfigMode(t *testing.T) {
	base := Config{Identity: "dev/alice"}
	cfg, err := base.withDefaults()
	if err != nil || cfg.Mode != ModeHosts || cfg.ProxyPort != DefaultProxyPort || cfg.proxyListener() != nil {
		t.Errorf("defaults: mode %q, port %d, listener %v, %v", cfg.Mode, cfg.ProxyPort, cfg.proxyListener(), err)
	}
	base.Mode, base.ProxyPort = ModeProxy, 15099
	cfg, err = base.withDefaults()
	if err != nil || cfg.proxyListener() == nil || cfg.proxyListener().Addr() != "127.0.0.1:15099" {
		t.Errorf("proxy mode: %v, %v", cfg.proxyListener(), err)
	}
	for _, bad := range []Config{{Identity: "dev/alice", Mode: "socks"}, {Identity: "dev/alice", Mode: ModeProxy, ProxyPort: 70000}} {
		var ue *UsageError
		if _, err := bad.withDefaults(); err == nil || !asUsage(err, &ue) || ue.Hint == "" {
			t.Errorf("%+v: %v, want a usage error with a hint", bad, err)
		}
	}
}

func asUsage(err error, target **UsageError) bool {
	ue, ok := err.(*UsageError)
	*target = ue
	return ok
}

func TestTryCommandThroughProxy(t *testing.T) {
	for proto, want := range map[string]string{
		"http":  "curl -x http://127.0.0.1:15080 http://ratings.bookinfo:9080/",
		"http2": "HTTPS_PROXY=http://127.0.0.1:15080 grpcurl -plaintext ratings.bookinfo:9080 list",
		"tcp":   "nc -X connect -x 127.0.0.1:15080 ratings.bookinfo 9080",
	} {
		js := JoinedService{Key: "ratings.bookinfo", Names: []string{"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo"},
			Proxy: "http://127.0.0.1:15080", Ports: []Port{{Number: 9080, Protocol: proto}}}
		if got := js.TryCommand(); got != want {
			t.Errorf("%s: %q, want %q", proto, got, want)
		}
		if js.Where() != "127.0.0.1:15080" {
			t.Errorf("Where = %q", js.Where())
		}
	}
}
