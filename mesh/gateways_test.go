package mesh

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
)

var gwV1 = gatewayVersions[0]

// istioGateway is a Gateway with one server on port, in mode, for hosts.
func istioGateway(ns, name string, port int64, mode string, hosts ...string) *unstructured.Unstructured {
	var hs []any
	for _, h := range hosts {
		hs = append(hs, h)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gwV1.GroupVersion().String(),
		"kind":       "Gateway",
		"metadata":   map[string]any{"namespace": ns, "name": name},
		"spec": map[string]any{
			"selector": map[string]any{"istio": "eastwestgateway"},
			"servers": []any{map[string]any{
				"port":  map[string]any{"number": port, "name": "tls", "protocol": "TLS"},
				"tls":   map[string]any{"mode": mode},
				"hosts": hs,
			}},
		},
	}}
}

func TestPassthroughServerRoutes(t *testing.T) {
	t.Parallel()
	srv := passthroughServer{gateway: "istio-system/cross-network-gateway", port: 15443,
		hosts: []string{"*.local", "payments/*.mesh.internal", "./istiod.corp", "*/exact.example"}}
	for _, tc := range []struct {
		ns, host string
		want     bool
	}{
		{"bookinfo", "ratings.bookinfo.svc.cluster.local", true},
		{"payments", "inventory.mesh.internal", true},
		{"bookinfo", "inventory.mesh.internal", false}, // scoped to payments
		{"istio-system", "istiod.corp", true},          // "./" is the Gateway's namespace
		{"payments", "istiod.corp", false},
		{"any", "EXACT.example", true},
		{"any", "notexact.example", false},
		{"any", "cluster.localhost", false},
	} {
		if got := srv.routes(tc.ns, tc.host); got != tc.want {
			t.Errorf("routes(%s, %s) = %v, want %v", tc.ns, tc.host, got, tc.want)
		}
	}
}

// Only AUTO_PASSTHROUGH servers on the gateway's port count; a service outside their hosts is
// not joinable, with the Gateway named; widening the hosts makes it joinable at once.
func TestGatewayHostsDecideReachability(t *testing.T) {
	t.Parallel()
	objs := []runtime.Object{meshNS("istio-system"), meshNS("bookinfo"), meshNS("payments")}
	objs = append(objs, servedService("bookinfo", "ratings", tcpPort("http", 9080))...)
	entries := []runtime.Object{
		serviceEntry(seV1, "payments", "inventory", map[string]any{
			"hosts": []any{"inventory.mesh.internal"}, "location": "MESH_INTERNAL", "resolution": "STATIC",
			"ports":     []any{map[string]any{"number": int64(8000), "name": "http", "protocol": "HTTP"}},
			"endpoints": []any{map[string]any{"address": "10.0.0.9", "serviceAccount": "inventory"}},
		}),
	}
	gateways := []*unstructured.Unstructured{
		istioGateway("istio-system", "cross-network-gateway", 15443, "AUTO_PASSTHROUGH", "*.local"),
		istioGateway("istio-system", "ingress", 443, "AUTO_PASSTHROUGH", "*"), // another port
		istioGateway("istio-system", "simple", 15443, "PASSTHROUGH", "*"),     // not AUTO_PASSTHROUGH
	}
	// Created, not given to the fake: it would file "Gateway" under "gatewaies".
	c := startCatalog(t, nil, CatalogOptions{}, objs, entries, func(_ *fake.Clientset, dyn *dynamicfake.FakeDynamicClient) {
		for _, gw := range gateways {
			if _, err := dyn.Resource(gwV1).Namespace(gw.GetNamespace()).Create(t.Context(), gw, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	})
	got := byKey(c)
	if s := got["ratings.bookinfo"]; !s.Reachable {
		t.Fatalf("ratings unreachable: %s", s.Reason)
	}
	inv := got["inventory.payments"]
	want := `host "inventory.mesh.internal" matches no host of the east-west gateway's AUTO_PASSTHROUGH server (Gateway "istio-system/cross-network-gateway" hosts "*.local")`
	if inv.Reachable || !strings.Contains(inv.Reason, want) {
		t.Fatalf("inventory: reachable %v, reason %q", inv.Reachable, inv.Reason)
	}
	gw := istioGateway("istio-system", "cross-network-gateway", 15443, "AUTO_PASSTHROUGH", "*.local", "*.mesh.internal")
	if _, err := c.dyn.Resource(gwV1).Namespace("istio-system").Update(t.Context(), gw, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "inventory reachable once the Gateway's hosts are widened", func() bool { return byKey(c)["inventory.payments"].Reachable })
}
