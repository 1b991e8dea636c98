package mesh

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Ports of the east-west gateway.
const (
	GatewayPort   = 15443 // AUTO_PASSTHROUGH mTLS
	GatewayCAPort = 15012 // istiod (xDS and CA), exposed by Istio's expose-istiod sample
	portNameCA    = "tls-istiod"
)

// Gateway is the way into the mesh: the east-west gateway's external address.
type Gateway struct {
	Host       string // IP address or host name
	IsHostname bool   // Host needs DNS resolution (Envoy: STRICT_DNS)
	Port       uint32 // GatewayPort, or the label networking.istio.io/gatewayPort
	CAPort     uint32 // the service port of istiod on the gateway (named tls-istiod or numbered 15012), else 0
	Name       string // namespace/name of the Service
}

// FindGateway finds the east-west gateway of a network in istio-system: a Service labelled
// topology.istio.io/network (with the network as value, unless network is "") exposing 15443
// or the port in its label networking.istio.io/gatewayPort. Its address is the first
// status.loadBalancer.ingress IP (else host name), else the first spec.externalIPs entry.
// It returns *ErrNoGateway when there is none, or when the gateway has no address yet.
func FindGateway(ctx context.Context, client kubernetes.Interface, network string) (Gateway, error) {
	return FindGatewayIn(ctx, client, DefaultRootNamespace, network)
}

// FindGatewayIn is FindGateway for a gateway in another namespace.
func FindGatewayIn(ctx context.Context, client kubernetes.Interface, namespace, network string) (Gateway, error) {
	list, err := client.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{LabelSelector: labelNetwork})
	if err != nil {
		return Gateway{}, fmt.Errorf("find east-west gateway: %w", apiError(err, "list", "services", namespace, ""))
	}
	svcs := list.Items
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })

	var (
		others    []string
		noAddress *corev1.Service
		noAddrAt  uint32
		detail    []string
	)
	for i := range svcs {
		svc := &svcs[i]
		key := svc.Namespace + "/" + svc.Name
		if nw := svc.Labels[labelNetwork]; network != "" && nw != network {
			others = append(others, fmt.Sprintf("%s (%s)", key, quoteShort(nw)))
			continue
		}
		want, ok := gatewayPortOf(svc)
		if !ok {
			detail = append(detail, fmt.Sprintf("%s has an invalid %s label %s", key, labelGatewayPort, quoteShort(svc.Labels[labelGatewayPort])))
			continue
		}
		if !exposesPort(svc, want) {
			detail = append(detail, fmt.Sprintf("%s does not expose port %d", key, want))
			continue
		}
		host, isName, ok := gatewayAddress(svc)
		if !ok {
			if noAddress == nil {
				noAddress, noAddrAt = svc, want
			}
			continue
		}
		return Gateway{Host: host, IsHostname: isName, Port: want, CAPort: caPortOf(svc), Name: key}, nil
	}
	if noAddress != nil {
		return Gateway{}, &ErrNoGateway{
			Network:   network,
			Namespace: namespace,
			Service:   noAddress.Namespace + "/" + noAddress.Name,
			Detail:    noAddressDetail(noAddress, noAddrAt),
		}
	}
	e := &ErrNoGateway{Network: network, Namespace: namespace, Detail: strings.Join(detail, "; "), Others: others}
	if len(svcs) == 0 {
		e.Detail = "no Service there carries the label " + labelNetwork
	}
	return Gateway{}, e
}

// gatewayPortOf is 15443, or the port named by the label; ok is false when the label is
// present but not a port number.
func gatewayPortOf(svc *corev1.Service) (uint32, bool) {
	v, set := svc.Labels[labelGatewayPort]
	if !set {
		return GatewayPort, true
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint32(n), true
}

func exposesPort(svc *corev1.Service, port uint32) bool {
	for _, p := range svc.Spec.Ports {
		if uint32(p.Port) == port && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
			return true
		}
	}
	return false
}

func caPortOf(svc *corev1.Service) uint32 {
	for _, p := range svc.Spec.Ports {
		if p.Name == portNameCA {
			return uint32(p.Port)
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.Port == GatewayCAPort {
			return GatewayCAPort
		}
	}
	return 0
}

// gatewayAddress picks the load balancer's IP, else its host name, else an external IP.
func gatewayAddress(svc *corev1.Service) (host string, isHostname, ok bool) {
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if ip := net.ParseIP(in.IP); ip != nil {
			return ip.String(), false, true
		}
	}
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.Hostname != "" && checkHost(in.Hostname) == "" {
			return in.Hostname, true, true
		}
	}
	for _, ip := range svc.Spec.ExternalIPs {
		if p := net.ParseIP(ip); p != nil {
			return p.String(), false, true
		}
	}
	return "", false, false
}

func noAddressDetail(svc *corev1.Service, port uint32) string {
	var b strings.Builder
	fmt.Fprintf(&b, "type %s", svc.Spec.Type)
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer || svc.Spec.Type == "" {
		b.WriteString(", status.loadBalancer.ingress is empty (the load balancer may still be provisioning)")
	}
	b.WriteString(", no spec.externalIPs")
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 && uint32(p.Port) == port {
			fmt.Fprintf(&b, "; port %d is node port %d, reachable as <node-address>:%d", p.Port, p.NodePort, p.NodePort)
			break
		}
	}
	return b.String()
}
