package mesh

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Two services may claim the same host name: a ServiceEntry may list any host, another
// ServiceEntry's or a Kubernetes Service's included. The catalogue decides who owns a name
// the way istiod does for the proxy that routes meshjoin's traffic, the east-west gateway in
// the root namespace (pilot/pkg/model: PushContext.initServiceRegistry sorts services by
// creationTimestamp, then name, then namespace; servicesExportedToNamespace lists those
// private or exported to the proxy's namespace before the public ones;
// SidecarScope.appendSidecarServices keeps the first and lets only a Kubernetes Service
// replace a service of another registry). The developer's own namespace gets no preference:
// no sidecar of theirs takes part, the gateway picks the destination from the SNI alone.
// Services the gateway cannot see take no part either way.

// HostConflict is a host name a service declares but does not get: another service owns it.
type HostConflict struct {
	Host   string `json:"host"`
	Winner string `json:"winner"` // "namespace/name (Kind)"
	Reason string `json:"reason"`
}

func (h HostConflict) String() string {
	return fmt.Sprintf("host %s goes to %s: %s", h.Host, h.Winner, h.Reason)
}

// claim is what the catalogue needs to rank a service's claim on its names.
type claim struct {
	names   []string // a ServiceEntry's hosts, lower-cased (a Service's follow from its key: claimNames)
	visible bool     // exported to the gateway's namespace
	group   int      // 0 private to the gateway's namespace, 1 exported to it by name, 2 public
	created time.Time
}

// Export groups, in the order istiod lists services for a proxy's namespace.
const (
	groupPrivate = iota
	groupExported
	groupPublic
)

// exportGroup places a service with exportTo, in namespace ns, in the view of namespace
// viewer; visible is false when viewer cannot see it at all.
func exportGroup(exportTo []string, ns, viewer string) (group int, visible bool) {
	if len(exportTo) == 0 || slices.Contains(exportTo, "*") {
		return groupPublic, true
	}
	if slices.Contains(exportTo, "~") {
		return 0, false
	}
	best, seen := groupPublic, false
	for _, e := range exportTo {
		switch {
		case e == "." || e == ns:
			if ns == viewer {
				best, seen = groupPrivate, true
			}
		case e == viewer:
			if !seen || best > groupExported {
				best, seen = groupExported, true
			}
		}
	}
	return best, seen
}

// claimOf reads what ranks s's claim from its cluster object.
func (c *Catalog) claimOf(k objKey, s *Service) claim {
	var cl claim
	if k.kind == KindServiceEntry {
		cl.names = entryClaimedNames(s)
	}
	var exportTo []string
	switch k.kind {
	case KindService:
		if obj, ok, _ := c.services.GetIndexer().GetByKey(k.ns + "/" + k.name); ok {
			if m, ok := obj.(metav1.Object); ok {
				cl.created = m.GetCreationTimestamp().Time
				exportTo = splitList(m.GetAnnotations()[annotationExportTo])
			}
		}
	case KindServiceEntry:
		if obj, ok, _ := c.entries.GetIndexer().GetByKey(k.ns + "/" + k.name); ok {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				cl.created = u.GetCreationTimestamp().Time
				exportTo, _, _ = unstructured.NestedStringSlice(u.Object, "spec", "exportTo")
			}
		}
	}
	cl.group, cl.visible = exportGroup(exportTo, k.ns, c.rootNamespace)
	return cl
}

