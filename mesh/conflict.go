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
	names   []string // lower-cased: the hosts, and a Service's short forms
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
	cl := claim{names: claimedNames(s, c.clusterDomain)}
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

// claimedNames are the names a service would put in the hosts file: a Service's FQDN and
// short forms (<name>.<namespace>.svc, <name>.<namespace>), a ServiceEntry's hosts.
func claimedNames(s *Service, clusterDomain string) []string {
	var out []string
	for _, h := range s.Hosts {
		out = append(out, strings.ToLower(h))
	}
	if s.Kind == KindService {
		key := strings.ToLower(s.Key())
		out = append(out, key+".svc", key)
	}
	slices.Sort(out)
	return slices.Compact(out)
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
	for _, k := range c.claims[name] {
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
		for _, n := range old.names {
			refs := slices.DeleteFunc(c.claims[n], func(o objKey) bool { return o == k })
			if len(refs) == 0 {
				delete(c.claims, n)
			} else {
				c.claims[n] = refs
			}
			touched = append(touched, n)
		}
		delete(c.claimInfo, k)
	}
	if s == nil {
		return touched
	}
	cl := c.claimOf(k, s)
	c.claimInfo[k] = cl
	for _, n := range cl.names {
		c.claims[n] = append(c.claims[n], k)
		touched = append(touched, n)
	}
	return touched
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
