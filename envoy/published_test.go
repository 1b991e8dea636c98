package envoy

import (
	"errors"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestPublish(t *testing.T) {
	ratings := Service{Key: "ratings.bookinfo", Host: "ratings.bookinfo.svc.cluster.local", ListenIP: netip.MustParseAddr("127.77.3.4"),
		Ports: []Port{{Number: 9080, Protocol: HTTP}}}
	reviews := Service{Key: "reviews.bookinfo", Host: "reviews.bookinfo.svc.cluster.local", ListenIP: netip.MustParseAddr("127.77.3.5"),
		Ports: []Port{{Number: 9080, Protocol: HTTP}, {Number: 3306, Protocol: TCP}}}
	plan := Plan{Gateway: Gateway{Host: "127.0.0.1", Port: 15443}, TrustDomains: []string{"cluster.local"}, Services: []Service{ratings, reviews}}

	got := Publish(plan)
	if !got.BindInContainer || got.Gateway.Host != HostAlias || got.Gateway.Port != 15443 {
		t.Fatalf("plan: bind in container %v, gateway %+v", got.BindInContainer, got.Gateway)
	}
	if plan.BindInContainer || plan.Gateway.Host != "127.0.0.1" {
		t.Fatal("Publish changed its input")
	}

	// A remote gateway stays as it is; only the workstation's loopback needs the alias.
	plan.Gateway.Host = "203.0.113.7"
	if got := Publish(plan); got.Gateway.Host != "203.0.113.7" {
		t.Fatalf("remote gateway rewritten to %s", got.Gateway.Host)
	}
	plan.Gateway.Host = "localhost"
	if got := Publish(plan); got.Gateway.Host != HostAlias {
		t.Fatalf("localhost gateway kept as %s", got.Gateway.Host)
	}

	// One listener on every container address, behind the PROXY protocol, with a chain per
	// service port chosen by the address the header restores: ratings and reviews share 9080.
	res, err := BuildResources(got, goldenCreds(t))
	if err != nil {
		t.Fatal(err)
	}
	// A cluster per service port, and the upgrade cluster of each HTTP port (UpgradeClusterName).
	if len(res.Listeners) != 1 || len(res.Clusters) != 5 {
		t.Fatalf("%d listeners and %d clusters, want 1 and 5", len(res.Listeners), len(res.Clusters))
	}
	l := res.Listeners[0].(*listenerv3.Listener)
	sa := l.GetAddress().GetSocketAddress()
	if l.GetName() != PublishedListenerName || sa.GetAddress() != "0.0.0.0" || sa.GetPortValue() != PublishedContainerPort {
		t.Errorf("listener %s on %s:%d", l.GetName(), sa.GetAddress(), sa.GetPortValue())
	}
	if lf := l.GetListenerFilters(); len(lf) != 1 || lf[0].GetName() != "envoy.filters.listener.proxy_protocol" {
		t.Errorf("listener filters %v, want the PROXY protocol's only", lf)
	}
	want := []struct {
		name, addr string
		port       uint32
	}{{"ratings.bookinfo:9080", "127.77.3.4", 9080}, {"reviews.bookinfo:9080", "127.77.3.5", 9080}, {"reviews.bookinfo:3306", "127.77.3.5", 3306}}
	if len(l.GetFilterChains()) != len(want) {
		t.Fatalf("%d filter chains, want %d", len(l.GetFilterChains()), len(want))
	}
	for i, c := range l.GetFilterChains() {
		m := c.GetFilterChainMatch()
		if c.GetName() != want[i].name || m.GetDestinationPort().GetValue() != want[i].port || len(m.GetPrefixRanges()) != 1 ||
			m.GetPrefixRanges()[0].GetAddressPrefix() != want[i].addr || m.GetPrefixRanges()[0].GetPrefixLen().GetValue() != 32 {
			t.Errorf("chain %d: %s matching %v, want %+v", i, c.GetName(), m, want[i])
		}
	}
	if got := ListenerNames(got); !slices.Equal(got, []string{want[0].name, want[1].name, want[2].name}) {
		t.Errorf("names to wait for: %v", got)
	}
	// No service: no listener (Envoy refuses one without filter chains).
	if res, err := BuildResources(Publish(Plan{Gateway: plan.Gateway, TrustDomains: plan.TrustDomains}), goldenCreds(t)); err != nil || len(res.Listeners) != 0 {
		t.Errorf("no service: %d listeners, %v", len(res.Listeners), err)
	}
}

func TestParseNetworkMode(t *testing.T) {
	for in, want := range map[string]NetworkMode{"": NetworkAuto, "auto": NetworkAuto, "host": NetworkHost, "published": NetworkPublished} {
		if got, err := ParseNetworkMode(in); err != nil || got != want {
			t.Errorf("ParseNetworkMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseNetworkMode("bridge"); err == nil || !strings.Contains(err.Error(), "auto, host or published") {
		t.Errorf("bridge: %v", err)
	}
}

// Docker's messages for a published address that cannot be bound: taken by a program or a
// container, or missing (Docker Desktop on macOS, where only 127.0.0.1 exists on lo0).
func TestPublishError(t *testing.T) {
	ports := []PublishedPort{PublishedEntry(9080)}
	ports[0].HostIP = netip.MustParseAddr("127.77.0.5")
	for _, msg := range []string{
		"Error response from daemon: driver failed programming external connectivity on endpoint meshjoin-envoy-x (abc): Error starting userland proxy: listen tcp4 127.77.0.5:9080: bind: address already in use",
		"Error response from daemon: driver failed programming external connectivity on endpoint meshjoin-envoy-x (abc): Bind for 127.77.0.5:9080 failed: port is already allocated",
	} {
		err := publishError(errors.New(msg), ports)
		var inUse *AddressInUseError
		if !errors.As(err, &inUse) || inUse.Listener != PublishedListenerName || inUse.Address != "127.77.0.5:9080" {
			t.Errorf("%s\n→ %v", msg, err)
		}
	}
	if err := publishError(errors.New("no such image"), ports); err != nil {
		t.Errorf("unrelated error classified: %v", err)
	}
	missing := "Error response from daemon: Ports are not available: exposing port TCP 127.77.0.5:9080 -> 0.0.0.0:0: listen tcp4 127.77.0.5:9080: bind: can't assign requested address"
	var unavailable *AddressUnavailableError
	err := publishError(errors.New(missing), ports)
	if !errors.As(err, &unavailable) || unavailable.Address != "127.77.0.5:9080" || !errors.Is(err, ErrAddressUnavailable) || errors.Is(err, ErrAddressInUse) {
		t.Errorf("%s\n→ %v", missing, err)
	}
}

func TestBootstrapAdminInContainer(t *testing.T) {
	b, err := Bootstrap(BootstrapOptions{NodeID: "n", XDSAddr: HostAlias + ":41234", Secret: "s", AdminPort: 15000, AdminInContainer: true,
		AdminToken: "t", AdminSocket: ContainerAdminSocket})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"address": "0.0.0.0"`, `"address": "host.docker.internal"`, `"type": "STRICT_DNS"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("bootstrap lacks %s:\n%s", want, b)
		}
	}
}
