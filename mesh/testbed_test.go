package mesh

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshjoin/meshjoin/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

func clients(t *testing.T, tb *testbed.Testbed, user string) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	c, err := kubernetes.NewForConfig(tb.RESTConfig(user))
	if err != nil {
		t.Fatal(err)
	}
	d, err := dynamic.NewForConfig(tb.RESTConfig(user))
	if err != nil {
		t.Fatal(err)
	}
	return c, d
}

// Discovery against a real kube-apiserver, as the developer user of docs/rbac.yaml.
func TestDiscoveryAgainstTestbed(t *testing.T) {
	tb := testbed.Shared(t)
	client, dyn := clients(t, tb, testbed.DeveloperUser)
	ctx := context.Background()

	cfg, err := LoadConfig(ctx, client, ConfigOptions{RootsNamespace: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TrustDomain != tb.TrustDomain || string(cfg.RootsPEM) != string(tb.RootPEM) || cfg.Network != testbed.Network {
		t.Fatalf("config: td %q network %q roots match %v", cfg.TrustDomain, cfg.Network, string(cfg.RootsPEM) == string(tb.RootPEM))
	}
	gw, err := FindGateway(ctx, client, cfg.Network)
	if err != nil {
		t.Fatal(err)
	}
	if gw.Host != tb.GatewayIP || gw.Port != 15443 || gw.CAPort != 15012 {
		t.Fatalf("gateway %+v, want %s:15443 (CA 15012)", gw, tb.GatewayIP)
	}

	cat := NewCatalog(client, dyn, cfg, CatalogOptions{SyncTimeout: 30 * time.Second})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := cat.Start(cctx); err != nil {
		t.Fatal(err)
	}
	id := func(ns, sa string) string { return testbed.SPIFFEID(tb.TrustDomain, ns, sa) }
	for _, c := range []struct {
		name       string
		reachable  bool
		identities []string
		protocols  []Protocol
	}{
		{"ratings.bookinfo", true, []string{id("bookinfo", "bookinfo-ratings")}, []Protocol{ProtocolHTTP}},
		{"reviews.bookinfo", true, []string{id("bookinfo", "bookinfo-reviews"), id("bookinfo", "bookinfo-reviews-v2")}, []Protocol{ProtocolHTTP, ProtocolHTTP}},
		{"ledger.payments", true, []string{id("payments", "ledger")}, []Protocol{ProtocolGRPC}},
		{"db.payments", true, []string{id("payments", "db")}, []Protocol{ProtocolTCP}},
		{"inventory.mesh.internal", true, []string{id("payments", "inventory")}, []Protocol{ProtocolHTTP}},
		{"imposter.bookinfo", true, []string{id("bookinfo", "imposter")}, []Protocol{ProtocolHTTP}},
		{"legacy-api.legacy", false, nil, nil},
	} {
		s, err := cat.Lookup(c.name)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if s.Reachable != c.reachable {
			t.Errorf("%s reachable=%v (%s), want %v", c.name, s.Reachable, s.Reason, c.reachable)
		}
		if !c.reachable {
			continue
		}
		if !s.IdentitiesExact || !slices.Equal(s.Identities, c.identities) {
			t.Errorf("%s identities %v (exact %v), want %v", c.name, s.Identities, s.IdentitiesExact, c.identities)
		}
		var protos []Protocol
		for _, p := range s.Ports {
			protos = append(protos, p.Protocol)
		}
		if !slices.Equal(protos, c.protocols) {
			t.Errorf("%s protocols %v, want %v", c.name, protos, c.protocols)
		}
	}
	var unknown *ErrUnknownService
	if _, err := cat.Lookup("ratngs.bookinfo"); !errors.As(err, &unknown) || !slices.Contains(unknown.Suggestions, "ratings.bookinfo") {
		t.Fatalf("lookup typo: %v", err)
	}

	// The catalogue follows the cluster live.
	drain(cat.Changes())
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: "bookinfo"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}, Selector: map[string]string{"app": "late"}}}
	if _, err := tb.Admin().CoreV1().Services("bookinfo").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer tb.Admin().CoreV1().Services("bookinfo").Delete(ctx, "late", metav1.DeleteOptions{})
	deadline := time.After(20 * time.Second)
	for {
		if _, err := cat.Lookup("late.bookinfo"); err == nil {
			break
		}
		select {
		case <-cat.Changes():
		case <-deadline:
			t.Fatal("a new Service did not appear in the catalogue")
		}
	}

	// A PeerAuthentication that disables mTLS for ratings makes it unreachable at once (the
	// testbed's own policies, mesh-wide STRICT and productpage PERMISSIVE, keep the rest).
	if s, err := cat.Lookup("productpage.bookinfo"); err != nil || !s.Reachable {
		t.Errorf("productpage (PERMISSIVE): %+v, %v", s, err)
	}
	pa := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
		"metadata": map[string]any{"name": "ratings-plaintext", "namespace": "bookinfo"},
		"spec":     map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "ratings"}}, "mtls": map[string]any{"mode": "DISABLE"}},
	}}
	pas := tb.Dynamic().Resource(testbed.PeerAuthenticationGVR).Namespace("bookinfo")
	if _, err := pas.Create(ctx, pa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer pas.Delete(ctx, "ratings-plaintext", metav1.DeleteOptions{})
	waitForRatings := func(reachable bool) Service {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			if s, err := cat.Lookup("ratings.bookinfo"); err == nil && s.Reachable == reachable {
				return s
			}
			select {
			case <-cat.Changes():
			case <-deadline:
				t.Fatalf("ratings never became reachable=%v", reachable)
			}
		}
	}
	if s := waitForRatings(false); !strings.Contains(s.Reason, `PeerAuthentication "bookinfo/ratings-plaintext" disables mTLS`) {
		t.Errorf("reason %q", s.Reason)
	}
	if err := pas.Delete(ctx, "ratings-plaintext", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForRatings(true)

	// A VM: a ServiceEntry selecting a WorkloadEntry gets the VM's service account.
	wes := tb.Dynamic().Resource(testbed.WorkloadEntryGVR).Namespace("payments")
	ses := tb.Dynamic().Resource(testbed.ServiceEntryGVR).Namespace("payments")
	we := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
		"metadata": map[string]any{"name": "billing-vm-1", "namespace": "payments"},
		"spec":     map[string]any{"address": "10.9.0.1", "labels": map[string]any{"app": "billing-vm"}, "serviceAccount": "billing-vm"},
	}}
	se := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
		"metadata": map[string]any{"name": "billing", "namespace": "payments"},
		"spec": map[string]any{"hosts": []any{"billing.mesh.internal"}, "location": "MESH_INTERNAL", "resolution": "STATIC",
			"ports":            []any{map[string]any{"number": int64(8080), "name": "http", "protocol": "HTTP"}},
			"workloadSelector": map[string]any{"labels": map[string]any{"app": "billing-vm"}}},
	}}
	for _, o := range []struct {
		client dynamic.ResourceInterface
		obj    *unstructured.Unstructured
	}{{wes, we}, {ses, se}} {
		if _, err := o.client.Create(ctx, o.obj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer o.client.Delete(ctx, o.obj.GetName(), metav1.DeleteOptions{})
	}
	deadline = time.After(20 * time.Second)
	for {
		s, err := cat.Lookup("billing.mesh.internal")
		if err == nil && slices.Equal(s.Identities, []string{id("payments", "billing-vm")}) && s.IdentitiesExact && s.Reachable {
			break
		}
		select {
		case <-cat.Changes():
		case <-deadline:
			t.Fatalf("the ServiceEntry selecting a WorkloadEntry: %+v, %v", s, err)
		}
	}
}

// The user with no permissions gets a Forbidden naming the verb, resource and can-i line.
func TestDiscoveryForbiddenAgainstTestbed(t *testing.T) {
	tb := testbed.Shared(t)
	client, dyn := clients(t, tb, testbed.NoPermsUser)
	cat := NewCatalog(client, dyn, nil, CatalogOptions{SyncTimeout: 20 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := cat.Start(ctx)
	var forbidden *ErrForbidden
	if !errors.As(err, &forbidden) || forbidden.Verb != "list" || forbidden.CanI() == "" {
		t.Fatalf("no-permission user: %v", err)
	}
}
