package daemon

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

var errGone = errors.New("gone")

func TestProxyEnvironment(t *testing.T) {
	svcs := []session.JoinedService{
		{Key: "ratings.bookinfo", Names: []string{"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc", "ratings.bookinfo"}, Ports: []session.Port{{Number: 9080}}},
		{Key: "api.payments", Names: []string{"api.stripe.com"}, Ports: []session.Port{{Number: 443}}}, // a ServiceEntry
		{Key: "qa.x", Names: []string{"ratings.qa"}, Ports: []session.Port{{Number: 80}}},              // a two-letter namespace
	}
	vars := ProxyEnvironment("127.0.0.1:15080", svcs)
	got := map[string]string{}
	for _, v := range vars {
		got[v.Name] = v.Value
	}
	for _, name := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		if got[name] != "http://127.0.0.1:15080" {
			t.Errorf("%s = %q", name, got[name])
		}
	}
	if got["NO_PROXY"] != got["no_proxy"] || got["NO_PROXY"] == "" {
		t.Fatalf("NO_PROXY %q, no_proxy %q", got["NO_PROXY"], got["no_proxy"])
	}
	list := strings.Split(got["NO_PROXY"], ",")
	for _, direct := range []string{"localhost", "127.0.0.1", "::1", "0.0.0.0/1", "128.0.0.0/1", ".org", ".de", ".uk", ".io", ".dev"} {
		if !slices.Contains(list, direct) {
			t.Errorf("NO_PROXY lacks %s", direct)
		}
	}
	// The joined names' last labels must reach the proxy: svc, local, bookinfo, com (the
	// ServiceEntry's), qa.
	for _, mesh := range []string{".svc", ".local", ".bookinfo", ".com", ".qa"} {
		if slices.Contains(list, mesh) {
			t.Errorf("NO_PROXY has %s: a joined name would bypass the proxy", mesh)
		}
	}
	if !slices.IsSorted(list[len(alwaysDirect):]) {
		t.Error("the domains are not in a stable order")
	}
}

// In proxy mode a service's host is its full name, and the proxy variables come last.
func TestEnvironmentProxyMode(t *testing.T) {
	st := session.State{ID: "s1", Mode: session.ModeProxy, ProxyAddr: "127.0.0.1:15080", Services: []session.JoinedService{
		{Key: "ratings.bookinfo", Names: []string{"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo"}, Proxy: "http://127.0.0.1:15080", Ports: []session.Port{{Number: 9080}}},
	}}
	vars, _ := Environment(st, func(string) (mesh.Service, error) { return mesh.Service{}, errGone })
	got := map[string]string{}
	for _, v := range vars {
		got[v.Name] = v.Value
	}
	if got["RATINGS_SERVICE_HOST"] != "ratings.bookinfo.svc.cluster.local" || got["RATINGS_PORT"] != "tcp://ratings.bookinfo.svc.cluster.local:9080" {
		t.Errorf("host variables: %q, %q", got["RATINGS_SERVICE_HOST"], got["RATINGS_PORT"])
	}
	if got["HTTP_PROXY"] != "http://127.0.0.1:15080" || vars[len(vars)-1].Name != "no_proxy" {
		t.Errorf("proxy variables missing or not last: %v", vars[len(vars)-4:])
	}
}
