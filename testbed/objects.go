package testbed

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/meshjoin/meshjoin/docs"
)

// Labels and annotations Istio puts on what it installs, as meshjoin reads them.
const (
	NetworkLabel   = "topology.istio.io/network"
	Network        = "network1"
	GatewayService = "istio-eastwestgateway"
	// LoopbackAnnotation on a testbed pod says where its sidecar really listens.
	LoopbackAnnotation = "testbed.meshjoin.io/loopback-address"
	IstioSystem        = "istio-system"
)

var (
	crdGVR          = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	ServiceEntryGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "serviceentries"}
	// PeerAuthenticationGVR: the testbed's objects say what its sidecars do (mesh-wide STRICT,
	// PERMISSIVE where a workload is), as istiod would have configured them from these.
	PeerAuthenticationGVR = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"}
	WorkloadEntryGVR      = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "workloadentries"}
	GatewayGVR            = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}
)

// installIstio creates what an Istio install leaves in a cluster: istio-system and its
// ConfigMaps, the east-west gateway Service with a load-balancer address, the ServiceEntry and
// PeerAuthentication CRDs with a mesh-wide STRICT PeerAuthentication,
// mesh namespaces with the root certificate, and the RBAC of docs/rbac.yaml.
func installIstio(ctx context.Context, c kubernetes.Interface, dyn dynamic.Interface, tb *Testbed) error {
	namespaces := []*corev1.Namespace{
		ns(IstioSystem, map[string]string{NetworkLabel: Network}),
		ns(NamespaceBookinfo, map[string]string{"istio-injection": "enabled"}),
		ns(NamespacePayments, map[string]string{"istio.io/rev": Revision}),
		ns(NamespaceDev, map[string]string{"istio-injection": "enabled"}),
		ns(NamespaceLegacy, nil),
	}
	for _, n := range namespaces {
		if err := createIgnoreExists(create(ctx, c.CoreV1().Namespaces(), n)); err != nil {
			return fmt.Errorf("namespace %s: %w", n.Name, err)
		}
	}
	mesh := map[string]any{"trustDomain": tb.TrustDomain, "defaultConfig": map[string]any{"discoveryAddress": "istiod.istio-system.svc:15012"}}
	if len(tb.TrustDomainAliases) > 0 {
		mesh["trustDomainAliases"] = tb.TrustDomainAliases
	}
	meshYAML, err := yaml.Marshal(mesh)
	if err != nil {
		return err
	}
	tb.meshYAML = meshYAML
	injectorValues := fmt.Sprintf(`{"global":{"network":%q,"meshID":"mesh1","multiCluster":{"clusterName":%q}},"revision":""}`, Network, DefaultClusterID)
	configMaps := []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "istio", Namespace: IstioSystem}, Data: map[string]string{"mesh": string(meshYAML)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "istio-" + Revision, Namespace: IstioSystem}, Data: map[string]string{"mesh": string(meshYAML)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector", Namespace: IstioSystem}, Data: map[string]string{"values": injectorValues}},
	}
	// istiod writes the root bundle into every namespace itself; the imitation CA cannot.
	for _, n := range meshNamespacesIf(tb.ImitationCA) {
		configMaps = append(configMaps, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "istio-ca-root-cert", Namespace: n},
			Data:       map[string]string{"root-cert.pem": string(tb.RootPEM)},
		})
	}
	for _, cm := range configMaps {
		if err := createIgnoreExists(create(ctx, c.CoreV1().ConfigMaps(cm.Namespace), cm)); err != nil {
			return fmt.Errorf("configmap %s/%s: %w", cm.Namespace, cm.Name, err)
		}
	}

	// The east-west gateway, as Istio's multi-network sample installs it.
	gw := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: GatewayService, Namespace: IstioSystem, Labels: map[string]string{
			NetworkLabel: Network, "istio": "eastwestgateway", "app": "istio-eastwestgateway",
		}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"istio": "eastwestgateway"},
			Ports: []corev1.ServicePort{
				{Name: "status-port", Port: 15021},
				{Name: "tls", Port: GatewayTLSPort},
				{Name: "tls-istiod", Port: GatewayCAPort},
			},
		},
	}
	created, err := c.CoreV1().Services(IstioSystem).Create(ctx, gw, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("gateway service: %w", err)
	}
	created.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: tb.GatewayIP}}
	if _, err := c.CoreV1().Services(IstioSystem).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("gateway service status: %w", err)
	}
	istiod := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod", Namespace: IstioSystem, Labels: map[string]string{"app": "istiod"}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "istiod"}, Ports: []corev1.ServicePort{{Name: "grpc-xds", Port: 15012}, {Name: "https-webhook", Port: 443}}},
	}
	if err := createIgnoreExists(create(ctx, c.CoreV1().Services(IstioSystem), istiod)); err != nil {
		return fmt.Errorf("istiod service: %w", err)
	}

	for _, sa := range []string{"alice", "bob"} {
		if err := createIgnoreExists(create(ctx, c.CoreV1().ServiceAccounts(NamespaceDev), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}})); err != nil {
			return err
		}
	}
	if err := installCRDs(ctx, dyn); err != nil {
		return err
	}
	// The sidecars are STRICT unless a workload says PERMISSIVE (see createWorkload).
	if err := createPeerAuthentication(ctx, dyn, IstioSystem, "default", nil, "STRICT"); err != nil {
		return err
	}
	return applyRBAC(ctx, c, docs.RBAC)
}

