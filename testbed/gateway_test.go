package testbed

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// gatewayChain is one filter chain of the gateway's 15443 listener, as istiod programmed it.
type gatewayChain struct {
	ServerNames []string
	ALPNs       []string
	Filters     []string
}

// gatewayListener reads the gateway's listener from istiod out of Envoy's config dump.
func gatewayListener(t *testing.T, tb *Testbed) (address string, chains []gatewayChain) {
	t.Helper()
	raw, err := tb.GatewayConfigDump()
	if err != nil {
		t.Fatal(err)
	}
	// With ?resource=, each config is one DynamicListener.
	var dump struct {
		Configs []struct {
			Name        string
			ActiveState struct {
				Listener struct {
					Address struct {
						SocketAddress struct {
							Address   string
							PortValue int `json:"port_value"`
						} `json:"socket_address"`
					}
					FilterChains []struct {
						FilterChainMatch struct {
							ServerNames          []string `json:"server_names"`
							ApplicationProtocols []string `json:"application_protocols"`
						} `json:"filter_chain_match"`
						Filters []struct{ Name string }
					} `json:"filter_chains"`
				}
			} `json:"active_state"`
		}
	}
	if err := json.Unmarshal([]byte(raw), &dump); err != nil {
		t.Fatal(err)
	}
	for _, l := range dump.Configs {
		if l.Name != tb.GatewayListenerName() {
			t.Errorf("unexpected listener %s from istiod", l.Name)
			continue
		}
		a := l.ActiveState.Listener.Address.SocketAddress
		address = hostPort(a.Address, a.PortValue)
		for _, fc := range l.ActiveState.Listener.FilterChains {
			ch := gatewayChain{ServerNames: fc.FilterChainMatch.ServerNames, ALPNs: fc.FilterChainMatch.ApplicationProtocols}
			for _, f := range fc.Filters {
				ch.Filters = append(ch.Filters, f.Name)
			}
			chains = append(chains, ch)
		}
	}
	if address == "" {
		t.Fatalf("the gateway has no listener %s from istiod", tb.GatewayListenerName())
	}
	return address, chains
}

// expectedSNIs is what a real east-west gateway routes for the Gateway's hosts: an SNI per
// port of every Service and ServiceEntry host the hosts match (any namespace).
func expectedSNIs(t *testing.T, tb *Testbed, hosts []string) []string {
	t.Helper()
	ctx := context.Background()
	matches := func(host string) bool {
		return slices.ContainsFunc(hosts, func(h string) bool {
			return h == "*" || (strings.HasPrefix(h, "*") && strings.HasSuffix(host, h[1:])) || h == host
		})
	}
	var want []string
	svcs, err := tb.admin.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs.Items {
		host := fmt.Sprintf("%s.%s.svc.%s", s.Name, s.Namespace, ClusterDomain)
		for _, p := range s.Spec.Ports {
			if matches(host) {
				want = append(want, fmt.Sprintf("outbound_.%d_._.%s", p.Port, host))
			}
		}
	}
	ses, err := tb.dyn.Resource(ServiceEntryGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, se := range ses.Items {
		seHosts, _, _ := unstructured.NestedStringSlice(se.Object, "spec", "hosts")
		ports, _, _ := unstructured.NestedSlice(se.Object, "spec", "ports")
		for _, h := range seHosts {
			for _, p := range ports {
				n, _, _ := unstructured.NestedInt64(p.(map[string]any), "number")
				if matches(h) {
					want = append(want, fmt.Sprintf("outbound_.%d_._.%s", n, h))
				}
			}
		}
	}
	sort.Strings(want)
	return want
}

func chainSNIs(t *testing.T, chains []gatewayChain) []string {
	t.Helper()
	var got []string
	for _, c := range chains {
		if len(c.ServerNames) != 1 {
			t.Errorf("chain with server names %v, want one", c.ServerNames)
		}
		if !slices.Equal(c.ALPNs, IstioALPNs) {
			t.Errorf("chain %v: ALPNs %v, want %v", c.ServerNames, c.ALPNs, IstioALPNs)
		}
		if !slices.Equal(c.Filters, []string{"envoy.filters.network.tcp_proxy"}) {
			t.Errorf("chain %v: filters %v, want tcp_proxy only (no istio.stats, no metadata exchange)", c.ServerNames, c.Filters)
		}
		got = append(got, c.ServerNames...)
	}
	sort.Strings(got)
	return got
}

// The gateway's 15443 listener is istiod's, generated from the Gateway resource: bound to the
// gateway's address, one chain per service port whose host the Gateway's hosts match.
func TestGatewayListenerFromIstiod(t *testing.T) {
	tb := Shared(t)
	address, chains := gatewayListener(t, tb)
	if address != tb.GatewayAddr() {
		t.Errorf("listener on %s, want the Gateway's bind %s", address, tb.GatewayAddr())
	}
	if got, want := chainSNIs(t, chains), expectedSNIs(t, tb, GatewayHosts); !slices.Equal(got, want) {
		t.Errorf("filter chains route\n%v\nthe Gateway's hosts %v give\n%v", got, GatewayHosts, want)
	}
}

// With Istio's sample hosts (*.local) the gateway has no chain for the ServiceEntry host
// inventory.mesh.internal and a request fails; widening the hosts routes it again, live.
func TestGatewayHostsNarrowedAndWidened(t *testing.T) {
	tb := Shared(t)
	inventory := tb.Workload("inventory.payments")
	sni := inventory.SNI(8000)
	c := newMeshClient(t, tb)

	setGatewayHosts(t, tb, "*.local")
	t.Cleanup(func() { setGatewayHosts(t, tb, GatewayHosts...) })
	waitChains(t, tb, func(snis []string) bool { return !slices.Contains(snis, sni) })
	if got, want := chainSNIs(t, mustChains(t, tb)), expectedSNIs(t, tb, []string{"*.local"}); !slices.Equal(got, want) {
		t.Errorf("with *.local the chains route\n%v\nwant\n%v", got, want)
	}
	if r, err := c.getHTTP(inventory, 8000, "/items"); err == nil {
		t.Fatalf("a request to %s got through a gateway whose hosts do not name it: %+v", inventory.Host(), r)
	}

	setGatewayHosts(t, tb, GatewayHosts...)
	waitChains(t, tb, func(snis []string) bool { return slices.Contains(snis, sni) })
	r, err := c.getHTTP(inventory, 8000, "/items")
	if err != nil || r.Service != "inventory.payments" {
		t.Fatalf("after widening: %+v, %v", r, err)
	}
}

func mustChains(t *testing.T, tb *Testbed) []gatewayChain {
	_, chains := gatewayListener(t, tb)
	return chains
}

// setGatewayHosts replaces the hosts of the east-west Gateway's server.
func setGatewayHosts(t *testing.T, tb *Testbed, hosts ...string) {
	t.Helper()
	if err := tb.SetGatewayHosts(context.Background(), hosts...); err != nil {
		t.Fatal(err)
	}
}

// waitChains waits until istiod has pushed chains that satisfy ok.
func waitChains(t *testing.T, tb *Testbed, ok func([]string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var snis []string
		for _, c := range mustChains(t, tb) {
			snis = append(snis, c.ServerNames...)
		}
		if ok(snis) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("istiod did not push the expected chains; the gateway has %v", snis)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
