package mesh

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"

	dynamicfake "k8s.io/client-go/dynamic/fake"
)

var paV1 = peerAuthenticationVersions[0]

// peerAuth is a PeerAuthentication created at minute age of an arbitrary day (older first).
func peerAuth(ns, name string, minute int, selector map[string]string, mode string, ports map[string]string) *unstructured.Unstructured {
	spec := map[string]any{}
	if selector != nil {
		labels := map[string]any{}
		for k, v := range selector {
			labels[k] = v
		}
		spec["selector"] = map[string]any{"matchLabels": labels}
	}
	if mode != "" {
		spec["mtls"] = map[string]any{"mode": mode}
	}
	if ports != nil {
		pl := map[string]any{}
		for p, m := range ports {
			pl[p] = map[string]any{"mode": m}
		}
		spec["portLevelMtls"] = pl
	}
	created := time.Date(2026, 1, 1, 0, minute, 0, 0, time.UTC).Format(time.RFC3339)
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": paV1.GroupVersion().String(),
		"kind":       "PeerAuthentication",
		"metadata":   map[string]any{"namespace": ns, "name": name, "creationTimestamp": created},
		"spec":       spec,
	}}
}

// servedService is a Service with one ready endpoint, so that only mTLS decides.
func servedService(ns, app string, ports ...corev1.ServicePort) []runtime.Object {
	return []runtime.Object{
		service(ns, app, map[string]string{"app": app}, ports...),
		slice(ns, app, app+"-1", ep{addr: "10.0.0.1"}),
	}
}

func byKey(c *testCatalog) map[string]Service {
	out := map[string]Service{}
	for _, s := range c.Services() {
		out[s.Key()] = s
	}
	return out
}

// Istio's precedence: workload over namespace over mesh-wide, the oldest among equals, UNSET
// inherits, port levels over the policy's mode.
func TestPeerAuthenticationDecidesReachability(t *testing.T) {
	t.Parallel()
	reviewsPorts := []corev1.ServicePort{tcpPort("http", 9080), tcpPort("http-admin", 9081)}
	reviewsPorts[1].TargetPort = intstr.FromInt32(19081)
	objs := []runtime.Object{meshNS("istio-system"), meshNS("bookinfo"), meshNS("legacy")}
	for _, app := range []string{"ratings", "details", "old", "productpage"} {
		objs = append(objs, servedService("bookinfo", app, tcpPort("http", 9080))...)
	}
	objs = append(objs, servedService("bookinfo", "reviews", reviewsPorts...)...)
	objs = append(objs, servedService("legacy", "api", tcpPort("http", 80))...)
	policies := []runtime.Object{
		peerAuth("istio-system", "default", 0, nil, "STRICT", nil),
		peerAuth("istio-system", "only-for-istio-system", 1, map[string]string{"app": "details"}, "DISABLE", nil),
		peerAuth("legacy", "plaintext", 2, nil, "DISABLE", nil),
		peerAuth("bookinfo", "ratings-plaintext", 3, map[string]string{"app": "ratings"}, "DISABLE", nil),
		peerAuth("bookinfo", "reviews-admin-plaintext", 4, map[string]string{"app": "reviews"}, "STRICT", map[string]string{"19081": "DISABLE"}),
		peerAuth("bookinfo", "details-inherits", 5, map[string]string{"app": "details"}, "", nil),
		peerAuth("bookinfo", "old-newer-strict", 7, map[string]string{"app": "old"}, "STRICT", nil),
		peerAuth("bookinfo", "old-older-disable", 6, map[string]string{"app": "old"}, "DISABLE", nil),
		peerAuth("bookinfo", "productpage-port-back-on", 8, map[string]string{"app": "productpage"}, "DISABLE", map[string]string{"9080": "PERMISSIVE"}),
	}
	c := startCatalog(t, nil, CatalogOptions{}, objs, policies, nil)
	got := byKey(c)

	for key, want := range map[string]string{
		"api.legacy":       `PeerAuthentication "legacy/plaintext" disables mTLS`,
		"ratings.bookinfo": `PeerAuthentication "bookinfo/ratings-plaintext" disables mTLS`,
		"old.bookinfo":     `PeerAuthentication "bookinfo/old-older-disable" disables mTLS`,
	} {
		s := got[key]
		if s.Reachable || !strings.Contains(s.Reason, want) || !strings.Contains(s.Reason, "passthrough") {
			t.Errorf("%s: reachable %v, reason %q; want unreachable: %s", key, s.Reachable, s.Reason, want)
		}
	}
	for _, key := range []string{"details.bookinfo", "productpage.bookinfo"} {
		if s := got[key]; !s.Reachable {
			t.Errorf("%s unreachable: %s", key, s.Reason)
		}
	}
	reviews := got["reviews.bookinfo"]
	if !reviews.Reachable || len(reviews.Ports) != 1 || reviews.Ports[0].Number != 9080 {
		t.Fatalf("reviews: reachable %v, ports %v; want only 9080", reviews.Reachable, reviews.Ports)
	}
	if !slices.ContainsFunc(reviews.Warnings, func(w string) bool {
		return strings.Contains(w, `port 9081 left out: PeerAuthentication "bookinfo/reviews-admin-plaintext" disables mTLS`)
	}) {
		t.Errorf("reviews warnings %q", reviews.Warnings)
	}
}

// A policy created or deleted while the catalogue runs changes the service at once.
func TestPeerAuthenticationLive(t *testing.T) {
	t.Parallel()
	objs := append([]runtime.Object{meshNS("bookinfo")}, servedService("bookinfo", "ratings", tcpPort("http", 9080))...)
	c := startCatalog(t, nil, CatalogOptions{}, objs, nil, nil)
	if s := byKey(c)["ratings.bookinfo"]; !s.Reachable {
		t.Fatalf("ratings unreachable before any policy: %s", s.Reason)
	}
	pa := peerAuth("bookinfo", "off", 0, nil, "DISABLE", nil)
	if _, err := c.dyn.Resource(paV1).Namespace("bookinfo").Create(t.Context(), pa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ratings unreachable after a namespace-wide DISABLE", func() bool { return !byKey(c)["ratings.bookinfo"].Reachable })
	if err := c.dyn.Resource(paV1).Namespace("bookinfo").Delete(t.Context(), "off", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ratings reachable after the policy is deleted", func() bool { return byKey(c)["ratings.bookinfo"].Reachable })
}

func TestPeerAuthenticationsForbidden(t *testing.T) {
	t.Parallel()
	objs := append([]runtime.Object{meshNS("bookinfo")}, servedService("bookinfo", "ratings", tcpPort("http", 9080))...)
	c := startCatalog(t, nil, CatalogOptions{}, objs, nil, func(_ *fake.Clientset, dyn *dynamicfake.FakeDynamicClient) {
		forbid(&dyn.Fake, "list", "peerauthentications")
	})
	w := c.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "kubectl auth can-i list peerauthentications.security.istio.io --all-namespaces") {
		t.Errorf("Warnings = %q, want the can-i line for peerauthentications", w)
	}
	if s := byKey(c)["ratings.bookinfo"]; !s.Reachable {
		t.Errorf("ratings unreachable: %s", s.Reason)
	}
}
