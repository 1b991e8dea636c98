package mesh

import (
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
)

// peerAuthenticationVersions are the PeerAuthentication versions read, newest first.
var peerAuthenticationVersions = []schema.GroupVersionResource{
	{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"},
	{Group: "security.istio.io", Version: "v1beta1", Resource: "peerauthentications"},
}

// mTLS modes of a PeerAuthentication. "" is UNSET: inherit from the level above.
const (
	mtlsPermissive = "PERMISSIVE"
	mtlsDisable    = "DISABLE"
)

// peerAuthentication is the part of a PeerAuthentication that decides whether a sidecar
// accepts mTLS.
type peerAuthentication struct {
	namespace, name string
	created         int64             // creation time (Unix): among equals the oldest wins
	selector        map[string]string // nil: namespace-wide (mesh-wide in the root namespace)
	mode            string            // "", STRICT, PERMISSIVE or DISABLE
	portModes       map[uint32]string // portLevelMtls, by workload (target) port
}

func (p *peerAuthentication) ref() string { return p.namespace + "/" + p.name }

// parsePeerAuthentication reads the fields that matter; odd values (a mode Istio does not
// know, a port that is not a number) are left out, as istiod's validation would refuse them.
func parsePeerAuthentication(u *unstructured.Unstructured) *peerAuthentication {
	p := &peerAuthentication{namespace: u.GetNamespace(), name: u.GetName(), created: u.GetCreationTimestamp().Unix()}
	if sel, ok, _ := unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels"); ok && len(sel) > 0 {
		p.selector = sel
	}
	p.mode = mtlsModeOf(u.Object, "spec", "mtls", "mode")
	if ports, ok, _ := unstructured.NestedMap(u.Object, "spec", "portLevelMtls"); ok && p.selector != nil {
		for k := range ports {
			n, err := strconv.ParseUint(k, 10, 16)
			if err != nil || n == 0 {
				continue
			}
			if m := mtlsModeOf(u.Object, "spec", "portLevelMtls", k, "mode"); m != "" {
				if p.portModes == nil {
					p.portModes = map[uint32]string{}
				}
				p.portModes[uint32(n)] = m
			}
		}
	}
	return p
}

func mtlsModeOf(obj map[string]any, path ...string) string {
	m, _, _ := unstructured.NestedString(obj, path...)
	switch m {
	case "STRICT", mtlsPermissive, mtlsDisable:
		return m
	}
	return "" // UNSET, or nothing Istio knows
}

// mtlsMode is the mode a workload's sidecar applies on port, and the PeerAuthentication that
// decided it ("" when none did: Istio's default, PERMISSIVE). As in Istio: a policy selecting
// the workload beats its namespace's, which beats the mesh-wide one in the root namespace;
// among several at one level the oldest wins; UNSET inherits; a port-level mode beats the
// policy's own.
func (c *Catalog) mtlsMode(namespace string, labels map[string]string, port uint32) (mode, by string) {
	var mesh, ns, workload *peerAuthentication
	older := func(cur, p *peerAuthentication) *peerAuthentication {
		if cur == nil || p.created < cur.created || (p.created == cur.created && p.name < cur.name) {
			return p
		}
		return cur
	}
	for _, p := range c.peerAuthenticationsIn(c.rootNamespace) {
		if p.selector == nil {
			mesh = older(mesh, p)
		}
	}
	for _, p := range c.peerAuthenticationsIn(namespace) {
		switch {
		case p.selector == nil && namespace != c.rootNamespace:
			ns = older(ns, p)
		case p.selector != nil && selects(p.selector, labels):
			workload = older(workload, p)
		}
	}
	mode = mtlsPermissive
	for _, p := range []*peerAuthentication{mesh, ns, workload} {
		if p != nil && p.mode != "" {
			mode, by = p.mode, p.ref()
		}
	}
	if workload != nil {
		if m := workload.portModes[port]; m != "" {
			mode, by = m, workload.ref()
		}
	}
	return mode, by
}

func (c *Catalog) peerAuthenticationsIn(namespace string) []*peerAuthentication {
	if c.peerAuths == nil {
		return nil
	}
	var out []*peerAuthentication
	for _, o := range byIndex(c.peerAuths, cache.NamespaceIndex, namespace) {
		if u, ok := o.(*unstructured.Unstructured); ok {
			out = append(out, parsePeerAuthentication(u))
		}
	}
	return out
}

// portTarget is a service port and the workload port it leads to (0 when not known: a named
// container port, which only policies without port levels can decide).
type portTarget struct{ service, target uint32 }

// disabledPorts applies PeerAuthentications to a service whose workloads in namespace carry
// the given labels: the service ports on which mTLS is disabled for every workload (the
// gateway's passthrough reaches a sidecar that then expects plaintext), each with the
// PeerAuthentication that says so.
func (c *Catalog) disabledPorts(namespace string, workloads []map[string]string, ports []portTarget) map[uint32]string {
	if c.peerAuths == nil || len(workloads) == 0 {
		return nil
	}
	out := map[uint32]string{}
	for _, p := range ports {
		var by string
		disabled := true
		for _, labels := range workloads {
			mode, who := c.mtlsMode(namespace, labels, p.target)
			if mode != mtlsDisable {
				disabled = false
				break
			}
			by = who
		}
		if disabled {
			out[p.service] = by
		}
	}
	return out
}

// serviceWorkloads are the labels of a Service's workloads: its pods' when known, else its
// selector stands for them.
func serviceWorkloads(svc *corev1.Service, pods []*corev1.Pod) []map[string]string {
	var out []map[string]string
	for _, p := range pods {
		out = append(out, p.Labels)
	}
	if len(out) == 0 && svc.Spec.Selector != nil {
		out = append(out, maps.Clone(svc.Spec.Selector))
	}
	return out
}

func servicePortTargets(svc *corev1.Service) []portTarget {
	var out []portTarget
	for _, sp := range svc.Spec.Ports {
		t := portTarget{service: uint32(sp.Port), target: uint32(sp.Port)}
		switch {
		case sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal > 0:
			t.target = uint32(sp.TargetPort.IntVal)
		case sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "":
			t.target = 0
		}
		out = append(out, t)
	}
	return out
}

// peerAuthenticationChanged marks what a policy can change: everything for a mesh-wide one,
// else its namespace.
func (c *Catalog) peerAuthenticationChanged(obj any) {
	m, ok := metaOf(obj)
	if !ok || !c.synced.Load() {
		return
	}
	if m.GetNamespace() == c.rootNamespace {
		c.markAll()
		return
	}
	c.markNamespace(m.GetNamespace())
}
