package testbed

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// The Gateway resource that has istiod program the east-west gateway, as Istio's multi-network
// sample (samples/multicluster/expose-services.yaml) writes it, bound to the gateway's own
// loopback address so that several test meshes can run at once.
const (
	EastWestGatewayName = "cross-network-gateway"
	xdsCluster          = "xds-grpc"
	// gatewayIstioVersion is what the gateway says it runs (istiod warns without one).
	gatewayIstioVersion = "1.32.0"
)

// GatewayHosts are the hosts of the Gateway's AUTO_PASSTHROUGH server. Istio's sample has only
// "*.local" (the cluster's services); the test mesh adds its ServiceEntry's domain, as a mesh
// admin who wants inventory.mesh.internal reachable would. Tests narrow it to the sample's to
// see a host the gateway does not route.
var GatewayHosts = []string{"*.local", "*.mesh.internal"}

// gatewayLabels are the east-west gateway's pod labels, which the Gateway selects.
var gatewayLabels = map[string]string{"istio": "eastwestgateway", "app": "istio-eastwestgateway", NetworkLabel: Network}

// gatewayNodeID names the gateway to istiod as a router proxy; it needs no pod.
func gatewayNodeID(ip string) string {
	return fmt.Sprintf("router~%s~%s-0.%s~%s.svc.%s", ip, GatewayService, IstioSystem, IstioSystem, ClusterDomain)
}

func gatewayNodeMetadata() *structpb.Struct {
	labels := map[string]any{}
	for k, v := range gatewayLabels {
		labels[k] = v
	}
	md, err := structpb.NewStruct(map[string]any{
		"NAMESPACE": IstioSystem, "LABELS": labels, "ISTIO_VERSION": gatewayIstioVersion,
		"CLUSTER_ID": DefaultClusterID, "NETWORK": Network, "MESH_ID": "mesh1", "NAME": GatewayService + "-0",
	})
	if err != nil {
		panic(err) // only plain values above
	}
	return md
}

// createEastWestGateway creates the Gateway resource istiod programs the gateway from.
func createEastWestGateway(ctx context.Context, dyn dynamic.Interface, bind string) error {
	selector := map[string]any{"istio": gatewayLabels["istio"]}
	var hosts []any
	for _, h := range GatewayHosts {
		hosts = append(hosts, h)
	}
	gw := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": GatewayGVR.GroupVersion().String(),
		"kind":       "Gateway",
		"metadata":   map[string]any{"namespace": IstioSystem, "name": EastWestGatewayName},
		"spec": map[string]any{
			"selector": selector,
			"servers": []any{map[string]any{
				"port":  map[string]any{"number": int64(GatewayTLSPort), "name": "tls", "protocol": "TLS"},
				"tls":   map[string]any{"mode": "AUTO_PASSTHROUGH"},
				"hosts": hosts,
				"bind":  bind,
			}},
		},
	}}
	_, err := dyn.Resource(GatewayGVR).Namespace(IstioSystem).Create(ctx, gw, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("Gateway %s/%s: %w", IstioSystem, EastWestGatewayName, err)
	}
	return nil
}

// GatewayListenerName is the name istiod gives the gateway's bound 15443 listener.
func (tb *Testbed) GatewayListenerName() string {
	return fmt.Sprintf("%s_%d", tb.GatewayIP, GatewayTLSPort)
}

// GatewayConfigDump is the gateway Envoy's /config_dump of its dynamic listeners (JSON), to
// compare what istiod programmed with the Gateway resource.
func (tb *Testbed) GatewayConfigDump() (string, error) {
	resp, err := http.Get("http://" + tb.gateway.adminAddr + "/config_dump?resource=dynamic_listeners")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("gateway /config_dump: %s", resp.Status)
	}
	return string(b), nil
}

// waitGatewayProgrammed waits until istiod's 15443 listener is active on the gateway with a
// chain for every mesh workload (GatewayHosts route them all).
func (tb *Testbed) waitGatewayProgrammed(ctx context.Context) error {
	return waitFor(ctx, tb.gateway.process, "the gateway's listener from istiod", func() error {
		dump, err := tb.GatewayConfigDump()
		if err != nil {
			return err
		}
		if !strings.Contains(dump, `"name": "`+tb.GatewayListenerName()+`"`) || !strings.Contains(dump, "active_state") {
			return fmt.Errorf("no active listener %s yet", tb.GatewayListenerName())
		}
		for _, w := range tb.Workloads {
			if w.OutsideMesh {
				continue
			}
			for _, p := range w.Ports {
				if !strings.Contains(dump, w.SNI(p.Number)) {
					return fmt.Errorf("no filter chain for %s yet", w.SNI(p.Number))
				}
			}
		}
		return nil
	})
}

// SetGatewayHosts replaces the hosts of the east-west Gateway's AUTO_PASSTHROUGH server;
// istiod then reprograms the gateway. SetGatewayHosts(ctx, GatewayHosts...) restores them.
func (tb *Testbed) SetGatewayHosts(ctx context.Context, hosts ...string) error {
	gws := tb.dyn.Resource(GatewayGVR).Namespace(IstioSystem)
	gw, err := gws.Get(ctx, EastWestGatewayName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	servers, _, err := unstructured.NestedSlice(gw.Object, "spec", "servers")
	if err != nil || len(servers) == 0 {
		return fmt.Errorf("Gateway %s has no server (%v)", EastWestGatewayName, err)
	}
	var hs []any
	for _, h := range hosts {
		hs = append(hs, h)
	}
	servers[0].(map[string]any)["hosts"] = hs
	if err := unstructured.SetNestedSlice(gw.Object, servers, "spec", "servers"); err != nil {
		return err
	}
	_, err = gws.Update(ctx, gw, metav1.UpdateOptions{})
	return err
}
