// Over 500 lines: the catalogue entries built from Services, ServiceEntries and WorkloadEntries, one rule set that reads in order.

package mesh

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/cache"
)

// refreshLocked rebuilds the entries marked dirty, then re-publishes every entry whose claim
// on a host name may have changed with them (see conflict.go). A few changes are spliced into
// the sorted list in place; many (the first sync, a namespace relabelled) rebuild and sort it
// once.
func (c *Catalog) refreshLocked() {
	if len(c.dirty) == 0 {
		return
	}
	c.podMemo = map[string][]any{}
	defer func() { c.podMemo = nil }()
	affected := map[objKey]struct{}{}
	var touched []string
	for k := range c.dirty {
		var next *Service
		if svc, ok := c.build(k); ok {
			next = &svc
			c.raw[k] = next
		} else {
			delete(c.raw, k)
		}
		touched = append(touched, c.setClaim(k, next)...)
		affected[k] = struct{}{}
	}
	c.dirty = map[objKey]struct{}{} // not clear: after the first list that would keep room for every service
	for _, n := range touched {
		for _, k := range c.claims[n] {
			affected[k] = struct{}{}
		}
	}
	bulk := len(affected) > 32 && len(affected) > len(c.list)/16
	for k := range affected {
		next := c.publish(k)
		if bulk {
			if next != nil {
				c.byKey[k] = next
			} else {
				delete(c.byKey, k)
			}
			continue
		}
		if prev := c.byKey[k]; prev != nil {
			c.unindexNames(prev)
		}
		if next != nil {
			c.byKey[k] = next
			c.indexNames(next)
		} else {
			delete(c.byKey, k)
		}
		i, found := slices.BinarySearchFunc(c.list, k, func(s *Service, k objKey) int { return keyOf(s).compare(k) })
		switch {
		case next != nil && found:
			c.list[i] = next
		case next != nil:
			c.list = slices.Insert(c.list, i, next)
		case found:
			c.list = slices.Delete(c.list, i, i+1)
		}
	}
	if bulk {
		c.list = c.list[:0]
		clear(c.names)
		for _, s := range c.byKey {
			c.list = append(c.list, s)
			c.indexNames(s)
		}
		slices.SortFunc(c.list, func(a, b *Service) int { return keyOf(a).compare(keyOf(b)) })
	}
}

// build makes the entry for k from the informers' caches; false when the object is gone.
func (c *Catalog) build(k objKey) (Service, bool) {
	delete(c.rejected, k)
	switch k.kind {
	case KindService:
		if c.services == nil {
			return Service{}, false
		}
		obj, ok, _ := c.services.GetIndexer().GetByKey(k.ns + "/" + k.name)
		if svc, isSvc := obj.(*corev1.Service); ok && isSvc {
			return c.buildService(svc), true
		}
	case KindServiceEntry:
		if c.entries == nil {
			return Service{}, false
		}
		obj, ok, _ := c.entries.GetIndexer().GetByKey(k.ns + "/" + k.name)
		u, isU := obj.(*unstructured.Unstructured)
		if !ok || !isU {
			break
		}
		if !validEntryName(k.ns, k.name) {
			c.rejected[k] = fmt.Sprintf("ServiceEntry %s in namespace %s ignored: not a valid name", quoteShort(k.name), quoteShort(k.ns))
			return Service{}, false
		}
		return c.buildServiceEntry(u), true
	}
	return Service{}, false
}

func (c *Catalog) namespace(name string) *corev1.Namespace {
	obj, ok, _ := c.namespaces.GetIndexer().GetByKey(name)
	if ns, isNS := obj.(*corev1.Namespace); ok && isNS {
		return ns
	}
	return nil
}

