// Over 500 lines: the catalogue rules, one table case each, against fake and live kube-apiservers.

package mesh

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var tdConfig = &Config{TrustDomain: "corp.example", Aliases: []string{"old.example"}}

func TestCatalogIdentities(t *testing.T) {
	t.Parallel()
	app := map[string]string{"app": "ratings"}
	withLabels := func(p *corev1.Pod, kv ...string) *corev1.Pod {
		for i := 0; i < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
		return p
	}
	done := pod("bookinfo", "ratings-old", "retired", map[string]string{"app": "ratings"})
	done.Status.Phase = corev1.PodSucceeded
	annotated := service("bookinfo", "ratings", app, tcpPort("http", 9080))
	annotated.Annotations = map[string]string{
		annotationKubeSAs:  "extra, bad name ,extra",
		annotationCanonSAs: "spiffe://other.example/ns/x/sa/y,not-a-spiffe-id, spiffe://bad domain/x",
	}
	manual := service("bookinfo", "legacy", nil, tcpPort("tcp", 7000)) // no selector: hand-made EndpointSlice

	c := startCatalog(t, tdConfig, CatalogOptions{}, []runtime.Object{
		meshNS("bookinfo"),
		annotated,
		withLabels(pod("bookinfo", "ratings-1", "ratings", map[string]string{"app": "ratings"}), "version", "v1"),
		pod("bookinfo", "ratings-2", "ratings-v2", map[string]string{"app": "ratings"}),
		pod("bookinfo", "ratings-3", "", map[string]string{"app": "ratings"}), // default service account
		done,
		pod("bookinfo", "reviews-1", "reviews", map[string]string{"app": "reviews"}),
		pod("other", "ratings-x", "intruder", map[string]string{"app": "ratings"}), // other namespace
		slice("bookinfo", "ratings", "ratings-abc", ep{addr: "10.0.0.1", podName: "ratings-1"}),
		manual,
		pod("bookinfo", "legacy-1", "legacy", map[string]string{"app": "legacy"}),
		slice("bookinfo", "legacy", "legacy-abc", ep{addr: "10.0.0.9", podName: "legacy-1"}),
	}, nil, nil)

	got := mustLookup(t, c.Catalog, "ratings.bookinfo")
	want := []string{
		"spiffe://corp.example/ns/bookinfo/sa/default",
		"spiffe://old.example/ns/bookinfo/sa/default",
		"spiffe://corp.example/ns/bookinfo/sa/extra",
		"spiffe://old.example/ns/bookinfo/sa/extra",
		"spiffe://corp.example/ns/bookinfo/sa/ratings",
		"spiffe://old.example/ns/bookinfo/sa/ratings",
		"spiffe://corp.example/ns/bookinfo/sa/ratings-v2",
		"spiffe://old.example/ns/bookinfo/sa/ratings-v2",
		"spiffe://other.example/ns/x/sa/y",
	}
	if !slices.Equal(got.Identities, want) {
		t.Errorf("Identities =\n %s\nwant\n %s", strings.Join(got.Identities, "\n "), strings.Join(want, "\n "))
	}
	if !got.IdentitiesExact {
		t.Error("IdentitiesExact = false, want true")
	}
	wantWarnings := []string{
		`annotation alpha.istio.io/kubernetes-serviceaccounts: service account "bad name" ignored: not a valid service account name`,
		`annotation alpha.istio.io/canonical-serviceaccounts: "not-a-spiffe-id" ignored: not a SPIFFE ID (spiffe://trust-domain/path)`,
		`annotation alpha.istio.io/canonical-serviceaccounts: "spiffe://bad domain/x" ignored: contains spaces, control or non-ASCII characters`,
	}
	if !slices.Equal(got.Warnings, wantWarnings) {
		t.Errorf("Warnings =\n %s\nwant\n %s", strings.Join(got.Warnings, "\n "), strings.Join(wantWarnings, "\n "))
	}

	legacy := mustLookup(t, c.Catalog, "legacy.bookinfo")
	if want := []string{"spiffe://corp.example/ns/bookinfo/sa/legacy", "spiffe://old.example/ns/bookinfo/sa/legacy"}; !slices.Equal(legacy.Identities, want) || !legacy.IdentitiesExact {
		t.Errorf("identities from EndpointSlice targetRefs = %v (exact %v), want %v", legacy.Identities, legacy.IdentitiesExact, want)
	}
}

