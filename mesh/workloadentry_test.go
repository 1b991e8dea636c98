package mesh

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	dynamicfake "k8s.io/client-go/dynamic/fake"
)

func weObject(ns, name string, metaLabels, labels map[string]any, address, sa string) *unstructured.Unstructured {
	spec := map[string]any{"labels": labels}
	if address != "" {
		spec["address"] = address
	}
	if sa != "" {
		spec["serviceAccount"] = sa
	}
	meta := map[string]any{"namespace": ns, "name": name}
	if metaLabels != nil {
		meta["labels"] = metaLabels
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": workloadEntryVersions[0].GroupVersion().String(), "kind": "WorkloadEntry",
		"metadata": meta, "spec": spec,
	}}
}

// A ServiceEntry's workloadSelector picks pods and WorkloadEntries (VMs) alike: each adds
// its service account to the identities the local Envoy accepts, and an address to the
// endpoints.
func TestServiceEntrySelectsWorkloadEntries(t *testing.T) {
	t.Parallel()
	se := serviceEntry(seV1, "apps", "billing", map[string]any{
		"hosts": []any{"billing.apps.mesh"}, "location": "MESH_INTERNAL", "resolution": "STATIC",
		"ports":            []any{map[string]any{"number": int64(8080), "protocol": "HTTP", "name": "http"}},
		"workloadSelector": map[string]any{"labels": map[string]any{"app": "billing"}},
	})
	entries := []runtime.Object{se,
		weObject("apps", "vm-1", nil, map[string]any{"app": "billing"}, "10.3.0.1", "billing-vm"),
		weObject("apps", "vm-2", map[string]any{"app": "billing"}, nil, "10.3.0.2", "billing-vm-2"), // labels on the object
		weObject("apps", "vm-bad", nil, map[string]any{"app": "billing"}, "10.3.0.3", "bad sa"),
		weObject("apps", "other", nil, map[string]any{"app": "other"}, "10.3.0.4", "other"),
		weObject("ops", "elsewhere", nil, map[string]any{"app": "billing"}, "10.3.0.5", "elsewhere"),
	}
	billingPod := pod("apps", "billing-0", "billing", map[string]string{"app": "billing"})
	billingPod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.2.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	objs := []runtime.Object{meshNS("apps"), meshNS("ops"), billingPod}

	c := startCatalog(t, &Config{TrustDomain: "corp.example"}, CatalogOptions{}, objs, entries, nil)
	got := mustLookup(t, c.Catalog, "billing.apps.mesh")
	want := []string{"spiffe://corp.example/ns/apps/sa/billing", "spiffe://corp.example/ns/apps/sa/billing-vm", "spiffe://corp.example/ns/apps/sa/billing-vm-2"}
	if !slices.Equal(got.Identities, want) || !got.IdentitiesExact {
		t.Errorf("identities %v (exact %v), want %v exact", got.Identities, got.IdentitiesExact, want)
	}
	if got.Endpoints != 4 || !got.Reachable {
		t.Errorf("endpoints %d, reachable %v (%s); want 4 (a pod and three VMs)", got.Endpoints, got.Reachable, got.Reason)
	}
	if !slices.ContainsFunc(got.Warnings, func(w string) bool {
		return strings.Contains(w, `WorkloadEntry "vm-bad": service account "bad sa" ignored`)
	}) {
		t.Errorf("warnings %q", got.Warnings)
	}

	// WorkloadEntries that cannot be read: the identities are no longer known to be complete.
	c = startCatalog(t, &Config{TrustDomain: "corp.example"}, CatalogOptions{}, objs, entries, func(_ *fake.Clientset, dyn *dynamicfake.FakeDynamicClient) {
		forbid(&dyn.Fake, "list", "workloadentries")
	})
	if got := mustLookup(t, c.Catalog, "billing.apps.mesh"); got.IdentitiesExact {
		t.Errorf("identities %v exact although WorkloadEntries cannot be read", got.Identities)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "kubectl auth can-i list workloadentries.networking.istio.io --all-namespaces") {
		t.Errorf("warnings %q, want the can-i line for workloadentries", w)
	}
}

// PeerAuthentications apply to the workloads a ServiceEntry selects, VMs included.
func TestPeerAuthenticationOnServiceEntryWorkloads(t *testing.T) {
	t.Parallel()
	se := serviceEntry(seV1, "apps", "billing", map[string]any{
		"hosts": []any{"billing.apps.mesh"}, "location": "MESH_INTERNAL", "resolution": "STATIC",
		"ports": []any{
			map[string]any{"number": int64(8080), "protocol": "HTTP", "name": "http"},
			map[string]any{"number": int64(9090), "protocol": "HTTP", "name": "metrics", "targetPort": int64(19090)},
		},
		"workloadSelector": map[string]any{"labels": map[string]any{"app": "billing"}},
	})
	vm := weObject("apps", "vm-1", nil, map[string]any{"app": "billing", "kind": "vm"}, "10.3.0.1", "billing-vm")
	metricsOff := peerAuth("apps", "vm-metrics-plaintext", 0, map[string]string{"kind": "vm"}, "", map[string]string{"19090": "DISABLE"})
	c := startCatalog(t, nil, CatalogOptions{}, []runtime.Object{meshNS("apps")}, []runtime.Object{se, vm, metricsOff}, nil)
	got := mustLookup(t, c.Catalog, "billing.apps.mesh")
	if !got.Reachable || len(got.Ports) != 1 || got.Ports[0].Number != 8080 {
		t.Fatalf("reachable %v (%s), ports %v; want 8080 only", got.Reachable, got.Reason, got.Ports)
	}

	allOff := peerAuth("apps", "vm-plaintext", 1, map[string]string{"kind": "vm"}, "DISABLE", nil)
	c = startCatalog(t, nil, CatalogOptions{}, []runtime.Object{meshNS("apps")}, []runtime.Object{se, vm, allOff}, nil)
	if got := mustLookup(t, c.Catalog, "billing.apps.mesh"); got.Reachable || !strings.Contains(got.Reason, `"apps/vm-plaintext" disables mTLS`) {
		t.Errorf("reachable %v, reason %q; want unreachable by apps/vm-plaintext", got.Reachable, got.Reason)
	}
}
