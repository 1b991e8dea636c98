package envoy

import (
	"fmt"
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// NetworkMode is how the Docker runtime connects Envoy to the workstation.
type NetworkMode string

const (
	// NetworkAuto picks NetworkHost on a Linux engine and NetworkPublished on Docker Desktop.
	NetworkAuto NetworkMode = "auto"
	// NetworkHost shares the host's network: listeners bind the services' loopback addresses
	// directly. Only a Linux engine's "host" is the workstation itself.
	NetworkHost NetworkMode = "host"
	// NetworkPublished runs Envoy on a bridge network of its own with one listener, which
	// Docker publishes on 127.0.0.1 (PublishedEntry); meshjoin's Forwarder listens on the
	// services' loopback addresses and carries each connection there behind a PROXY protocol
	// header naming the address it came to. For Docker Desktop, whose containers live in a VM:
	// there the host network is the VM's. Docker cannot publish a port on a running container;
	// this way a change of services needs none, so the container stays.
	NetworkPublished NetworkMode = "published"
)

// ParseNetworkMode checks a --envoy-network value.
func ParseNetworkMode(s string) (NetworkMode, error) {
	switch m := NetworkMode(s); m {
	case NetworkAuto, NetworkHost, NetworkPublished:
		return m, nil
	case "":
		return NetworkAuto, nil
	default:
		return "", fmt.Errorf("unknown Envoy network mode %q (want auto, host or published)", s)
	}
}

// HostAlias is the name a container reaches the workstation by. Docker Desktop resolves it
// and forwards its connections to the workstation's loopback; on a Linux engine the runtime
// adds it as host-gateway.
const HostAlias = "host.docker.internal"

const (
	// PublishedListenerName names the one listener of a published Envoy; its filter chains
	// carry the names ListenerName gives (WaitReady takes those).
	PublishedListenerName = "meshjoin-published"
	// PublishedContainerPort is where that listener binds inside the container.
	PublishedContainerPort = 20000
)

// PublishedPort is one port Docker publishes: HostIP:HostPort on the workstation leads to
// ContainerPort inside the container.
type PublishedPort struct {
	Listener      string // e.g. PublishedListenerName, for error messages
	HostIP        netip.Addr
	HostPort      uint32
	ContainerPort uint32
}

func (p PublishedPort) addr() string {
	return netip.AddrPortFrom(p.HostIP, uint16(p.HostPort)).String()
}

func (p PublishedPort) String() string { return fmt.Sprintf("%s -> %d", p.addr(), p.ContainerPort) }

// PublishedEntry is the one listener port Docker publishes in NetworkPublished mode, on
// 127.0.0.1:hostPort; the Forwarder connects there. It stays the same whatever the services.
func PublishedEntry(hostPort uint16) PublishedPort {
	return PublishedPort{Listener: PublishedListenerName, HostIP: netip.AddrFrom4([4]byte{127, 0, 0, 1}), HostPort: uint32(hostPort), ContainerPort: PublishedContainerPort}
}

// Publish adapts a plan for an Envoy on a bridge network (NetworkPublished): its listeners
// become filter chains of the one listener on 0.0.0.0:PublishedContainerPort (see
// BindInContainer), and a gateway on a loopback address (a port-forward on the workstation)
// is reached through HostAlias. Pure: it does not change its input.
func Publish(plan Plan) Plan {
	out := plan
	out.BindInContainer = true
	if gw, err := netip.ParseAddr(plan.Gateway.Host); (err == nil && gw.IsLoopback()) || plan.Gateway.Host == "localhost" {
		out.Gateway.Host = HostAlias
	}
	if plan.Proxy != nil {
		return publishProxy(out)
	}
	return out
}

// publishedResources merges the per-service listeners into the one a published Envoy serves:
// each becomes a filter chain named like it, chosen by the destination the PROXY protocol
// header restores (the service's ListenIP:Number, where the Forwarder accepted the
// connection). A connection naming no joined address matches no chain and is closed. The
// listener-level settings are the first listener's, so tuning made there applies here too.
// Changing services changes only the chains: Envoy updates them in place, and connections on
// the chains that stay are not drained.
func publishedResources(resources []types.Resource) ([]types.Resource, error) {
	if len(resources) == 0 {
		return nil, nil
	}
	listeners := make([]*listenerv3.Listener, len(resources))
	for i, r := range resources {
		listeners[i] = r.(*listenerv3.Listener)
	}
	pp, err := anyOf(&proxyprotocolv3.ProxyProtocol{StatPrefix: PublishedListenerName})
	if err != nil {
		return nil, err
	}
	out := proto.Clone(listeners[0]).(*listenerv3.Listener)
	out.Name, out.StatPrefix = PublishedListenerName, PublishedListenerName
	out.Address = socketAddress("0.0.0.0", PublishedContainerPort)
	out.ListenerFilters = []*listenerv3.ListenerFilter{{
		Name:       wellknown.ProxyProtocol,
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: pp},
	}}
	out.FilterChains = nil
	for _, l := range listeners {
		sa := l.GetAddress().GetSocketAddress()
		ip, err := netip.ParseAddr(sa.GetAddress())
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.GetName(), err)
		}
		chain := proto.Clone(l.GetFilterChains()[0]).(*listenerv3.FilterChain)
		chain.Name = l.GetName()
		chain.FilterChainMatch = &listenerv3.FilterChainMatch{
			DestinationPort: wrapperspb.UInt32(sa.GetPortValue()),
			PrefixRanges:    []*corev3.CidrRange{{AddressPrefix: ip.String(), PrefixLen: wrapperspb.UInt32(uint32(ip.BitLen()))}},
		}
		out.FilterChains = append(out.FilterChains, chain)
	}
	if err := out.ValidateAll(); err != nil {
		return nil, err
	}
	return []types.Resource{out}, nil
}