// entryClaimedNames are the names a ServiceEntry would put in the hosts file: its hosts.
func entryClaimedNames(s *Service) []string {
	var out []string
	for _, h := range s.Hosts {
		out = append(out, strings.ToLower(h))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// claimNames are the names k claims: a ServiceEntry's hosts as recorded in its claim; a
// Service's FQDN and short forms (<name>.<namespace>.svc, <name>.<namespace>), which follow
// from its key. Only ServiceEntries' claims are kept in c.claims: with 10,000 services the
// Services' would cost megabytes, and serviceClaimants finds them from a name instead.
func (c *Catalog) claimNames(k objKey, cl claim) []string {
	if k.kind != KindService {
		return cl.names
	}
	key := strings.ToLower(k.name + "." + k.ns)
	return []string{key + ".svc." + strings.ToLower(c.clusterDomain), key + ".svc", key}
}

// serviceClaimants are the Services in the catalogue whose claimNames include name. Service
// names and namespaces hold no dot, so name read as <name>.<namespace>, with the FQDN or
// ".svc" suffix taken off or not, can only be a few keys.
func (c *Catalog) serviceClaimants(name string) []objKey {
	var out []objKey
	forms := []string{name}
	for _, suffix := range []string{".svc." + strings.ToLower(c.clusterDomain), ".svc"} {
		if key, ok := strings.CutSuffix(name, suffix); ok {
			forms = append(forms, key)
		}
	}
	for _, key := range forms {
		svc, ns, ok := strings.Cut(key, ".")
		if !ok || svc == "" || ns == "" || strings.Contains(ns, ".") {
			continue
		}
		k := objKey{ns: ns, name: svc, kind: KindService}
		if _, known := c.claimInfo[k]; known {
			out = append(out, k)
		}
	}
	return out
}

// beats reports whether a's claim on a name comes before b's, as istiod orders them.
func beats(a, b objKey, ca, cb claim) bool {
	if (a.kind == KindService) != (b.kind == KindService) {
		return a.kind == KindService
	}
	if ca.group != cb.group {
		return ca.group < cb.group
	}
	if r := ca.created.Compare(cb.created); r != 0 {
		return r < 0
	}
	if r := cmp.Compare(a.name, b.name); r != 0 {
		return r < 0
	}
	return a.ns < b.ns
}

// owner returns who owns name among its visible claimants.
func (c *Catalog) owner(name string) (objKey, bool) {
	var best objKey
	found := false
	for _, k := range append(c.serviceClaimants(name), c.claims[name]...) {
		cl := c.claimInfo[k]
		if !cl.visible {
			continue
		}
		if !found || beats(k, best, cl, c.claimInfo[best]) {
			best, found = k, true
		}
	}
	return best, found
}

// setClaim records k's claim (nil: k is gone) and returns the names whose owner may change.
func (c *Catalog) setClaim(k objKey, s *Service) []string {
	var touched []string
	if old, ok := c.claimInfo[k]; ok {
		for _, n := range old.names { // a ServiceEntry's: a Service's are not kept
			refs := slices.DeleteFunc(c.claims[n], func(o objKey) bool { return o == k })
			if len(refs) == 0 {
				delete(c.claims, n)
			} else {
				c.claims[n] = refs
			}
		}
		touched = append(touched, c.claimNames(k, old)...)
		delete(c.claimInfo, k)
	}
	if s == nil {
		return touched
	}
	cl := c.claimOf(k, s)
	c.claimInfo[k] = cl
	for _, n := range cl.names {
		c.claims[n] = append(c.claims[n], k)
	}
	return append(touched, c.claimNames(k, cl)...)
}

// publish is the entry as shown: raw without the hosts another service owns, each named in
// Conflicts. A ServiceEntry left without hosts cannot be joined.
func (c *Catalog) publish(k objKey) *Service {
	raw := c.raw[k]
	if raw == nil {
		return nil
	}
	cl, ok := c.claimInfo[k]
	if !ok || !cl.visible || raw.Kind == KindService {
		return raw // Services own their names; invisible services show why they are unreachable
	}
	var kept []string
	var lost []HostConflict
	for _, h := range raw.Hosts {
		w, found := c.owner(strings.ToLower(h))
		if !found || w == k {
			kept = append(kept, h)
			continue
		}
		lost = append(lost, HostConflict{Host: h, Winner: w.ns + "/" + w.name + " (" + string(w.kind) + ")", Reason: c.whyWins(w, k)})
	}
	if len(lost) == 0 {
		return raw
	}
	out := *raw
	out.Hosts = kept
	out.Conflicts = lost
	if len(kept) == 0 && out.Reachable {
		out.Reachable = false
		out.Reason = "every host belongs to another service (see conflicts)"
	}
	return &out
}

// whyWins says in a few words why w's claim beats l's.
func (c *Catalog) whyWins(w, l objKey) string {
	cw, cl := c.claimInfo[w], c.claimInfo[l]
	switch {
	case w.kind == KindService:
		return "a Kubernetes Service's own name wins over a ServiceEntry host, as in Istio"
	case cw.group != cl.group:
		return "it is exported to the gateway's namespace " + c.rootNamespace + " by name, which Istio prefers to public services"
	case !cw.created.Equal(cl.created):
		return fmt.Sprintf("it is older (created %s), and Istio keeps the oldest", cw.created.UTC().Format(time.RFC3339))
	default:
		return "created in the same second, and Istio then keeps the first by name and namespace"
	}
}
