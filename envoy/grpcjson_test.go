package envoy

import (
	"net/netip"
	"slices"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	transcoderv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_json_transcoder/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/meshjoin/meshjoin/testbed"
)

// grpcJSONPlan is the testbed's gRPC echo (ledger.payments:7070) with a JSON listener for
// the echo's descriptor set.
func grpcJSONPlan(t *testing.T) Plan {
	t.Helper()
	set := testbed.EchoDescriptorSet()
	services, err := ParseDescriptorSet(set)
	if err != nil {
		t.Fatal(err)
	}
	return Plan{
		Gateway:      Gateway{Host: "127.0.0.50", Port: 15443},
		TrustDomains: []string{"cluster.local"},
		Services: []Service{{
			Key: "ledger.payments", Host: "ledger.payments.svc.cluster.local",
			ListenIP: netip.MustParseAddr("127.77.3.8"), Ports: []Port{{Number: 7070, Protocol: HTTP2}},
			Identities: []string{"spiffe://cluster.local/ns/payments/sa/ledger"},
			GRPCJSON:   []GRPCJSON{{Port: 17070, GRPCPort: 7070, DescriptorSet: set, Services: services}},
		}},
	}
}

func TestParseDescriptorSet(t *testing.T) {
	services, err := ParseDescriptorSet(testbed.EchoDescriptorSet())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{testbed.EchoJSONService, "grpc.testing.TestService", "grpc.testing.UnimplementedService"} {
		if !slices.Contains(services, want) {
			t.Errorf("services %q lack %s", services, want)
		}
	}
	if !slices.IsSorted(services) {
		t.Errorf("services not sorted: %q", services)
	}

	var full descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(testbed.EchoDescriptorSet(), &full); err != nil {
		t.Fatal(err)
	}
	marshal := func(files ...*descriptorpb.FileDescriptorProto) []byte {
		b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: files})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	otherMessage, err := proto.Marshal(&descriptorpb.FileDescriptorProto{Package: proto.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	var echoFile, descriptorFile *descriptorpb.FileDescriptorProto
	for _, f := range full.GetFile() {
		switch f.GetName() {
		case "meshjoin/testbed/v1/echo.proto":
			echoFile = f
		case "google/protobuf/descriptor.proto":
			descriptorFile = f
		}
	}
	if echoFile == nil || descriptorFile == nil {
		t.Fatal("the echo set lacks the echo file or descriptor.proto")
	}
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "the file is empty"},
		{"text, not protobuf", []byte("syntax = \"proto3\";\nservice Echo {}\n"), "not a FileDescriptorSet"},
		// Another message: field 2 is unknown to a FileDescriptorSet, so it parses, without files.
		{"another message", otherMessage, "not a FileDescriptorSet: it holds no files"},
		// protoc without --include_imports: the annotations the file imports are missing.
		{"missing import", marshal(echoFile), "an import is missing from the set"},
		{"no services", marshal(descriptorFile), "it defines no gRPC service"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDescriptorSet(tc.b)
			if !errContains(err, tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if _, ok := err.(*DescriptorSetError); !ok {
				t.Errorf("error is %T, want *DescriptorSetError", err)
			}
		})
	}
}

