package session

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/testbed"
)

func TestParseGRPCJSON(t *testing.T) {
	for v, want := range map[string]GRPCJSON{
		"ledger.payments=api.pb":      {Service: "ledger.payments", DescriptorSet: "api.pb"},
		"ledger.payments:7070=a=b.pb": {Service: "ledger.payments", Port: 7070, DescriptorSet: "a=b.pb"},
	} {
		got, err := ParseGRPCJSON(v)
		if err != nil || got.Service != want.Service || got.Port != want.Port || got.DescriptorSet != want.DescriptorSet {
			t.Errorf("ParseGRPCJSON(%q) = %+v, %v; want %+v", v, got, err, want)
		}
		if err == nil && got.String() != v {
			t.Errorf("String() = %q, want %q", got.String(), v)
		}
	}
	for _, v := range []string{"ledger.payments", "=api.pb", "ledger.payments=", "ledger.payments:grpc=api.pb", ":7070=api.pb", "x:0=a.pb"} {
		var ue *UsageError
		if _, err := ParseGRPCJSON(v); !errors.As(err, &ue) || ue.Hint == "" {
			t.Errorf("ParseGRPCJSON(%q): %v, want a usage error with a hint", v, err)
		}
	}
}

// writeSet writes b to a file of a test directory and returns its path.
func writeSet(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadTranscodings(t *testing.T) {
	good := writeSet(t, "echo.pb", testbed.EchoDescriptorSet())
	got, err := loadTranscodings([]GRPCJSON{{Service: "ledger.payments", DescriptorSet: good}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got[0].Services, testbed.EchoJSONService) || !slices.Contains(got[0].Services, "grpc.testing.TestService") {
		t.Errorf("services %q: want every service of the set", got[0].Services)
	}
	named, err := loadTranscodings([]GRPCJSON{{Service: "ledger.payments", DescriptorSet: good, Services: []string{testbed.EchoJSONService}}})
	if err != nil || !slices.Equal(named[0].Services, []string{testbed.EchoJSONService}) {
		t.Errorf("named services: %v, %v", named, err)
	}

	cases := []struct {
		name string
		reqs []GRPCJSON
		want string
	}{
		{"missing file", []GRPCJSON{{Service: "a.b", DescriptorSet: filepath.Join(t.TempDir(), "nope.pb")}}, "cannot read the descriptor set"},
		{"a directory", []GRPCJSON{{Service: "a.b", DescriptorSet: t.TempDir()}}, "cannot read the descriptor set"},
		{"a .proto, not a set", []GRPCJSON{{Service: "a.b", DescriptorSet: writeSet(t, "x.proto", []byte("syntax = \"proto3\";\n"))}}, "is not a usable descriptor set: not a FileDescriptorSet"},
		{"unknown service", []GRPCJSON{{Service: "a.b", DescriptorSet: good, Services: []string{"x.Y"}}}, "service x.Y is not in"},
		{"twice", []GRPCJSON{{Service: "a.b", DescriptorSet: good}, {Service: "a.b", DescriptorSet: good}}, "named twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadTranscodings(tc.reqs)
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tc.want) || ue.Hint == "" {
				t.Fatalf("error %v, want a usage error saying %q with a hint", err, tc.want)
			}
		})
	}
	proxy := Config{Identity: "dev/alice", Mode: ModeProxy, GRPCJSON: []GRPCJSON{{Service: "a.b", DescriptorSet: good}}}
	if err := proxy.Validate(); err == nil || !strings.Contains(err.Error(), "needs hosts mode") {
		t.Errorf("Validate in proxy mode: %v, want a refusal", err)
	}
	// The Config check does the same, before anything is done.
	cfg := Config{Identity: "dev/alice", GRPCJSON: []GRPCJSON{{Service: "a.b", DescriptorSet: "/nonexistent/x.pb"}}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "/nonexistent/x.pb") {
		t.Errorf("Validate: %v, want the unreadable set named", err)
	}
}