func TestCatalogServiceShape(t *testing.T) {
	t.Parallel()
	svc := service("bookinfo", "productpage", map[string]string{"app": "pp"},
		tcpPort("http", 9080), tcpPort("grpc-api", 9090), tcpPort("", 5432),
		corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
		corev1.ServicePort{Name: "web", Port: 8080, AppProtocol: ptr("http2")},
	)
	c := startCatalog(t, nil, CatalogOptions{ClusterDomain: "corp.local"}, []runtime.Object{meshNS("bookinfo"), svc}, nil, nil)
	got := mustLookup(t, c.Catalog, "productpage.bookinfo.svc.corp.local")
	if want := []string{"productpage.bookinfo.svc.corp.local"}; !slices.Equal(got.Hosts, want) {
		t.Errorf("Hosts = %v, want %v", got.Hosts, want)
	}
	wantPorts := []Port{{"http", 9080, ProtocolHTTP}, {"grpc-api", 9090, ProtocolGRPC}, {"", 5432, ProtocolTCP}, {"web", 8080, ProtocolHTTP2}}
	if !slices.Equal(got.Ports, wantPorts) {
		t.Errorf("Ports = %v, want %v (UDP left out)", got.Ports, wantPorts)
	}
	if got.Kind != KindService || got.Key() != "productpage.bookinfo" {
		t.Errorf("Kind, Key = %s, %s", got.Kind, got.Key())
	}
	// No pods and no annotations: nothing exact to check against.
	if got.IdentitiesExact || len(got.Identities) != 0 {
		t.Errorf("Identities = %v (exact %v), want none and not exact", got.Identities, got.IdentitiesExact)
	}
}

func TestCatalogEndpoints(t *testing.T) {
	t.Parallel()
	dual := slice("ns", "web", "web-v6", ep{addr: "fd00::1", podName: "web-1"}, ep{addr: "fd00::2", podName: "web-2"})
	dual.AddressType = "IPv6"
	c := startCatalog(t, nil, CatalogOptions{}, []runtime.Object{
		meshNS("ns"),
		service("ns", "web", nil, tcpPort("http", 80)),
		slice("ns", "web", "web-v4",
			ep{addr: "10.0.0.1", podName: "web-1"},                     // readiness unknown: ready
			ep{addr: "10.0.0.2", podName: "web-2", ready: ptr(true)},   // ready
			ep{addr: "10.0.0.3", podName: "web-3", ready: ptr(false)}), // not ready
		dual, // the same pods again
		slice("ns", "web", "web-manual", ep{addr: "10.0.0.50"}, ep{addr: "10.0.0.50"}),
		slice("ns", "other", "other-1", ep{addr: "10.0.0.99"}), // another service's
	}, nil, nil)
	if got := mustLookup(t, c.Catalog, "web.ns").Endpoints; got != 3 {
		t.Errorf("Endpoints = %d, want 3 (web-1, web-2, 10.0.0.50)", got)
	}
}

