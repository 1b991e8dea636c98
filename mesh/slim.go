package mesh

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// slim drops what the catalogue never reads before an object is cached: managed fields
// everywhere; all of a pod but its labels, a few annotations, service account and readiness;
// all of a Service but its ports, selector, type and the annotations Istio reads; an
// EndpointSlice becomes an endpointSlice. With 10,000 services this
// is most of the informers' memory (docs/benchmarks.md, "Memory").
func slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return slimPod(o), nil
	case *corev1.Service:
		return slimService(o), nil
	case *discoveryv1.EndpointSlice:
		return slimEndpointSlice(o), nil
	case *unstructured.Unstructured:
		o.SetManagedFields(nil)
		delete(o.Object, "status")
		return o, nil
	case metav1.Object:
		o.SetManagedFields(nil)
		return o, nil
	}
	return obj, nil
}

// slimMeta keeps name, namespace, age and the resource version (client-go's informer tells an
// update from a resync by it), the labels when keepLabels, and only the named annotations,
// each with its value when the map says true, else emptied (its presence is what counts).
func slimMeta(m metav1.ObjectMeta, keepLabels bool, annotations map[string]bool) metav1.ObjectMeta {
	out := metav1.ObjectMeta{
		Name:              m.Name,
		Namespace:         m.Namespace,
		ResourceVersion:   m.ResourceVersion,
		CreationTimestamp: m.CreationTimestamp,
		DeletionTimestamp: m.DeletionTimestamp,
	}
	if keepLabels {
		out.Labels = m.Labels
	}
	for k, keepValue := range annotations {
		if v, ok := m.Annotations[k]; ok {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			if !keepValue {
				v = ""
			}
			out.Annotations[k] = v
		}
	}
	return out
}

// podAnnotations: the injection switch, and the sidecar status whose presence alone matters
// (its value is large).
var podAnnotations = map[string]bool{annotationInject: true, annotationStatus: false}

func slimPod(o *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{
		ObjectMeta: slimMeta(o.ObjectMeta, true, podAnnotations), // labels: selectors and sidecar checks
		Spec:       corev1.PodSpec{ServiceAccountName: o.Spec.ServiceAccountName},
		Status:     corev1.PodStatus{Phase: o.Status.Phase, PodIP: o.Status.PodIP},
	}
	for _, cond := range o.Status.Conditions {
		if cond.Type == corev1.PodReady {
			out.Status.Conditions = []corev1.PodCondition{{Type: cond.Type, Status: cond.Status}}
		}
	}
	return out
}

// serviceAnnotations are the ones buildService reads.
var serviceAnnotations = map[string]bool{annotationKubeSAs: true, annotationCanonSAs: true, annotationExportTo: true}

func slimService(o *corev1.Service) *corev1.Service {
	out := &corev1.Service{
		ObjectMeta: slimMeta(o.ObjectMeta, false, serviceAnnotations),
		Spec: corev1.ServiceSpec{
			Type:     o.Spec.Type,
			Selector: o.Spec.Selector,
			Ports:    make([]corev1.ServicePort, len(o.Spec.Ports)),
		},
	}
	for i, p := range o.Spec.Ports {
		out.Spec.Ports[i] = corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, AppProtocol: p.AppProtocol, Port: p.Port, TargetPort: p.TargetPort}
	}
	return out
}

// endpointSlice is what the catalogue keeps of an EndpointSlice: whose it is and, for each
// endpoint, which pod or address it is and whether it is ready. An EndpointSlice object with
// its labels map costs about 800 bytes even when slimmed; this, under 400.
type endpointSlice struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	Service   string // the kubernetes.io/service-name label
	Endpoints []sliceEndpoint
}

// sliceEndpoint is one endpoint of an endpointSlice.
type sliceEndpoint struct {
	Pod   string // "namespace/name" of the pod it names, "" when it names none
	Addr  string // its first address
	Ready bool   // not marked unready: an unset condition counts as ready, as for kube-proxy
}

func (s *endpointSlice) DeepCopyObject() runtime.Object {
	out := *s
	out.ObjectMeta = *s.ObjectMeta.DeepCopy()
	out.Endpoints = slices.Clone(s.Endpoints)
	return &out
}

func slimEndpointSlice(o *discoveryv1.EndpointSlice) *endpointSlice {
	out := &endpointSlice{
		ObjectMeta: slimMeta(o.ObjectMeta, false, nil),
		Service:    o.Labels[discoveryv1.LabelServiceName],
		Endpoints:  make([]sliceEndpoint, len(o.Endpoints)),
	}
	for i, ep := range o.Endpoints {
		e := sliceEndpoint{Ready: ep.Conditions.Ready == nil || *ep.Conditions.Ready}
		if len(ep.Addresses) > 0 {
			e.Addr = ep.Addresses[0]
		}
		if ref := ep.TargetRef; ref != nil && ref.Kind == "Pod" && ref.Name != "" {
			ns := ref.Namespace
			if ns == "" {
				ns = o.Namespace
			}
			e.Pod = ns + "/" + ref.Name
		}
		out.Endpoints[i] = e
	}
	return out
}
