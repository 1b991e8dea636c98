package envoy

import (
	"fmt"
	"net/netip"
	"slices"
)

// NetworkMode is how the Docker runtime connects Envoy to the workstation.
type NetworkMode string

const (
	// NetworkAuto picks NetworkHost on a Linux engine and NetworkPublished on Docker Desktop.
	NetworkAuto NetworkMode = "auto"
	// NetworkHost shares the host's network: listeners bind the services' loopback addresses
	// directly. Only a Linux engine's "host" is the workstation itself.
	NetworkHost NetworkMode = "host"
	// NetworkPublished runs Envoy on a bridge network of its own and publishes each listener
	// at the service's loopback address (docker run -p 127.77.x.y:port:...). For Docker
	// Desktop, whose containers live in a VM: there the host network is the VM's.
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

// firstContainerPort is where Publish starts numbering the listeners inside the container.
// Several services share a port number (ratings and reviews both on 9080) but not an address,
// and inside the container there is one address: each listener gets a port of its own.
const firstContainerPort = 20000

// PublishedPort is one listener Docker publishes: HostIP:HostPort on the workstation leads to
// ContainerPort inside the container.
type PublishedPort struct {
	Listener      string // e.g. "ratings.bookinfo:9080", for error messages
	HostIP        netip.Addr
	HostPort      uint32
	ContainerPort uint32
}

func (p PublishedPort) addr() string {
	return netip.AddrPortFrom(p.HostIP, uint16(p.HostPort)).String()
}

func (p PublishedPort) String() string { return fmt.Sprintf("%s -> %d", p.addr(), p.ContainerPort) }

// Publish adapts a plan for an Envoy on a bridge network (NetworkPublished): every listener
// binds 0.0.0.0 on a container port of its own, and a gateway on a loopback address (a
// port-forward on the workstation) is reached through HostAlias. It returns the plan to
// serve and the ports Docker must publish, in listener order. Pure: the same plan gives the
// same result, so comparing the ports tells whether the container must be recreated.
func Publish(plan Plan) (Plan, []PublishedPort) {
	out := plan
	out.BindInContainer = true
	out.Services = make([]Service, len(plan.Services))
	if gw, err := netip.ParseAddr(plan.Gateway.Host); (err == nil && gw.IsLoopback()) || plan.Gateway.Host == "localhost" {
		out.Gateway.Host = HostAlias
	}
	if plan.Proxy != nil {
		return publishProxy(out, plan.Services)
	}
	var ports []PublishedPort
	next := uint32(firstContainerPort)
	for i, svc := range plan.Services {
		svc.Ports = slices.Clone(svc.Ports)
		for j := range svc.Ports {
			svc.Ports[j].ContainerPort = next
			ports = append(ports, PublishedPort{Listener: ListenerName(svc.Key, svc.Ports[j].Number), HostIP: svc.ListenIP, HostPort: svc.Ports[j].Number, ContainerPort: next})
			next++
		}
		out.Services[i] = svc
	}
	return out, ports
}

// listenAddress is where a listener binds: the service's own loopback address on the host
// network, or every address of the container on its bridge network, where only Docker's
// published port leads to it.
func listenAddress(plan Plan, svc Service, port Port) (string, uint32) {
	if plan.BindInContainer {
		return "0.0.0.0", port.ContainerPort
	}
	return svc.ListenIP.String(), port.Number
}