func TestCatalogReachability(t *testing.T) {
	t.Parallel()
	sel := map[string]string{"app": "x"}
	ready := func(ns string) runtime.Object { return slice(ns, "x", "x-1", ep{addr: "10.0.0.1", podName: "x-1"}) }
	injectedPod := func(ns string) *corev1.Pod {
		p := pod(ns, "x-1", "x", map[string]string{"app": "x", labelTLSMode: "istio"})
		return p
	}
	optedOut := func(ns string) *corev1.Pod {
		p := pod(ns, "x-1", "x", map[string]string{"app": "x"})
		p.Annotations = map[string]string{annotationInject: "false"}
		return p
	}
	exported := func(to string) *corev1.Service {
		s := service("ns", "x", sel, tcpPort("http", 80))
		s.Annotations = map[string]string{annotationExportTo: to}
		return s
	}
	for _, tc := range []struct {
		name   string
		objs   []runtime.Object
		reason string // "" means reachable
	}{
		{"mesh namespace", []runtime.Object{meshNS("ns"), service("ns", "x", sel, tcpPort("http", 80)), ready("ns")}, ""},
		{"revision label", []runtime.Object{namespace("ns", map[string]string{labelRevision: "canary"}), service("ns", "x", sel, tcpPort("http", 80)), ready("ns")}, ""},
		{"injection disabled wins over revision", []runtime.Object{namespace("ns", map[string]string{labelInjection: "disabled", labelRevision: "canary"}), service("ns", "x", sel, tcpPort("http", 80)), ready("ns")},
			"namespace ns has no sidecar injection"},
		{"plain namespace", []runtime.Object{namespace("ns", nil), service("ns", "x", sel, tcpPort("http", 80)), ready("ns")},
			"namespace ns has no sidecar injection (label istio-injection=enabled or istio.io/rev)"},
		{"ambient namespace", []runtime.Object{namespace("ns", map[string]string{labelDataplaneMode: "ambient"}), service("ns", "x", sel, tcpPort("http", 80)), ready("ns")},
			"namespace ns is ambient"},
		{"namespace not visible yet", []runtime.Object{service("ns", "x", sel, tcpPort("http", 80)), ready("ns")}, "namespace ns has no sidecar injection"},
		{"pods injected one by one", []runtime.Object{namespace("ns", nil), service("ns", "x", sel, tcpPort("http", 80)), ready("ns"), injectedPod("ns")}, ""},
		{"pods opt out", []runtime.Object{meshNS("ns"), service("ns", "x", sel, tcpPort("http", 80)), ready("ns"), optedOut("ns")},
			"its pods opt out of sidecar injection"},
		{"no endpoints", []runtime.Object{meshNS("ns"), service("ns", "x", sel, tcpPort("http", 80))}, "no ready endpoints"},
		{"endpoints not ready", []runtime.Object{meshNS("ns"), service("ns", "x", sel, tcpPort("http", 80)), slice("ns", "x", "x-1", ep{addr: "10.0.0.1", ready: ptr(false)})}, "no ready endpoints"},
		{"headless with ports", []runtime.Object{meshNS("ns"), func() runtime.Object {
			s := service("ns", "x", sel, tcpPort("tcp", 5432))
			s.Spec.ClusterIP = corev1.ClusterIPNone
			return s
		}(), ready("ns")}, ""},
		{"headless without ports", []runtime.Object{meshNS("ns"), func() runtime.Object {
			s := service("ns", "x", sel)
			s.Spec.ClusterIP = corev1.ClusterIPNone
			return s
		}(), ready("ns")}, "no ports"},
		{"udp only", []runtime.Object{meshNS("ns"), service("ns", "x", sel, corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}), ready("ns")}, "only UDP/SCTP ports"},
		{"external name", []runtime.Object{meshNS("ns"), func() runtime.Object {
			s := service("ns", "x", nil, tcpPort("http", 80))
			s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.com"
			return s
		}()}, "ExternalName service"},
		{"exported to own namespace only", []runtime.Object{meshNS("ns"), exported("."), ready("ns")}, `exported only to "."`},
		{"exported to nowhere", []runtime.Object{meshNS("ns"), exported("~"), ready("ns")}, "not visible to the east-west gateway in istio-system"},
		{"exported to the gateway", []runtime.Object{meshNS("ns"), exported("other, istio-system"), ready("ns")}, ""},
		{"exported everywhere", []runtime.Object{meshNS("ns"), exported("*"), ready("ns")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startCatalog(t, nil, CatalogOptions{}, tc.objs, nil, nil)
			got := mustLookup(t, c.Catalog, "x.ns")
			if tc.reason == "" {
				if !got.Reachable || got.Reason != "" {
					t.Errorf("Reachable, Reason = %v, %q; want reachable", got.Reachable, got.Reason)
				}
				return
			}
			if got.Reachable || !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("Reachable, Reason = %v, %q; want unreachable because %q", got.Reachable, got.Reason, tc.reason)
			}
		})
	}
}