// buildService turns a Kubernetes Service and what backs it into a catalogue entry.
func (c *Catalog) buildService(svc *corev1.Service) Service {
	s := Service{
		Name:      svc.Name,
		Namespace: svc.Namespace,
		Kind:      KindService,
		Hosts:     []string{svc.Name + "." + svc.Namespace + ".svc." + c.clusterDomain},
	}
	nonTCP := 0
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			nonTCP++
			continue
		}
		s.Ports = append(s.Ports, Port{Name: p.Name, Number: uint32(p.Port), Protocol: ProtocolOf(p.Name, p.AppProtocol)})
	}

	ready, targets := c.endpointsOf(svc.Namespace, svc.Name)
	s.Endpoints = ready
	var pods []*corev1.Pod
	if c.pods != nil {
		pods = c.backingPods(svc.Namespace, svc.Spec.Selector, targets)
	}

	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, p := range pods {
		add(spiffeID(c.trustDomain, p.Namespace, serviceAccountOf(p)))
	}
	for _, sa := range splitList(svc.Annotations[annotationKubeSAs]) {
		if why := checkServiceAccount(sa); why != "" {
			s.Warnings = append(s.Warnings, fmt.Sprintf("annotation %s: service account %s ignored: %s", annotationKubeSAs, quoteShort(sa), why))
			continue
		}
		add(spiffeID(c.trustDomain, svc.Namespace, sa))
	}
	for _, id := range splitList(svc.Annotations[annotationCanonSAs]) {
		if why := checkSPIFFE(id); why != "" {
			s.Warnings = append(s.Warnings, fmt.Sprintf("annotation %s: %s ignored: %s", annotationCanonSAs, quoteShort(id), why))
			continue
		}
		add(id)
	}
	sort.Strings(ids)
	s.Identities = expandTrustDomains(ids, c.trustDomain, c.aliases)
	s.IdentitiesExact = c.pods != nil && len(ids) > 0

	s.Reachable, s.Reason = c.serviceReachability(svc, &s, nonTCP, pods)
	if s.Reachable {
		c.applyPeerAuthentications(&s, c.disabledPorts(svc.Namespace, serviceWorkloads(svc, pods), servicePortTargets(svc)))
	}
	c.applyGateways(&s)
	if s.Reachable && c.pods != nil && len(ids) == 0 {
		s.Warnings = append(s.Warnings, "no service account found for its endpoints: the identity check falls back to the trust-domain prefix")
	}
	return s
}

func (c *Catalog) serviceReachability(svc *corev1.Service, s *Service, nonTCP int, pods []*corev1.Pod) (bool, string) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return false, "ExternalName service: an alias for a name outside the mesh"
	}
	if len(s.Ports) == 0 {
		if nonTCP > 0 {
			return false, "only UDP/SCTP ports: the gateway carries TCP"
		}
		return false, "no ports: the gateway routes by service port"
	}
	injected, optedOut := sidecarsOf(pods)
	ns := c.namespace(svc.Namespace)
	switch {
	case meshNamespace(ns):
		if optedOut {
			return false, "its pods opt out of sidecar injection (sidecar.istio.io/inject=false)"
		}
	case injected:
		// Pods injected one by one in a namespace without injection: fine.
	case ns != nil && ns.Labels[labelDataplaneMode] == "ambient":
		return false, fmt.Sprintf("namespace %s is ambient (no sidecars): not reachable through the gateway's mTLS passthrough", svc.Namespace)
	default:
		return false, fmt.Sprintf("namespace %s has no sidecar injection (label istio-injection=enabled or istio.io/rev)", svc.Namespace)
	}
	if ok, why := visibleTo(splitList(svc.Annotations[annotationExportTo]), svc.Namespace, c.rootNamespace); !ok {
		return false, why
	}
	if s.Endpoints == 0 {
		return false, "no ready endpoints"
	}
	return true, ""
}

// applyPeerAuthentications leaves out the ports whose sidecars have mTLS disabled (off, from
// disabledPorts), and makes the service unreachable when that is every port.
func (c *Catalog) applyPeerAuthentications(s *Service, off map[uint32]string) {
	if len(off) == 0 {
		return
	}
	var kept []Port
	var dropped []string
	var by string
	for _, p := range s.Ports {
		who, disabled := off[p.Number]
		if !disabled {
			kept = append(kept, p)
			continue
		}
		by = who
		dropped = append(dropped, fmt.Sprintf("port %d left out: PeerAuthentication %s disables mTLS there", p.Number, quoteShort(who)))
	}
	if len(kept) == 0 {
		s.Reachable = false
		s.Reason = fmt.Sprintf("PeerAuthentication %s disables mTLS (mode DISABLE): its sidecars expect plaintext, which the gateway's mTLS passthrough cannot deliver", quoteShort(by))
		return
	}
	s.Ports = kept
	s.Warnings = append(s.Warnings, dropped...)
}

