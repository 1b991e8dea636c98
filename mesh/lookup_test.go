package mesh

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

func TestLookup(t *testing.T) {
	t.Parallel()
	c := startCatalog(t, nil, CatalogOptions{}, []runtime.Object{
		meshNS("bookinfo"), meshNS("shop"), meshNS("staging"),
		service("bookinfo", "ratings", nil, tcpPort("http", 9080)),
		service("bookinfo", "reviews", nil, tcpPort("http", 9080)),
		service("bookinfo", "details", nil, tcpPort("http", 9080)),
		service("shop", "web", nil, tcpPort("http", 80)),
		service("staging", "web", nil, tcpPort("http", 80)),
		service("shop", "cart", nil, tcpPort("http", 80)),
	}, []runtime.Object{
		serviceEntry(seV1, "shop", "vms", map[string]any{"hosts": []any{"vm.corp.internal", "Legacy.Corp.Internal"}}),
		// A host equal to the Service's key: the Service owns that name (conflict.go).
		serviceEntry(seV1, "staging", "cart", map[string]any{"hosts": []any{"cart.shop", "cart.staging.corp"}}),
	}, nil)

	for _, tc := range []struct {
		query string
		want  string // Key() and Kind of the match
	}{
		{"ratings.bookinfo", "ratings.bookinfo Service"},
		{"ratings.bookinfo.svc", "ratings.bookinfo Service"},
		{"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo Service"},
		{"ratings.bookinfo.svc.cluster.local.", "ratings.bookinfo Service"},
		{" Ratings.BookInfo ", "ratings.bookinfo Service"},
		{"bookinfo/ratings", "ratings.bookinfo Service"},
		{"reviews", "reviews.bookinfo Service"}, // a unique bare name
		{"vm.corp.internal", "vms.shop ServiceEntry"},
		{"legacy.corp.internal", "vms.shop ServiceEntry"},
		{"vms.shop", "vms.shop ServiceEntry"},
		{"vms", "vms.shop ServiceEntry"},
		{"cart.shop", "cart.shop Service"},
	} {
		got, err := c.Lookup(tc.query)
		if err != nil {
			t.Errorf("Lookup(%q): %v", tc.query, err)
			continue
		}
		if s := got.Key() + " " + string(got.Kind); s != tc.want {
			t.Errorf("Lookup(%q) = %s, want %s", tc.query, s, tc.want)
		}
	}

	for _, tc := range []struct {
		query      string
		candidates []string
	}{
		{"web", []string{"web.shop", "web.staging"}},
		{"cart", []string{"cart.shop", "cart.staging (ServiceEntry)"}},
	} {
		_, err := c.Lookup(tc.query)
		var amb *ErrAmbiguousService
		if !errors.As(err, &amb) {
			t.Errorf("Lookup(%q) error = %v, want *ErrAmbiguousService", tc.query, err)
			continue
		}
		if !slices.Equal(amb.Candidates, tc.candidates) {
			t.Errorf("Lookup(%q) candidates = %v, want %v", tc.query, amb.Candidates, tc.candidates)
		}
		for _, cand := range tc.candidates {
			if !strings.Contains(err.Error(), cand) {
				t.Errorf("error %q does not name %q", err, cand)
			}
		}
	}

	for _, tc := range []struct {
		query       string
		suggestions []string
	}{
		{"ratngs.bookinfo", []string{"ratings.bookinfo"}},
		{"reveiws.bookinfo.svc.cluster.local", []string{"reviews.bookinfo"}},
		{"bookinfo/detail", []string{"details.bookinfo"}},
		{"rating", []string{"ratings.bookinfo"}},
		{"vm.corp.internl", []string{"vm.corp.internal"}},
		{"we", []string{"web.shop", "web.staging"}},
		{"car.shop", []string{"cart.shop"}}, // ServiceEntry host and Service key are the same text
		{"zzzzzzzzzzzz", nil},
	} {
		_, err := c.Lookup(tc.query)
		var unknown *ErrUnknownService
		if !errors.As(err, &unknown) {
			t.Errorf("Lookup(%q) error = %v, want *ErrUnknownService", tc.query, err)
			continue
		}
		if !slices.Equal(unknown.Suggestions, tc.suggestions) {
			t.Errorf("Lookup(%q) suggestions = %q, want %q", tc.query, unknown.Suggestions, tc.suggestions)
		}
		if len(tc.suggestions) > 0 && !strings.Contains(err.Error(), "did you mean "+tc.suggestions[0]) {
			t.Errorf("error %q does not suggest %q", err, tc.suggestions[0])
		}
	}
}

func TestLookupAtMostThreeSuggestions(t *testing.T) {
	t.Parallel()
	var objs []runtime.Object
	for _, ns := range []string{"a1", "a2", "a3", "a4", "a5"} {
		objs = append(objs, namespace(ns, nil), service(ns, "api", nil, tcpPort("http", 80)))
	}
	c := startCatalog(t, nil, CatalogOptions{}, objs, nil, nil)
	_, err := c.Lookup("api.a")
	var unknown *ErrUnknownService
	if !errors.As(err, &unknown) {
		t.Fatalf("Lookup error = %v", err)
	}
	if want := []string{"api.a1", "api.a2", "api.a3"}; !slices.Equal(unknown.Suggestions, want) {
		t.Errorf("Suggestions = %v, want %v", unknown.Suggestions, want)
	}
	if want := `unknown service "api.a"; did you mean api.a1, api.a2 or api.a3?`; err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b  string
		limit int
		want  int
	}{
		{"", "", 3, 0},
		{"ratings", "ratings", 3, 0},
		{"ratngs", "ratings", 3, 1},
		{"reveiws", "reviews", 3, 2},
		{"kitten", "sitting", 3, 3},
		{"kitten", "sitting", 2, 3}, // over the limit: limit+1
		{"a", "abcdefgh", 3, 4},
		{"héllo", "hello", 3, 1},
	} {
		if got := editDistance(tc.a, tc.b, tc.limit); got != tc.want {
			t.Errorf("editDistance(%q, %q, %d) = %d, want %d", tc.a, tc.b, tc.limit, got, tc.want)
		}
	}
}