func TestCatalogServiceEntries(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 250) + ".com"
	hostile := serviceEntry(seV1, "apps", "legacy-vms", map[string]any{
		"hosts": []any{
			"vm.corp.internal",
			"evil.com\n10.0.0.1 bank.example.com",
			"with space.example.com",
			"hash#tag.example.com",
			long,
			"*.wild.example.com",
			"Upper.Example.com",
			"vm.corp.internal", // duplicate
		},
		"location":   "MESH_INTERNAL",
		"resolution": "STATIC",
		"ports": []any{
			map[string]any{"number": int64(8080), "protocol": "HTTP", "name": "http"},
			map[string]any{"number": int64(9000), "protocol": "GRPC", "name": "bad\nname"},
			map[string]any{"number": int64(70000), "protocol": "TCP", "name": "huge"},
			map[string]any{"number": int64(5432), "name": "db"}, // no protocol: not the name, TCP
		},
		"endpoints": []any{
			map[string]any{"address": "10.1.0.1", "serviceAccount": "vm-sa"},
			map[string]any{"address": "10.1.0.2", "serviceAccount": "bad sa"},
		},
		"subjectAltNames": []any{"spiffe://corp.example/ns/apps/sa/extra", "vm.corp.internal"},
	})
	external := serviceEntry(seV1, "apps", "google", map[string]any{
		"hosts": []any{"www.google.com"}, "ports": []any{map[string]any{"number": int64(443), "protocol": "TLS", "name": "tls"}},
		"resolution": "DNS",
	})
	selector := serviceEntry(seV1, "apps", "workloads", map[string]any{
		"hosts": []any{"workloads.apps.mesh"}, "location": "MESH_INTERNAL", "resolution": "STATIC",
		"ports":            []any{map[string]any{"number": int64(80), "protocol": "HTTP2", "name": "h2"}},
		"workloadSelector": map[string]any{"labels": map[string]any{"app": "wl"}},
	})
	dns := serviceEntry(seV1, "apps", "dns", map[string]any{
		"hosts": []any{"db.corp.internal"}, "location": "MESH_INTERNAL", "resolution": "DNS",
		"ports": []any{map[string]any{"number": int64(5432), "protocol": "TCP", "name": "db"}},
	})
	noneRes := serviceEntry(seV1, "apps", "passthrough", map[string]any{
		"hosts": []any{"p.corp.internal"}, "location": "MESH_INTERNAL",
		"ports": []any{map[string]any{"number": int64(80), "protocol": "HTTP", "name": "http"}},
	})
	malformed := serviceEntry(seV1, "apps", "broken", map[string]any{"hosts": int64(42)})
	badName := serviceEntry(seV1, "apps", "bad\nname", map[string]any{"hosts": []any{"ok.example.com"}, "location": "MESH_INTERNAL"})
	wlReady := pod("apps", "wl-1", "wl", map[string]string{"app": "wl"})
	wlReady.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.2.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}

	c := startCatalog(t, &Config{TrustDomain: "corp.example"}, CatalogOptions{},
		[]runtime.Object{namespace("apps", nil), wlReady, pod("apps", "wl-2", "wl-pending", map[string]string{"app": "wl"})},
		[]runtime.Object{hostile, external, selector, dns, noneRes, malformed, badName}, nil)

	got := mustLookup(t, c.Catalog, "vm.corp.internal")
	if got.Kind != KindServiceEntry || got.Key() != "legacy-vms.apps" {
		t.Fatalf("Lookup(vm.corp.internal) = %s %s", got.Kind, got.Key())
	}
	if want := []string{"vm.corp.internal", "Upper.Example.com"}; !slices.Equal(got.Hosts, want) {
		t.Errorf("Hosts = %q, want %q", got.Hosts, want)
	}
	for _, h := range got.Hosts {
		if strings.ContainsAny(h, "\n #") || len(h) > 253 {
			t.Errorf("hostile host %q kept", h)
		}
	}
	wantPorts := []Port{{"http", 8080, ProtocolHTTP}, {"", 9000, ProtocolGRPC}, {"db", 5432, ProtocolTCP}}
	if !slices.Equal(got.Ports, wantPorts) {
		t.Errorf("Ports = %v, want %v", got.Ports, wantPorts)
	}
	if want := []string{"spiffe://corp.example/ns/apps/sa/extra", "spiffe://corp.example/ns/apps/sa/vm-sa"}; !slices.Equal(got.Identities, want) || !got.IdentitiesExact {
		t.Errorf("Identities = %v (exact %v), want %v exact", got.Identities, got.IdentitiesExact, want)
	}
	if !got.Reachable || got.Endpoints != 2 {
		t.Errorf("Reachable, Endpoints, Reason = %v, %d, %q; want reachable with 2", got.Reachable, got.Endpoints, got.Reason)
	}
	for _, w := range []string{
		`host "evil.com\n10.0.0.1 bank.example.com" dropped: not a valid DNS name`,
		`host "with space.example.com" dropped`,
		`host "hash#tag.example.com" dropped`,
		"dropped: longer than 253 characters",
		`host "*.wild.example.com" dropped: wildcard hosts cannot be joined`,
		`port 9000: name "bad\nname" dropped`,
		"port 70000 dropped",
		`service account "bad sa" ignored`,
		`subjectAltName "vm.corp.internal" ignored: not a SPIFFE ID`,
	} {
		if !slices.ContainsFunc(got.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("no warning containing %q in\n %s", w, strings.Join(got.Warnings, "\n "))
		}
	}
	for _, w := range got.Warnings {
		if strings.ContainsAny(w, "\n") || len(w) > 200 {
			t.Errorf("warning not fit for one line of a TUI: %q", w)
		}
	}

	if g := mustLookup(t, c.Catalog, "www.google.com"); g.Reachable || !strings.Contains(g.Reason, "MESH_EXTERNAL") {
		t.Errorf("MESH_EXTERNAL entry: Reachable, Reason = %v, %q", g.Reachable, g.Reason)
	}
	wl := mustLookup(t, c.Catalog, "workloads.apps")
	if want := []string{"spiffe://corp.example/ns/apps/sa/wl", "spiffe://corp.example/ns/apps/sa/wl-pending"}; !slices.Equal(wl.Identities, want) || !wl.IdentitiesExact {
		t.Errorf("selector entry Identities = %v (exact %v), want %v", wl.Identities, wl.IdentitiesExact, want)
	}
	if !wl.Reachable || wl.Endpoints != 1 || wl.Ports[0].Protocol != ProtocolHTTP2 {
		t.Errorf("selector entry: Reachable %v, Endpoints %d, Ports %v, Reason %q", wl.Reachable, wl.Endpoints, wl.Ports, wl.Reason)
	}
	d := mustLookup(t, c.Catalog, "db.corp.internal")
	if !d.Reachable || d.Endpoints != 1 || d.IdentitiesExact || len(d.Warnings) != 1 {
		t.Errorf("DNS entry: Reachable %v, Endpoints %d, exact %v, Warnings %q", d.Reachable, d.Endpoints, d.IdentitiesExact, d.Warnings)
	}
	if p := mustLookup(t, c.Catalog, "passthrough.apps"); p.Reachable || !strings.Contains(p.Reason, "resolution NONE") {
		t.Errorf("resolution NONE: Reachable, Reason = %v, %q", p.Reachable, p.Reason)
	}
	if b := mustLookup(t, c.Catalog, "broken.apps"); b.Reachable || b.Reason != "malformed ServiceEntry" || len(b.Hosts) != 0 {
		t.Errorf("malformed entry = %+v", b)
	}
	for _, s := range c.Services() {
		if strings.Contains(s.Name, "\n") || slices.Contains(s.Hosts, "ok.example.com") {
			t.Errorf("entry with a hostile name kept: %+v", s)
		}
	}
	if w := c.Warnings(); !slices.Equal(w, []string{`ServiceEntry "bad\nname" in namespace "apps" ignored: not a valid name`}) {
		t.Errorf("catalogue Warnings = %q", w)
	}
}

