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

	got, ports := Publish(plan)
	want := []PublishedPort{
		{Listener: "ratings.bookinfo:9080", HostIP: ratings.ListenIP, HostPort: 9080, ContainerPort: 20000},
		{Listener: "reviews.bookinfo:9080", HostIP: reviews.ListenIP, HostPort: 9080, ContainerPort: 20001},
		{Listener: "reviews.bookinfo:3306", HostIP: reviews.ListenIP, HostPort: 3306, ContainerPort: 20002},
	}
	if !slices.Equal(ports, want) {
		t.Fatalf("ports = %v, want %v", ports, want)
	}
	if !got.BindInContainer || got.Gateway.Host != HostAlias || got.Gateway.Port != 15443 {
		t.Fatalf("plan: bind in container %v, gateway %+v", got.BindInContainer, got.Gateway)
	}
	if plan.Services[1].Ports[0].ContainerPort != 0 || plan.BindInContainer {
		t.Fatal("Publish changed its input")
	}
	if _, again := Publish(plan); !slices.Equal(again, ports) {
		t.Fatal("Publish is not deterministic")
	}

	// A remote gateway stays as it is; only the workstation's loopback needs the alias.
	plan.Gateway.Host = "203.0.113.7"
	if got, _ := Publish(plan); got.Gateway.Host != "203.0.113.7" {
		t.Fatalf("remote gateway rewritten to %s", got.Gateway.Host)
	}
	plan.Gateway.Host = "localhost"
	if got, _ := Publish(plan); got.Gateway.Host != HostAlias {
		t.Fatalf("localhost gateway kept as %s", got.Gateway.Host)
	}

	// Listeners bind every container address on their own ports.
	res, err := BuildResources(got, goldenCreds(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res.Listeners {
		l := r.(*listenerv3.Listener)
		sa := l.GetAddress().GetSocketAddress()
		if sa.GetAddress() != "0.0.0.0" || sa.GetPortValue() != want[i].ContainerPort {
			t.Errorf("listener %s binds %s:%d, want 0.0.0.0:%d", l.GetName(), sa.GetAddress(), sa.GetPortValue(), want[i].ContainerPort)
		}
	}
}

func TestBindInContainerNeedsDistinctContainerPorts(t *testing.T) {
	plan, _ := Publish(Plan{Gateway: Gateway{Host: "198.51.100.1", Port: 15443}, TrustDomains: []string{"cluster.local"},
		Services: []Service{
			{Key: "a.ns", Host: "a.ns.svc.cluster.local", ListenIP: netip.MustParseAddr("127.77.0.1"), Ports: []Port{{Number: 80, Protocol: HTTP}}},
			{Key: "b.ns", Host: "b.ns.svc.cluster.local", ListenIP: netip.MustParseAddr("127.77.0.2"), Ports: []Port{{Number: 80, Protocol: HTTP}}},
		}})
	plan.Services[1].Ports[0].ContainerPort = plan.Services[0].Ports[0].ContainerPort
	if _, err := BuildResources(plan, goldenCreds(t)); err == nil || !strings.Contains(err.Error(), "both on container port 20000") {
		t.Fatalf("two listeners on one container port: %v", err)
	}
	plan.Services[1].Ports[0].ContainerPort = 0
	if _, err := BuildResources(plan, goldenCreds(t)); err == nil || !strings.Contains(err.Error(), "container port 0") {
		t.Fatalf("no container port: %v", err)
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
	ports := []PublishedPort{{Listener: "ratings.bookinfo:9080", HostIP: netip.MustParseAddr("127.77.0.5"), HostPort: 9080, ContainerPort: 20000}}
	for _, msg := range []string{
		"Error response from daemon: driver failed programming external connectivity on endpoint meshjoin-envoy-x (abc): Error starting userland proxy: listen tcp4 127.77.0.5:9080: bind: address already in use",
		"Error response from daemon: driver failed programming external connectivity on endpoint meshjoin-envoy-x (abc): Bind for 127.77.0.5:9080 failed: port is already allocated",
	} {
		err := publishError(errors.New(msg), ports)
		var inUse *AddressInUseError
		if !errors.As(err, &inUse) || inUse.Listener != "ratings.bookinfo:9080" || inUse.Address != "127.77.0.5:9080" {
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