// meshNamespace: sidecar injection by label istio-injection=enabled, or istio.io/rev when
// istio-injection is not set (istio-injection wins, as in Istio's webhooks).
func meshNamespace(ns *corev1.Namespace) bool {
	if ns == nil {
		return false
	}
	if v, ok := ns.Labels[labelInjection]; ok {
		return v == "enabled"
	}
	return ns.Labels[labelRevision] != ""
}

// sidecarsOf: injected when some pod carries the marks of the injector; optedOut when there
// are pods and every one of them refuses injection.
func sidecarsOf(pods []*corev1.Pod) (injected, optedOut bool) {
	optedOut = len(pods) > 0
	for _, p := range pods {
		_, hasStatus := p.Annotations[annotationStatus]
		if hasStatus || p.Labels[labelTLSMode] == "istio" {
			injected = true
			optedOut = false
			continue
		}
		if p.Labels[labelInject] != "false" && p.Annotations[annotationInject] != "false" {
			optedOut = false
		}
	}
	return injected, optedOut
}

// visibleTo applies exportTo: the gateway only routes to services exported to its namespace.
func visibleTo(exportTo []string, ns, gatewayNS string) (bool, string) {
	if len(exportTo) == 0 {
		return true, ""
	}
	for _, e := range exportTo {
		if e == "*" || e == gatewayNS || e == "." && ns == gatewayNS {
			return true, ""
		}
	}
	return false, fmt.Sprintf("exported only to %s: not visible to the east-west gateway in %s", quoteShort(strings.Join(exportTo, ",")), gatewayNS)
}

// endpointsOf counts the ready endpoints of a Service across its EndpointSlices (an endpoint
// in two slices, as in dual stack, counts once) and returns the pods they name.
func (c *Catalog) endpointsOf(ns, name string) (ready int, targets []string) {
	seen := map[string]bool{}
	for _, o := range byIndex(c.slices, indexSliceByService, ns+"/"+name) {
		slice, ok := o.(*endpointSlice)
		if !ok {
			continue
		}
		for _, ep := range slice.Endpoints {
			id := ""
			if ep.Pod != "" {
				id = ep.Pod
				targets = append(targets, id)
			} else if ep.Addr != "" {
				id = "addr/" + ep.Addr
			}
			if id == "" || seen[id] || !ep.Ready {
				continue
			}
			seen[id] = true
			ready++
		}
	}
	return ready, targets
}

// backingPods are the live pods selected by selector in ns, plus the pods named by
// EndpointSlice targetRefs ("ns/name"), without duplicates.
func (c *Catalog) backingPods(ns string, selector map[string]string, targets []string) []*corev1.Pod {
	var out []*corev1.Pod
	seen := map[string]bool{}
	keep := func(p *corev1.Pod) {
		key := p.Namespace + "/" + p.Name
		if !seen[key] && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			seen[key] = true
			out = append(out, p)
		}
	}
	for _, p := range c.selectPods(ns, selector) {
		keep(p)
	}
	for _, t := range targets {
		if seen[t] {
			continue
		}
		obj, ok, _ := c.pods.GetIndexer().GetByKey(t)
		if p, isPod := obj.(*corev1.Pod); ok && isPod {
			keep(p)
		}
	}
	return out
}

// selectPods uses the label index: it starts from the smallest set of pods sharing one of the
// selector's labels, then checks the rest of the selector.
// workloadEntry is what a ServiceEntry takes from a WorkloadEntry it selects.
type workloadEntry struct {
	name, address, serviceAccount string
	labels                        map[string]string
}

// selectWorkloadEntries lists the WorkloadEntries of ns whose labels match selector.
func (c *Catalog) selectWorkloadEntries(ns string, selector map[string]string) []workloadEntry {
	var out []workloadEntry
	for _, o := range byIndex(c.workloadEntries, cache.NamespaceIndex, ns) {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		// Istio merges the object's labels with the entry's own (spec.labels win).
		labels := maps.Clone(u.GetLabels())
		specLabels, _, _ := unstructured.NestedStringMap(u.Object, "spec", "labels")
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, specLabels)
		if !selects(selector, labels) {
			continue
		}
		addr, _, _ := unstructured.NestedString(u.Object, "spec", "address")
		sa, _, _ := unstructured.NestedString(u.Object, "spec", "serviceAccount")
		out = append(out, workloadEntry{name: u.GetName(), address: addr, serviceAccount: sa, labels: labels})
	}
	return out
}