func TestCatalogServiceEntryVersions(t *testing.T) {
	t.Parallel()
	spec := map[string]any{"hosts": []any{"vm.internal"}, "location": "MESH_INTERNAL", "resolution": "STATIC",
		"ports": []any{map[string]any{"number": int64(80), "protocol": "HTTP", "name": "http"}}}
	for _, tc := range []struct {
		name      string
		notServed []string
		stored    schema.GroupVersionResource
		want      schema.GroupVersionResource // zero: no ServiceEntries
	}{
		{"v1", nil, seV1, seV1},
		{"v1beta1 when v1 is not served", []string{"v1"}, seV1beta1, seV1beta1},
		{"v1alpha3 on an old Istio", []string{"v1", "v1beta1"}, seV1alpha3, seV1alpha3},
		{"no CRD", []string{"v1", "v1beta1", "v1alpha3"}, seV1, schema.GroupVersionResource{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startCatalog(t, nil, CatalogOptions{}, []runtime.Object{namespace("apps", nil)},
				[]runtime.Object{serviceEntry(tc.stored, "apps", "vm", spec)},
				func(_ *fake.Clientset, dyn *dynamicfake.FakeDynamicClient) { notServed(&dyn.Fake, tc.notServed...) })
			if c.entriesGVR != tc.want {
				t.Errorf("ServiceEntry version = %v, want %v", c.entriesGVR, tc.want)
			}
			_, err := c.Lookup("vm.internal")
			if tc.want.Empty() {
				var unknown *ErrUnknownService
				if !errors.As(err, &unknown) {
					t.Errorf("Lookup without the CRD: %v, want *ErrUnknownService", err)
				}
			} else if err != nil {
				t.Errorf("Lookup: %v", err)
			}
			if w := c.Warnings(); len(w) != 0 {
				t.Errorf("Warnings = %q, want none", w)
			}
		})
	}
}