func TestMakePlanGRPCJSON(t *testing.T) {
	grpc := mesh.Port{Name: "grpc", Number: 7070, Protocol: mesh.ProtocolGRPC}
	grpc2 := mesh.Port{Name: "grpc-admin", Number: 7071, Protocol: mesh.ProtocolGRPC}
	http := mesh.Port{Name: "http", Number: 9080, Protocol: mesh.ProtocolHTTP}
	lookup := testCatalog(svc("ledger", "payments", http, grpc), svc("ratings", "bookinfo", http), svc("two", "x", grpc, grpc2))
	set := testbed.EchoDescriptorSet()
	services, err := envoy.ParseDescriptorSet(set)
	if err != nil {
		t.Fatal(err)
	}
	tr := func(service string, port uint32) transcoding {
		return transcoding{GRPCJSON: GRPCJSON{Service: service, Port: port, DescriptorSet: "/d/echo.pb", Services: services}, set: set}
	}
	in := func(ts ...transcoding) planInput {
		return planInput{Lookup: lookup, Gateway: envoy.Gateway{Host: "192.0.2.1", Port: 15443}, TrustDomains: []string{"td"},
			AddressRange: DefaultAddressRange, Transcodings: ts}
	}

	// ratings has no gRPC port, but is not joined: only a warning, like the unknown service.
	plan, joined, warnings, err := makePlan(in(tr("ledger.payments", 0), tr("ratings.bookinfo.svc.cluster.local", 0), tr("db.nowhere", 0)), []string{"ledger.payments.svc.cluster.local"})
	if err != nil {
		t.Fatal(err)
	}
	if got := envoy.ListenerNames(plan); !slices.Equal(got, []string{"ledger.payments:9080", "ledger.payments:7070", "ledger.payments:7070+json"}) {
		t.Errorf("listeners %q", got)
	}
	j := plan.Services[0].GRPCJSON[0]
	if j.Port != 17070 || j.GRPCPort != 7070 || !slices.Equal(j.DescriptorSet, set) || !slices.Equal(j.Services, services) {
		t.Errorf("envoy listener %+v", j)
	}
	want := GRPCJSONListener{Port: 17070, GRPCPort: 7070, Listener: "ledger.payments:7070+json", DescriptorSet: "/d/echo.pb", Services: services}
	if got := joined[0].GRPCJSON; len(got) != 1 || got[0].Listener != want.Listener || got[0].Port != want.Port || got[0].DescriptorSet != want.DescriptorSet {
		t.Errorf("joined listener %+v, want %+v", got, want)
	}
	if u := joined[0].GRPCJSONURL(joined[0].GRPCJSON[0]); u != "http://ledger.payments:17070" {
		t.Errorf("URL %s", u)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0].Msg, "no JSON listener: it is not joined") || !strings.Contains(warnings[1].Msg, "db.nowhere") {
		t.Errorf("warnings %v, want one for ratings (not joined) and one for db.nowhere (unknown)", warnings)
	}

	for _, tc := range []struct {
		name  string
		t     transcoding
		names []string
		want  string
	}{
		{"no gRPC port", tr("ratings.bookinfo", 0), []string{"ratings.bookinfo"}, "ratings.bookinfo: it has no gRPC (http2) port"},
		{"several gRPC ports", tr("two.x", 0), []string{"two.x"}, "several gRPC ports (7070, 7071): name one"},
		{"an HTTP port named", tr("ledger.payments", 9080), []string{"ledger.payments"}, "port 9080 is not a gRPC (http2) port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := makePlan(in(tc.t), tc.names)
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tc.want) || ue.Hint == "" {
				t.Fatalf("error %v, want a usage error saying %q", err, tc.want)
			}
		})
	}
	plan, _, _, err = makePlan(in(tr("two.x", 7071)), []string{"two.x"})
	if err != nil || plan.Services[0].GRPCJSON[0].Port != 17071 {
		t.Errorf("a named gRPC port: %v", err)
	}
}