func (c *Catalog) selectPods(ns string, selector map[string]string) []*corev1.Pod {
	if len(selector) == 0 || c.pods == nil {
		return nil
	}
	var smallest []any
	first := true
	for k, v := range selector {
		objs := c.podsLabelled(ns + "/" + k + "=" + v)
		if first || len(objs) < len(smallest) {
			smallest, first = objs, false
		}
		if len(smallest) == 0 {
			return nil
		}
	}
	var out []*corev1.Pod
	for _, o := range smallest {
		if p, ok := o.(*corev1.Pod); ok && selects(selector, p.Labels) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// podsLabelled reads the pod label index, remembering answers during one refresh: selectors
// share labels ("version=v1"), and a full rebuild would otherwise copy those big sets once per
// service.
func (c *Catalog) podsLabelled(key string) []any {
	if objs, ok := c.podMemo[key]; ok {
		return objs
	}
	objs := byIndex(c.pods, indexPodByLabel, key)
	if c.podMemo != nil {
		c.podMemo[key] = objs
	}
	return objs
}

func serviceAccountOf(p *corev1.Pod) string {
	if p.Spec.ServiceAccountName == "" {
		return defaultServiceAccount
	}
	return p.Spec.ServiceAccountName
}

// splitList splits a comma-separated annotation, trimming spaces and dropping empty items.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// serviceEntrySpec is the part of networking.istio.io ServiceEntry the catalogue reads.
type serviceEntrySpec struct {
	Hosts []string `json:"hosts"`
	Ports []struct {
		Number     int64  `json:"number"`
		Protocol   string `json:"protocol"`
		Name       string `json:"name"`
		TargetPort int64  `json:"targetPort"`
	} `json:"ports"`
	Location   string `json:"location"`
	Resolution string `json:"resolution"`
	Endpoints  []struct {
		Address        string `json:"address"`
		ServiceAccount string `json:"serviceAccount"`
	} `json:"endpoints"`
	WorkloadSelector *struct {
		Labels map[string]string `json:"labels"`
	} `json:"workloadSelector"`
	ExportTo        []string `json:"exportTo"`
	SubjectAltNames []string `json:"subjectAltNames"`
}

// validEntryName: the API server checks the names of custom resources, but a name with a
// newline must never reach a TUI line or a hosts file even if it did not.
func validEntryName(ns, name string) bool {
	return len(validation.IsDNS1123Subdomain(name)) == 0 && len(validation.IsDNS1123Label(ns)) == 0
}

// buildServiceEntry turns an Istio ServiceEntry into a catalogue entry. Its contents are
// checked field by field: a bad host or port is dropped with a warning, the rest is kept.
func (c *Catalog) buildServiceEntry(u *unstructured.Unstructured) Service {
	s := Service{Name: u.GetName(), Namespace: u.GetNamespace(), Kind: KindServiceEntry}
	var spec serviceEntrySpec
	raw, _ := u.Object["spec"].(map[string]any)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &spec); err != nil {
		s.Warnings = append(s.Warnings, fmt.Sprintf("spec cannot be read: %s", quoteShort(err.Error())))
		s.Reason = "malformed ServiceEntry"
		return s
	}

	for _, h := range spec.Hosts {
		if why := checkHost(h); why != "" {
			s.Warnings = append(s.Warnings, fmt.Sprintf("host %s dropped: %s", quoteShort(h), why))
			continue
		}
		if !slices.Contains(s.Hosts, h) {
			s.Hosts = append(s.Hosts, h)
		}
	}
	for _, p := range spec.Ports {
		if len(validation.IsValidPortNum(int(p.Number))) > 0 {
			s.Warnings = append(s.Warnings, fmt.Sprintf("port %d dropped: not a port number", p.Number))
			continue
		}
		name := p.Name
		if why := checkPortName(name); why != "" {
			s.Warnings = append(s.Warnings, fmt.Sprintf("port %d: name %s dropped: %s", p.Number, quoteShort(name), why))
			name = ""
		}
		s.Ports = append(s.Ports, Port{Name: name, Number: uint32(p.Number), Protocol: parseProtocol(p.Protocol)})
	}

	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	// addWorkload counts a workload with an address as an endpoint and takes its service account.
	addWorkload := func(what, address, sa string) {
		if address != "" {
			s.Endpoints++
		}
		if sa == "" {
			return
		}
		if why := checkServiceAccount(sa); why != "" {
			s.Warnings = append(s.Warnings, fmt.Sprintf("%s: service account %s ignored: %s", what, quoteShort(sa), why))
			return
		}
		add(spiffeID(c.trustDomain, s.Namespace, sa))
	}
	usesPods := spec.WorkloadSelector != nil && len(spec.WorkloadSelector.Labels) > 0
	var workloads []map[string]string // the selected workloads' labels, for PeerAuthentications
	if usesPods {
		for _, p := range c.selectPods(s.Namespace, spec.WorkloadSelector.Labels) {
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			workloads = append(workloads, p.Labels)
			add(spiffeID(c.trustDomain, p.Namespace, serviceAccountOf(p)))
			if p.Status.PodIP != "" && podReady(p) {
				s.Endpoints++
			}
		}
		for _, we := range c.selectWorkloadEntries(s.Namespace, spec.WorkloadSelector.Labels) {
			workloads = append(workloads, we.labels)
			addWorkload("WorkloadEntry "+quoteShort(we.name), we.address, we.serviceAccount)
		}
	} else {
		for _, ep := range spec.Endpoints {
			addWorkload("endpoint "+quoteShort(ep.Address), ep.Address, ep.ServiceAccount)
		}
		if len(spec.Endpoints) == 0 && (spec.Resolution == "DNS" || spec.Resolution == "DNS_ROUND_ROBIN") {
			s.Endpoints = len(s.Hosts) // the hosts themselves are resolved and used
		}
	}
	for _, san := range spec.SubjectAltNames {
		if why := checkSPIFFE(san); why != "" {
			s.Warnings = append(s.Warnings, fmt.Sprintf("subjectAltName %s ignored: %s", quoteShort(san), why))
			continue
		}
		add(san)
	}
	sort.Strings(ids)
	s.Identities = expandTrustDomains(ids, c.trustDomain, c.aliases)
	s.IdentitiesExact = len(ids) > 0 && (!usesPods || (c.pods != nil && !c.workloadEntriesUnreadable))

	s.Reachable, s.Reason = c.serviceEntryReachability(&spec, &s)
	if s.Reachable {
		var ports []portTarget
		for _, p := range spec.Ports {
			t := portTarget{service: uint32(p.Number), target: uint32(p.Number)}
			if p.TargetPort > 0 && p.TargetPort <= 65535 {
				t.target = uint32(p.TargetPort)
			}
			ports = append(ports, t)
		}
		c.applyPeerAuthentications(&s, c.disabledPorts(s.Namespace, workloads, ports))
	}
	c.applyGateways(&s)
	if s.Reachable && len(ids) == 0 {
		s.Warnings = append(s.Warnings, "no service account or subjectAltName declared: the identity check falls back to the trust-domain prefix")
	}
	return s
}

func (c *Catalog) serviceEntryReachability(spec *serviceEntrySpec, s *Service) (bool, string) {
	switch {
	case spec.Location != "MESH_INTERNAL":
		return false, "MESH_EXTERNAL: outside the mesh, never routed by the east-west gateway"
	case len(s.Hosts) == 0:
		return false, "no usable host"
	case len(s.Ports) == 0:
		return false, "no ports: the gateway routes by service port"
	case spec.Resolution == "" || spec.Resolution == "NONE":
		return false, "resolution NONE: the gateway has no endpoint to pass connections to"
	}
	if ok, why := visibleTo(spec.ExportTo, s.Namespace, c.rootNamespace); !ok {
		return false, why
	}
	if s.Endpoints == 0 {
		return false, "no ready endpoints"
	}
	return true, ""
}