func TestCatalogWithoutDynamicClient(t *testing.T) {
	t.Parallel()
	c := NewCatalog(fake.NewClientset(meshNS("a"), service("a", "b", nil, tcpPort("http", 80))), nil, nil, CatalogOptions{})
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := c.Services(); len(got) != 1 || got[0].Key() != "b.a" {
		t.Errorf("Services = %v", got)
	}
	if err := c.Start(t.Context()); err == nil {
		t.Error("second Start succeeded")
	}
}

func TestCatalogForbiddenServiceEntries(t *testing.T) {
	t.Parallel()
	c := startCatalog(t, nil, CatalogOptions{}, nil, nil, func(_ *fake.Clientset, dyn *dynamicfake.FakeDynamicClient) {
		forbid(&dyn.Fake, "list", "serviceentries")
	})
	w := c.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "kubectl auth can-i list serviceentries.networking.istio.io --all-namespaces") {
		t.Errorf("Warnings = %q, want the can-i line for serviceentries", w)
	}
}

func TestCatalogPodsForbidden(t *testing.T) {
	t.Parallel()
	svc := service("bookinfo", "ratings", map[string]string{"app": "ratings"}, tcpPort("http", 9080))
	svc.Annotations = map[string]string{annotationKubeSAs: "ratings"}
	c := startCatalog(t, nil, CatalogOptions{}, []runtime.Object{
		meshNS("bookinfo"), svc,
		pod("bookinfo", "ratings-1", "ratings-runtime", map[string]string{"app": "ratings"}),
		slice("bookinfo", "ratings", "r-1", ep{addr: "10.0.0.1", podName: "ratings-1"}),
	}, nil, func(client *fake.Clientset, _ *dynamicfake.FakeDynamicClient) {
		forbid(&client.Fake, "list", "pods")
	})
	got := mustLookup(t, c.Catalog, "ratings.bookinfo")
	if got.IdentitiesExact {
		t.Error("IdentitiesExact = true without pods")
	}
	if want := []string{"spiffe://cluster.local/ns/bookinfo/sa/ratings"}; !slices.Equal(got.Identities, want) {
		t.Errorf("Identities = %v, want the annotation's only %v", got.Identities, want)
	}
	if !got.Reachable {
		t.Errorf("not reachable without pods: %s", got.Reason)
	}
	w := c.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "kubectl auth can-i list pods --all-namespaces") || !strings.Contains(w[0], "spiffe://cluster.local/") {
		t.Errorf("Warnings = %q", w)
	}
}