// installCRDs applies Istio's own CRDs (crd-all.gen.yaml of IstioVersion, which istiod needs
// too) and waits until the ones the testbed writes are served.
func installCRDs(ctx context.Context, dyn dynamic.Interface) error {
	path, err := IstioCRDsFile()
	if err != nil {
		return err
	}
	file, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(file)))
	// In parallel: kube-apiserver spends its time on each CRD's schema, not on the request.
	g, gctx := errgroup.WithContext(ctx)
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if obj == nil {
			continue
		}
		crd := &unstructured.Unstructured{Object: obj}
		if crd.GetKind() != "CustomResourceDefinition" {
			continue
		}
		g.Go(func() error {
			if _, err := dyn.Resource(crdGVR).Create(gctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("CRD %s: %w", crd.GetName(), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, gvr := range []schema.GroupVersionResource{ServiceEntryGVR, PeerAuthenticationGVR, WorkloadEntryGVR, GatewayGVR} {
		if err := waitFor(ctx, nil, gvr.Resource+" CRD", func() error {
			_, err := dyn.Resource(gvr).Namespace(IstioSystem).List(ctx, metav1.ListOptions{Limit: 1})
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// createPeerAuthentication creates a PeerAuthentication; a nil selector makes it
// namespace-wide (mesh-wide in istio-system).
func createPeerAuthentication(ctx context.Context, dyn dynamic.Interface, namespace, name string, selector map[string]string, mode string) error {
	spec := map[string]any{"mtls": map[string]any{"mode": mode}}
	if selector != nil {
		labels := map[string]any{}
		for k, v := range selector {
			labels[k] = v
		}
		spec["selector"] = map[string]any{"matchLabels": labels}
	}
	pa := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": PeerAuthenticationGVR.GroupVersion().String(),
		"kind":       "PeerAuthentication",
		"metadata":   map[string]any{"namespace": namespace, "name": name},
		"spec":       spec,
	}}
	_, err := dyn.Resource(PeerAuthenticationGVR).Namespace(namespace).Create(ctx, pa, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("PeerAuthentication %s/%s: %w", namespace, name, err)
	}
	return nil
}

// applyRBAC creates the RBAC objects of a multi-document YAML file such as docs/rbac.yaml.
func applyRBAC(ctx context.Context, c kubernetes.Interface, file []byte) error {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(file)))
	decode := scheme.Codecs.UniversalDeserializer().Decode
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := decode(doc, nil, nil)
		if err != nil {
			return fmt.Errorf("rbac.yaml: %w", err)
		}
		switch o := obj.(type) {
		case *rbacv1.ClusterRole:
			_, err = c.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = c.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = c.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		default:
			return fmt.Errorf("rbac.yaml: unexpected %T", obj)
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("rbac.yaml: %w", err)
		}
	}
}

// createWorkload creates a workload's ServiceAccount, Pod (with its address in status),
// and its Service with an EndpointSlice, or its MESH_INTERNAL ServiceEntry.
func createWorkload(ctx context.Context, c kubernetes.Interface, dyn dynamic.Interface, w Workload) error {
	labels := map[string]string{"app": w.Name}
	if err := createIgnoreExists(create(ctx, c.CoreV1().ServiceAccounts(w.Namespace), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: w.ServiceAccount}})); err != nil {
		return err
	}
	podLabels := map[string]string{"app": w.Name}
	if !w.OutsideMesh {
		podLabels["security.istio.io/tlsMode"] = "istio"
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name + "-0", Namespace: w.Namespace, Labels: podLabels,
			Annotations: map[string]string{LoopbackAnnotation: w.Addr}},
		Spec: corev1.PodSpec{
			ServiceAccountName:           w.ServiceAccount,
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "app", Image: "echo"}},
		},
	}
	created, err := c.CoreV1().Pods(w.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("pod %s/%s: %w", w.Namespace, pod.Name, err)
	}
	created.Status.PodIP = w.PodIP
	created.Status.PodIPs = []corev1.PodIP{{IP: w.PodIP}}
	created.Status.Phase = corev1.PodRunning
	created.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := c.CoreV1().Pods(w.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("pod status %s/%s: %w", w.Namespace, pod.Name, err)
	}

	if w.Permissive {
		if err := createPeerAuthentication(ctx, dyn, w.Namespace, w.Name+"-permissive", map[string]string{"app": w.Name}, "PERMISSIVE"); err != nil {
			return err
		}
	}
	if w.ServiceEntryHost != "" {
		return createServiceEntry(ctx, dyn, w)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace, Labels: labels},
		Spec:       corev1.ServiceSpec{Selector: labels},
	}
	if len(w.ExtraServiceAccounts) > 0 {
		svc.Annotations = map[string]string{"alpha.istio.io/kubernetes-serviceaccounts": strings.Join(w.ExtraServiceAccounts, ",")}
	}
	var slicePorts []discoveryv1.EndpointPort
	for _, p := range w.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.Name, Port: int32(p.Number), TargetPort: intOrString(p.TargetPort)})
		slicePorts = append(slicePorts, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Port: ptr.To(int32(p.TargetPort)), Protocol: ptr.To(corev1.ProtocolTCP)})
	}
	if _, err := c.CoreV1().Services(w.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("service %s: %w", w.Key(), err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name + "-slice", Namespace: w.Namespace, Labels: map[string]string{
			discoveryv1.LabelServiceName: w.Name, discoveryv1.LabelManagedBy: "meshjoin-testbed",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{w.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: w.Namespace, Name: pod.Name, UID: created.UID},
		}},
		Ports: slicePorts,
	}
	if _, err := c.DiscoveryV1().EndpointSlices(w.Namespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("endpointslice %s: %w", w.Key(), err)
	}
	return nil
}

