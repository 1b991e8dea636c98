package mesh

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// gatewaySvc is an east-west gateway Service of a network exposing ports, with a load
// balancer ingress (ip or hostname) when given.
func gatewaySvc(name, network string, ingress []corev1.LoadBalancerIngress, ports ...corev1.ServicePort) *corev1.Service {
	svc := service("istio-system", name, map[string]string{"istio": "eastwestgateway"}, ports...)
	svc.Labels = map[string]string{labelNetwork: network}
	svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	svc.Status.LoadBalancer.Ingress = ingress
	return svc
}

func TestFindGateway(t *testing.T) {
	t.Parallel()
	std := []corev1.ServicePort{tcpPort("status-port", 15021), tcpPort("tls", 15443), tcpPort("tls-istiod", 15012), tcpPort("tls-webhook", 15017)}
	ip := []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}}
	with := func(svc *corev1.Service, f func(*corev1.Service)) *corev1.Service { f(svc); return svc }

	for _, tc := range []struct {
		name    string
		objs    []runtime.Object
		network string
		want    Gateway
		wantErr []string // substrings of the *ErrNoGateway message
	}{
		{
			name:    "load balancer ip",
			objs:    []runtime.Object{gatewaySvc("istio-eastwestgateway", "net1", ip, std...)},
			network: "net1",
			want:    Gateway{Host: "192.0.2.10", Port: 15443, CAPort: 15012, Name: "istio-system/istio-eastwestgateway"},
		},
		{
			name:    "load balancer hostname",
			objs:    []runtime.Object{gatewaySvc("istio-eastwestgateway", "net1", []corev1.LoadBalancerIngress{{Hostname: "abc.elb.example.com"}}, std...)},
			network: "net1",
			want:    Gateway{Host: "abc.elb.example.com", IsHostname: true, Port: 15443, CAPort: 15012, Name: "istio-system/istio-eastwestgateway"},
		},
		{
			name: "ip preferred over hostname",
			objs: []runtime.Object{gatewaySvc("ew", "net1", []corev1.LoadBalancerIngress{{Hostname: "lb.example.com"}, {IP: "192.0.2.11"}}, std...)},
			want: Gateway{Host: "192.0.2.11", Port: 15443, CAPort: 15012, Name: "istio-system/ew"},
		},
		{
			name: "external IPs when no load balancer",
			objs: []runtime.Object{with(gatewaySvc("ew", "net1", nil, tcpPort("tls", 15443)), func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeClusterIP
				s.Spec.ExternalIPs = []string{"not-an-ip", "198.51.100.7"}
			})},
			network: "net1",
			want:    Gateway{Host: "198.51.100.7", Port: 15443, Name: "istio-system/ew"},
		},
		{
			name: "label overrides the port; CA port found by number",
			objs: []runtime.Object{with(gatewaySvc("ew", "net1", ip, tcpPort("https", 443), tcpPort("grpc-xds", 15012)), func(s *corev1.Service) {
				s.Labels[labelGatewayPort] = "443"
			})},
			want: Gateway{Host: "192.0.2.10", Port: 443, CAPort: 15012, Name: "istio-system/ew"},
		},
		{
			name: "CA port by name on another number",
			objs: []runtime.Object{gatewaySvc("ew", "net1", ip, tcpPort("tls", 15443), tcpPort("tls-istiod", 8443))},
			want: Gateway{Host: "192.0.2.10", Port: 15443, CAPort: 8443, Name: "istio-system/ew"},
		},
		{
			name: "no CA port",
			objs: []runtime.Object{gatewaySvc("ew", "net1", ip, tcpPort("tls", 15443))},
			want: Gateway{Host: "192.0.2.10", Port: 15443, Name: "istio-system/ew"},
		},
		{
			name: "the network picks the gateway; ingress without address skipped",
			objs: []runtime.Object{
				gatewaySvc("a-gw", "net1", ip, std...),
				gatewaySvc("b-gw", "net2", []corev1.LoadBalancerIngress{{IP: "192.0.2.20"}}, std...),
			},
			network: "net2",
			want:    Gateway{Host: "192.0.2.20", Port: 15443, CAPort: 15012, Name: "istio-system/b-gw"},
		},
		{
			name: "a gateway with an address wins over one without",
			objs: []runtime.Object{
				gatewaySvc("a-gw", "net1", nil, std...),
				gatewaySvc("b-gw", "net1", ip, std...),
			},
			want: Gateway{Host: "192.0.2.10", Port: 15443, CAPort: 15012, Name: "istio-system/b-gw"},
		},
		{
			name: "none",
			objs: []runtime.Object{
				service("istio-system", "istiod", nil, tcpPort("grpc-xds", 15012)),
				service("istio-system", "istio-ingressgateway", nil, tcpPort("https", 443), tcpPort("tls", 15443)), // no network label
			},
			network: "net1",
			wantErr: []string{`no east-west gateway for network "net1" in namespace istio-system`, "pass --gateway host:port"},
		},
		{
			name:    "no labelled service at all",
			objs:    []runtime.Object{service("istio-system", "istiod", nil, tcpPort("grpc-xds", 15012))},
			wantErr: []string{"no Service there carries the label topology.istio.io/network", "pass --gateway host:port"},
		},
		{
			name:    "gateways of other networks only",
			objs:    []runtime.Object{gatewaySvc("ew", "net1", ip, std...)},
			network: "net9",
			wantErr: []string{`for network "net9"`, `istio-system/ew ("net1")`, "--gateway host:port"},
		},
		{
			name:    "labelled but without 15443",
			objs:    []runtime.Object{gatewaySvc("ew", "net1", ip, tcpPort("http", 80))},
			wantErr: []string{"istio-system/ew does not expose port 15443", "--gateway host:port"},
		},
		{
			name: "no address, with a node port hint",
			objs: []runtime.Object{with(gatewaySvc("ew", "net1", nil, std...), func(s *corev1.Service) {
				s.Spec.Ports[1].NodePort = 31443
			})},
			wantErr: []string{"east-west gateway istio-system/ew has no external address", "status.loadBalancer.ingress is empty", "node port 31443", "--gateway host:port"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := FindGateway(context.Background(), fake.NewClientset(tc.objs...), tc.network)
			if tc.wantErr != nil {
				var ng *ErrNoGateway
				if !errors.As(err, &ng) {
					t.Fatalf("FindGateway error = %v, want *ErrNoGateway", err)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("FindGateway: %v", err)
			}
			if got != tc.want {
				t.Errorf("FindGateway =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

func TestFindGatewayNoAddressNamesService(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset(gatewaySvc("ew", "net1", nil, tcpPort("tls", 15443)))
	_, err := FindGateway(context.Background(), client, "")
	var ng *ErrNoGateway
	if !errors.As(err, &ng) || ng.Service != "istio-system/ew" {
		t.Fatalf("error = %#v, want *ErrNoGateway naming istio-system/ew", err)
	}
}

func TestFindGatewayForbidden(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset()
	forbid(&client.Fake, "list", "services")
	_, err := FindGateway(context.Background(), client, "")
	var fe *ErrForbidden
	if !errors.As(err, &fe) || fe.CanI() != "kubectl auth can-i list services -n istio-system" {
		t.Fatalf("error = %v, want *ErrForbidden for list services in istio-system", err)
	}
}