func TestCatalogRequiredForbidden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		resource string
		canI     string
	}{
		{"services", "kubectl auth can-i list services --all-namespaces"},
		{"namespaces", "kubectl auth can-i list namespaces"},
		{"endpointslices", "kubectl auth can-i list endpointslices.discovery.k8s.io --all-namespaces"},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			t.Parallel()
			client := fake.NewClientset()
			forbid(&client.Fake, "list", tc.resource)
			err := NewCatalog(client, newDynamic(), nil, CatalogOptions{}).Start(t.Context())
			var fe *ErrForbidden
			if !errors.As(err, &fe) {
				t.Fatalf("Start error = %v, want *ErrForbidden", err)
			}
			if fe.Verb != "list" || fe.CanI() != tc.canI || !strings.Contains(err.Error(), tc.canI) {
				t.Errorf("error %q (CanI %q), want %q", err, fe.CanI(), tc.canI)
			}
		})
	}
}

// TestCatalogForbiddenAfterProbe: the permission check passes but the informer's own list is
// denied (RBAC changed in between): Start must not sit out its timeout.
func TestCatalogForbiddenAfterProbe(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset()
	client.PrependReactor("list", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.ListActionImpl).ListOptions.Limit == 1 {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "", nil)
	})
	begin := time.Now()
	err := NewCatalog(client, nil, nil, CatalogOptions{SyncTimeout: time.Minute}).Start(t.Context())
	var fe *ErrForbidden
	if !errors.As(err, &fe) || fe.Resource != "services" {
		t.Fatalf("Start error = %v, want *ErrForbidden on services", err)
	}
	if d := time.Since(begin); d > 30*time.Second {
		t.Errorf("Start took %v: it waited for the timeout", d)
	}
}

func TestCatalogSyncTimeout(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset()
	client.PrependReactor("list", "endpointslices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.ListActionImpl).ListOptions.Limit == 1 {
			return false, nil, nil
		}
		return true, nil, errors.New("connection reset by peer")
	})
	err := NewCatalog(client, nil, nil, CatalogOptions{SyncTimeout: 300 * time.Millisecond}).Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "did not sync") || !strings.Contains(err.Error(), "connection reset by peer") {
		t.Fatalf("Start error = %v, want a sync timeout naming the last error", err)
	}
}