func createServiceEntry(ctx context.Context, dyn dynamic.Interface, w Workload) error {
	var ports []any
	for _, p := range w.Ports {
		ports = append(ports, map[string]any{"number": int64(p.Number), "name": p.Name, "protocol": strings.ToUpper(p.Protocol), "targetPort": int64(p.TargetPort)})
	}
	se := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "ServiceEntry",
		"metadata":   map[string]any{"name": w.Name, "namespace": w.Namespace},
		"spec": map[string]any{
			"hosts":      []any{w.ServiceEntryHost},
			"location":   "MESH_INTERNAL",
			"resolution": "STATIC",
			"ports":      ports,
			"endpoints": []any{map[string]any{
				"address": w.PodIP, "serviceAccount": w.ServiceAccount, "labels": map[string]any{"app": w.Name},
			}},
		},
	}}
	if _, err := dyn.Resource(ServiceEntryGVR).Namespace(w.Namespace).Create(ctx, se, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("serviceentry %s: %w", w.Key(), err)
	}
	return nil
}

func ns(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

type creator[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
}

func create[T any](ctx context.Context, c creator[T], obj T) error {
	_, err := c.Create(ctx, obj, metav1.CreateOptions{})
	return err
}

func createIgnoreExists(err error) error {
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func intOrString(port uint32) intstr.IntOrString { return intstr.FromInt32(int32(port)) }