// TestGRPCJSONListener checks the listener's pieces, and that the real Envoy takes them
// (envoy --mode validate builds the transcoder from the descriptor set).
func TestGRPCJSONListener(t *testing.T) {
	plan := grpcJSONPlan(t)
	res, err := BuildResources(plan, goldenCreds(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := ListenerNames(plan); !slices.Equal(got, []string{"ledger.payments:7070", "ledger.payments:7070+json"}) {
		t.Errorf("ListenerNames = %q", got)
	}
	if len(res.Clusters) != 1 || len(res.Listeners) != 2 {
		t.Fatalf("%d clusters, %d listeners; want 1 cluster (the gRPC port's, shared) and 2 listeners", len(res.Clusters), len(res.Listeners))
	}
	l := res.Listeners[1].(*listenerv3.Listener)
	if sa := l.GetAddress().GetSocketAddress(); l.GetName() != "ledger.payments:7070+json" || sa.GetAddress() != "127.77.3.8" || sa.GetPortValue() != 17070 {
		t.Errorf("listener %s at %s:%d, want ledger.payments:7070+json at 127.77.3.8:17070", l.GetName(), sa.GetAddress(), sa.GetPortValue())
	}
	var hcm hcmv3.HttpConnectionManager
	if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	var filters []string
	for _, f := range hcm.GetHttpFilters() {
		filters = append(filters, f.GetName())
	}
	if !slices.Equal(filters, []string{wellknown.GRPCJSONTranscoder, wellknown.Router}) {
		t.Errorf("HTTP filters %q, want the transcoder, then the router", filters)
	}
	var tc transcoderv3.GrpcJsonTranscoder
	if err := hcm.GetHttpFilters()[0].GetTypedConfig().UnmarshalTo(&tc); err != nil {
		t.Fatal(err)
	}
	j := plan.Services[0].GRPCJSON[0]
	if !slices.Equal(tc.GetProtoDescriptorBin(), j.DescriptorSet) || !slices.Equal(tc.GetServices(), j.Services) {
		t.Error("the transcoder does not carry the descriptor set and services of the plan")
	}
	if !tc.GetAutoMapping() || !tc.GetConvertGrpcStatus() || !tc.GetRequestValidationOptions().GetRejectUnknownMethod() {
		t.Errorf("transcoder options: auto_mapping %v, convert_grpc_status %v, reject_unknown_method %v; want all true",
			tc.GetAutoMapping(), tc.GetConvertGrpcStatus(), tc.GetRequestValidationOptions().GetRejectUnknownMethod())
	}
	route := hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()[0].GetAction().(*routev3.Route_Route).Route
	if route.GetCluster() != "ledger.payments:7070" {
		t.Errorf("route to %q, want the gRPC port's cluster ledger.payments:7070", route.GetCluster())
	}
	envoyValidate(t, envoyBinary(t), res)
}

// TestEnvoyRejectsUnknownTranscodedService shows why the plan is checked first: Envoy refuses
// a service missing from the set (a NACK at run time).
func TestEnvoyRejectsUnknownTranscodedService(t *testing.T) {
	plan := grpcJSONPlan(t)
	plan.Services[0].GRPCJSON[0].Services = []string{"no.such.Service"}
	l, err := buildGRPCJSONListener(plan.Services[0], plan.Services[0].GRPCJSON[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := BuildResources(plan, goldenCreds(t)); !errContains(err, `service "no.such.Service" is not in the descriptor set`) {
		t.Fatalf("BuildResources: %v, want the unknown service named", err)
	}
	good := grpcJSONPlan(t)
	good.Services[0].GRPCJSON = nil
	res, err := BuildResources(good, goldenCreds(t))
	if err != nil {
		t.Fatal(err)
	}
	res.Listeners = append(res.Listeners, l)
	if !envoyValidateFails(t, envoyBinary(t), res) {
		t.Fatal("envoy --mode validate took a transcoder for a service the set does not define")
	}
}

// In a published Envoy the JSON listener is a filter chain of the one listener, matched on the
// service's address and the JSON port (where the Forwarder accepted the connection).
func TestGRPCJSONPublished(t *testing.T) {
	plan := Publish(grpcJSONPlan(t))
	res, err := BuildResources(plan, goldenCreds(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Listeners) != 1 {
		t.Fatalf("%d listeners, want the one published listener", len(res.Listeners))
	}
	var chain *listenerv3.FilterChain
	for _, c := range res.Listeners[0].(*listenerv3.Listener).GetFilterChains() {
		if c.GetName() == "ledger.payments:7070+json" {
			chain = c
		}
	}
	if chain == nil {
		t.Fatal("no filter chain named ledger.payments:7070+json")
	}
	m := chain.GetFilterChainMatch()
	if m.GetDestinationPort().GetValue() != 17070 || len(m.GetPrefixRanges()) != 1 || m.GetPrefixRanges()[0].GetAddressPrefix() != "127.77.3.8" {
		t.Errorf("chain matches %v, want 127.77.3.8 port 17070", m)
	}
	envoyValidate(t, envoyBinary(t), res)
}

func TestGRPCJSONRejectsBadPlan(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Service)
		want   string
	}{
		{"target port missing", func(s *Service) { s.GRPCJSON[0].GRPCPort = 7071 }, "the service has no port 7071"},
		{"target port not gRPC", func(s *Service) { s.Ports[0].Protocol = HTTP }, "port 7070 is http, not gRPC (http2)"},
		{"port zero", func(s *Service) { s.GRPCJSON[0].Port = 0 }, "port 0 out of range"},
		{"on a port of the service", func(s *Service) {
			s.Ports = append(s.Ports, Port{Number: 17070, Protocol: TCP})
		}, `address 127.77.3.8:17070 already used by service "ledger.payments"`},
		{"no services", func(s *Service) { s.GRPCJSON[0].Services = nil }, "no services to transcode"},
		{"broken set", func(s *Service) { s.GRPCJSON[0].DescriptorSet = []byte("x") }, "descriptor set: not a FileDescriptorSet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := grpcJSONPlan(t)
			tc.change(&plan.Services[0])
			_, err := BuildResources(plan, goldenCreds(t))
			if !errContains(err, `service "ledger.payments"`, tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestGRPCPortOf(t *testing.T) {
	ports := []Port{{Number: 8080, Protocol: HTTP}, {Number: 7070, Protocol: HTTP2}}
	two := append(slices.Clone(ports), Port{Number: 7071, Protocol: HTTP2})
	cases := []struct {
		ports []Port
		want  uint32
		got   uint32
		err   string
	}{
		{ports, 0, 7070, ""},
		{ports, 7070, 7070, ""},
		{ports, 8080, 0, "port 8080 is not a gRPC (http2) port"},
		{ports, 9, 0, "it has no port 9"},
		{ports[:1], 0, 0, "it has no gRPC (http2) port"},
		{two, 0, 0, "it has several gRPC ports (7070, 7071): name one"},
		{two, 7071, 7071, ""},
	}
	for _, tc := range cases {
		got, err := GRPCPortOf(tc.ports, tc.want)
		if got != tc.got || (tc.err == "") != (err == nil) || (err != nil && !errContains(err, tc.err)) {
			t.Errorf("GRPCPortOf(%v, %d) = %d, %v; want %d, %q", tc.ports, tc.want, got, err, tc.got, tc.err)
		}
	}
	if c := ClusterOf("ledger.payments:7070+json"); c != "ledger.payments:7070" {
		t.Errorf("ClusterOf the JSON listener = %s", c)
	}
	if c := ClusterOf("ledger.payments:7070"); c != "ledger.payments:7070" {
		t.Errorf("ClusterOf a port's listener = %s", c)
	}
	if p, err := GRPCJSONPort(7070); p != 17070 || err != nil {
		t.Errorf("GRPCJSONPort(7070) = %d, %v", p, err)
	}
	if _, err := GRPCJSONPort(60000); !errContains(err, "beyond 65535") {
		t.Errorf("GRPCJSONPort(60000): %v", err)
	}
}

// The published mode's Forwarder listens on the JSON listener's address too.
func TestForwarderGRPCJSON(t *testing.T) {
	f := NewForwarder(proxyProtocolEcho(t))
	defer f.Close()
	ledger := svc("ledger.payments", HTTP2, 7070)
	ledger.ListenIP = nextLoopback(t)
	ledger.GRPCJSON = []GRPCJSON{{Port: 17070, GRPCPort: 7070}}
	if err := f.Set(forwardPlan(ledger)); err != nil {
		t.Fatal(err)
	}
	json := netip.AddrPortFrom(ledger.ListenIP, 17070)
	if got := f.Addrs(); !slices.Contains(got, json) {
		t.Fatalf("listening on %v, want %s too", got, json)
	}
	exchange(t, json)
}