// TestCatalogChanges follows a service through its life: each change signals Changes and is
// visible in the next Services or Lookup.
func TestCatalogChanges(t *testing.T) {
	t.Parallel()
	c := startCatalog(t, nil, CatalogOptions{}, []runtime.Object{namespace("shop", nil)},
		[]runtime.Object{}, nil)
	ctx := context.Background()
	core := c.client.CoreV1()

	step := func(what string, change func() error, check func() bool) {
		t.Helper()
		drain(c.Changes())
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		select {
		case <-c.Changes():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Changes not signalled", what)
		}
		eventually(t, what, check)
	}
	lookup := func() Service {
		s, _ := c.Lookup("cart.shop")
		return s
	}

	step("add service", func() error {
		_, err := core.Services("shop").Create(ctx, service("shop", "cart", map[string]string{"app": "cart"}, tcpPort("http", 80)), metav1.CreateOptions{})
		return err
	}, func() bool { return len(c.Services()) == 1 && lookup().Name == "cart" })

	step("add endpoints", func() error {
		_, err := c.client.DiscoveryV1().EndpointSlices("shop").Create(ctx, slice("shop", "cart", "cart-1", ep{addr: "10.0.0.1", podName: "cart-1"}), metav1.CreateOptions{})
		return err
	}, func() bool { return lookup().Endpoints == 1 })

	step("add pod", func() error {
		_, err := core.Pods("shop").Create(ctx, pod("shop", "cart-1", "cart", map[string]string{"app": "cart"}), metav1.CreateOptions{})
		return err
	}, func() bool {
		return slices.Equal(lookup().Identities, []string{"spiffe://cluster.local/ns/shop/sa/cart"})
	})

	if s := lookup(); s.Reachable {
		t.Fatalf("reachable before the namespace joins the mesh")
	}
	step("label namespace", func() error {
		_, err := core.Namespaces().Update(ctx, meshNS("shop"), metav1.UpdateOptions{})
		return err
	}, func() bool { return lookup().Reachable })

	step("relabel pod", func() error {
		_, err := core.Pods("shop").Update(ctx, pod("shop", "cart-1", "cart", map[string]string{"app": "other"}), metav1.UpdateOptions{})
		return err
	}, func() bool {
		// Still named by the EndpointSlice, so still an identity.
		return slices.Equal(lookup().Identities, []string{"spiffe://cluster.local/ns/shop/sa/cart"})
	})

	step("delete pod", func() error {
		return core.Pods("shop").Delete(ctx, "cart-1", metav1.DeleteOptions{})
	}, func() bool { return len(lookup().Identities) == 0 && !lookup().IdentitiesExact })

	step("add ServiceEntry", func() error {
		_, err := c.dyn.Resource(seV1).Namespace("shop").Create(ctx, serviceEntry(seV1, "shop", "vm", map[string]any{"hosts": []any{"vm.shop.internal"}}), metav1.CreateOptions{})
		return err
	}, func() bool { return len(c.Services()) == 2 })

	step("delete service", func() error {
		return core.Services("shop").Delete(ctx, "cart", metav1.DeleteOptions{})
	}, func() bool {
		_, err := c.Lookup("cart.shop")
		var unknown *ErrUnknownService
		return errors.As(err, &unknown) && len(c.Services()) == 1
	})

	step("delete ServiceEntry", func() error {
		return c.dyn.Resource(seV1).Namespace("shop").Delete(ctx, "vm", metav1.DeleteOptions{})
	}, func() bool { return len(c.Services()) == 0 })
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestCatalogServicesSorted(t *testing.T) {
	t.Parallel()
	var objs []runtime.Object
	var want []string
	// Enough to take the bulk path at start, then a few changes through the in-place path.
	for _, ns := range []string{"b", "a", "c"} {
		objs = append(objs, namespace(ns, nil))
		for i := 30; i > 0; i-- {
			objs = append(objs, service(ns, fmt.Sprintf("svc-%02d", i), nil, tcpPort("http", 80)))
		}
	}
	c := startCatalog(t, nil, CatalogOptions{}, objs, []runtime.Object{serviceEntry(seV1, "b", "svc-05", map[string]any{})}, nil)
	ctx := context.Background()
	if _, err := c.client.CoreV1().Services("a").Create(ctx, service("a", "svc-00", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.client.CoreV1().Services("c").Delete(ctx, "svc-30", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"a", "b", "c"} {
		for i := 0; i <= 30; i++ {
			if ns != "a" && i == 0 || ns == "c" && i == 30 {
				continue
			}
			want = append(want, fmt.Sprintf("%s/svc-%02d/Service", ns, i))
			if ns == "b" && i == 5 {
				want = append(want, "b/svc-05/ServiceEntry")
			}
		}
	}
	eventually(t, "both changes", func() bool { return len(c.Services()) == len(want) && c.Services()[0].Name == "svc-00" })
	var got []string
	for _, s := range c.Services() {
		got = append(got, s.Namespace+"/"+s.Name+"/"+string(s.Kind))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Services order =\n %v\nwant\n %v", got, want)
	}
}
