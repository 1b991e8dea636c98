package mesh

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// Builders of cluster objects, small enough to read in a test table.

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// meshNS is a namespace with sidecar injection.
func meshNS(name string) *corev1.Namespace {
	return namespace(name, map[string]string{labelInjection: "enabled"})
}

func tcpPort(name string, port int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, Protocol: corev1.ProtocolTCP}
}

func service(ns, name string, selector map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Selector: selector, Ports: ports, Type: corev1.ServiceTypeClusterIP},
	}
}

func pod(ns, name, sa string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{ServiceAccountName: sa},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
}

// ep is one endpoint: a pod (targetRef) when podName is set, and its readiness (nil: unknown,
// which counts as ready).
type ep struct {
	addr    string
	podName string
	ready   *bool
}

func ptr[T any](v T) *T { return &v }

func slice(ns, svc, name string, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, e := range eps {
		out := discoveryv1.Endpoint{Addresses: []string{e.addr}, Conditions: discoveryv1.EndpointConditions{Ready: e.ready}}
		if e.podName != "" {
			out.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: e.podName}
		}
		s.Endpoints = append(s.Endpoints, out)
	}
	return s
}

func configMap(ns, name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

var (
	seV1       = serviceEntryVersions[0]
	seV1beta1  = serviceEntryVersions[1]
	seV1alpha3 = serviceEntryVersions[2]
)

// serviceEntry is an unstructured ServiceEntry of the given version with a spec written as
// plain data (as a hostile cluster could write it).
func serviceEntry(gvr schema.GroupVersionResource, ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(),
		"kind":       "ServiceEntry",
		"metadata":   map[string]any{"namespace": ns, "name": name},
		"spec":       spec,
	}}
}

func newDynamic(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	listKinds := map[schema.GroupVersionResource]string{}
	for _, gvr := range serviceEntryVersions {
		listKinds[gvr] = "ServiceEntryList"
	}
	for _, gvr := range peerAuthenticationVersions {
		listKinds[gvr] = "PeerAuthenticationList"
	}
	for _, gvr := range workloadEntryVersions {
		listKinds[gvr] = "WorkloadEntryList"
	}
	for _, gvr := range gatewayVersions {
		listKinds[gvr] = "GatewayList"
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, objs...)
}

// forbid makes every list (and watch) of resource fail as RBAC would.
func forbid(f *k8stesting.Fake, verb, resource string) {
	f.PrependReactor(verb, resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: a.GetResource().Group, Resource: resource}, "", nil)
	})
}

// notServed makes a ServiceEntry version answer 404, as the API server does for a version or
// CRD it does not serve.
func notServed(f *k8stesting.Fake, versions ...string) {
	f.PrependReactor("list", "serviceentries", func(a k8stesting.Action) (bool, runtime.Object, error) {
		for _, v := range versions {
			if a.GetResource().Version == v {
				return true, nil, apierrors.NewNotFound(a.GetResource().GroupResource(), "")
			}
		}
		return false, nil, nil
	})
}

type testCatalog struct {
	*Catalog
	client *fake.Clientset
	dyn    *dynamicfake.FakeDynamicClient
}

// startCatalog starts a catalogue over a fake clientset holding objs (and a fake dynamic
// client holding entries, nil for none), and waits until its watches are open, so that
// later changes reach it.
func startCatalog(t testing.TB, cfg *Config, opts CatalogOptions, objs []runtime.Object, entries []runtime.Object, tweak func(*fake.Clientset, *dynamicfake.FakeDynamicClient)) *testCatalog {
	t.Helper()
	client := fake.NewClientset(objs...)
	dyn := newDynamic(entries...)
	if tweak != nil {
		tweak(client, dyn)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := NewCatalog(client, dyn, cfg, opts)
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	tc := &testCatalog{Catalog: c, client: client, dyn: dyn}
	tc.waitForWatches(t)
	return tc
}

// waitForWatches waits until every informer has opened its watch: the fake clientset drops
// events that happen between an informer's list and its watch.
func (tc *testCatalog) waitForWatches(t testing.TB) {
	t.Helper()
	want := []string{"namespaces", "services", "endpointslices"}
	if tc.pods != nil {
		want = append(want, "pods")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		watching := map[string]bool{}
		for _, a := range tc.client.Actions() {
			if a.GetVerb() == "watch" {
				watching[a.GetResource().Resource] = true
			}
		}
		for _, a := range tc.dyn.Actions() {
			if a.GetVerb() == "watch" {
				watching[a.GetResource().Resource] = true
			}
		}
		missing := []string{}
		dynamic := map[string]bool{"serviceentries": tc.entries != nil, "peerauthentications": tc.peerAuths != nil, "workloadentries": tc.workloadEntries != nil, "gateways": tc.gateways != nil}
		for _, r := range append(want, "serviceentries", "peerauthentications", "workloadentries", "gateways") {
			if watch, isDynamic := dynamic[r]; isDynamic && !watch {
				continue
			}
			if !watching[r] {
				missing = append(missing, r)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("informers never watched %s", strings.Join(missing, ", "))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustLookup(t testing.TB, c *Catalog, name string) Service {
	t.Helper()
	s, err := c.Lookup(name)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", name, err)
	}
	return s
}

// selfSignedPEM is a CA certificate, PEM-encoded.
func selfSignedPEM(t testing.TB, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
