package mesh

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// entryAt is a reachable MESH_INTERNAL ServiceEntry with hosts, created at the given time.
func entryAt(ns, name string, created time.Time, exportTo []any, hosts ...string) *unstructured.Unstructured {
	var hs []any
	for _, h := range hosts {
		hs = append(hs, h)
	}
	spec := map[string]any{
		"hosts": hs, "location": "MESH_INTERNAL", "resolution": "STATIC",
		"ports":     []any{map[string]any{"number": int64(8080), "protocol": "HTTP", "name": "http"}},
		"endpoints": []any{map[string]any{"address": "10.9.0.1", "serviceAccount": "sa"}},
	}
	if exportTo != nil {
		spec["exportTo"] = exportTo
	}
	u := serviceEntry(seV1, ns, name, spec)
	u.SetCreationTimestamp(metav1.NewTime(created))
	return u
}

func conflictHosts(s Service) []string {
	var out []string
	for _, c := range s.Conflicts {
		out = append(out, c.Host+"→"+c.Winner)
	}
	return out
}

// Who gets a host two services claim: decided as istiod decides it for the east-west gateway,
// never by the order objects arrive in.
func TestCatalogHostConflicts(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ratings := service("bookinfo", "ratings", map[string]string{"app": "ratings"}, tcpPort("http", 9080))
	ratings.CreationTimestamp = metav1.NewTime(t0.Add(time.Hour)) // younger than every entry: still wins
	objs := []runtime.Object{meshNS("bookinfo"), meshNS("apps"), meshNS("istio-system"), ratings}
	entries := []runtime.Object{
		// Hostile: claims localhost, the Service's FQDN and short name, and a shared name.
		entryAt("apps", "squatter", t0, nil, "localhost", "ratings.bookinfo.svc.cluster.local", "ratings.bookinfo", "shared.corp", "mine.corp"),
		// Younger than squatter: loses shared.corp.
		entryAt("apps", "younger", t0.Add(time.Minute), nil, "shared.corp", "young.corp"),
		// Same second as squatter: "a-first" sorts before "squatter" by name, so it gets tie.corp.
		entryAt("apps", "a-first", t0, nil, "tie.corp"),
		entryAt("apps", "squatter2", t0, nil, "tie.corp", "other.corp"),
		// Exported to the gateway's namespace by name: beats an older public entry.
		entryAt("apps", "old-public", t0.Add(-time.Hour), nil, "pref.corp", "old.corp"),
		entryAt("apps", "exported", t0, []any{"istio-system"}, "pref.corp"),
		// Invisible to the gateway: takes no part, even though it is the oldest.
		entryAt("apps", "hidden", t0.Add(-2*time.Hour), []any{"."}, "young.corp"),
		// Every host lost: cannot be joined.
		entryAt("apps", "all-lost", t0.Add(time.Hour), nil, "shared.corp"),
	}
	c := startCatalog(t, nil, CatalogOptions{}, objs, entries, nil)
	get := func(key string) Service {
		for _, s := range c.Services() {
			if s.Key() == key && s.Kind == KindServiceEntry {
				return s
			}
		}
		t.Fatalf("no ServiceEntry %s", key)
		return Service{}
	}

	sq := get("squatter.apps")
	if !slices.Equal(sq.Hosts, []string{"shared.corp", "mine.corp"}) {
		t.Errorf("squatter hosts %v, want shared.corp mine.corp (localhost dropped, the Service's names lost)", sq.Hosts)
	}
	if got := conflictHosts(sq); !slices.Equal(got, []string{"ratings.bookinfo.svc.cluster.local→bookinfo/ratings (Service)", "ratings.bookinfo→bookinfo/ratings (Service)"}) {
		t.Errorf("squatter conflicts %v", got)
	}
	if !strings.Contains(sq.Conflicts[0].Reason, "Kubernetes Service") || !strings.Contains(strings.Join(sq.Warnings, ";"), `"localhost"`) {
		t.Errorf("reasons: %+v, warnings %v", sq.Conflicts, sq.Warnings)
	}
	if y := get("younger.apps"); !slices.Equal(y.Hosts, []string{"young.corp"}) || !strings.Contains(y.Conflicts[0].Reason, "older") {
		t.Errorf("younger: hosts %v conflicts %+v", y.Hosts, y.Conflicts)
	}
	if s2 := get("squatter2.apps"); !slices.Equal(conflictHosts(s2), []string{"tie.corp→apps/a-first (ServiceEntry)"}) || !strings.Contains(s2.Conflicts[0].Reason, "same second") {
		t.Errorf("squatter2 conflicts %+v", s2.Conflicts)
	}
	if op := get("old-public.apps"); !slices.Equal(conflictHosts(op), []string{"pref.corp→apps/exported (ServiceEntry)"}) {
		t.Errorf("old-public conflicts %+v", op.Conflicts)
	}
	if h := get("hidden.apps"); len(h.Conflicts) != 0 || h.Reachable {
		t.Errorf("hidden: %+v", h)
	}
	if al := get("all-lost.apps"); al.Reachable || len(al.Hosts) != 0 || !strings.Contains(al.Reason, "another service") {
		t.Errorf("all-lost: reachable %v hosts %v reason %q", al.Reachable, al.Hosts, al.Reason)
	}
	// Lookup by a lost host finds the owner only.
	if s := mustLookup(t, c.Catalog, "ratings.bookinfo"); s.Kind != KindService {
		t.Errorf("ratings.bookinfo → %s %s", s.Kind, s.Key())
	}
	if s := mustLookup(t, c.Catalog, "shared.corp"); s.Key() != "squatter.apps" {
		t.Errorf("shared.corp → %s", s.Key())
	}

	// The owner goes away: the next in line gets the name, live.
	if err := c.dyn.Resource(seV1).Namespace("apps").Delete(context.Background(), "squatter", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "younger gets shared.corp", func() bool {
		y := get("younger.apps")
		return slices.Contains(y.Hosts, "shared.corp") && len(y.Conflicts) == 0
	})
	if al := get("all-lost.apps"); al.Reachable {
		t.Errorf("all-lost became reachable: %+v", al)
	}
}

func TestExportGroup(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		exportTo []string
		ns       string
		group    int
		visible  bool
	}{
		{nil, "a", groupPublic, true},
		{[]string{"*", "."}, "a", groupPublic, true},
		{[]string{"~"}, "a", 0, false},
		{[]string{"."}, "a", 0, false},
		{[]string{"."}, "istio-system", groupPrivate, true},
		{[]string{"istio-system"}, "a", groupExported, true},
		{[]string{"b", "c"}, "a", 0, false},
	} {
		g, v := exportGroup(c.exportTo, c.ns, "istio-system")
		if v != c.visible || (v && g != c.group) {
			t.Errorf("exportGroup(%v, %s) = %d, %v; want %d, %v", c.exportTo, c.ns, g, v, c.group, c.visible)
		}
	}
}
