package envoy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	transcoderv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_json_transcoder/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// GRPCJSONPortOffset is how far above the gRPC port its JSON listener is, on the service's own
// address: ledger.payments:7070 speaks gRPC, ledger.payments:17070 JSON. A fixed offset keeps
// the port predictable across sessions and machines.
const GRPCJSONPortOffset = 10000

// GRPCJSON is an extra listener of a service that takes JSON over HTTP (per the methods'
// google.api.http annotations, or POST /<package>.<Service>/<Method>) and calls the service's
// gRPC port through the same mTLS cluster as that port's own listener.
type GRPCJSON struct {
	// Port is where the listener binds on the service's address.
	Port uint32
	// GRPCPort is the service port called; it must be one of the service's HTTP2 ports.
	GRPCPort uint32
	// DescriptorSet is a serialized google.protobuf.FileDescriptorSet with every import
	// (protoc --include_imports). ParseDescriptorSet checks one.
	DescriptorSet []byte
	// Services are the fully qualified gRPC services transcoded, e.g. "pkg.Greeter".
	Services []string
}

// GRPCJSONPort is the JSON listener's port for a gRPC port, or an error when it would be
// beyond 65535.
func GRPCJSONPort(grpcPort uint32) (uint32, error) {
	p := grpcPort + GRPCJSONPortOffset
	if p > 65535 {
		return 0, fmt.Errorf("gRPC port %d + %d is beyond 65535", grpcPort, GRPCJSONPortOffset)
	}
	return p, nil
}

// DescriptorSetError says why bytes are not a usable descriptor set.
type DescriptorSetError struct{ Reason string }

func (e *DescriptorSetError) Error() string { return e.Reason }

// ParseDescriptorSet checks a serialized FileDescriptorSet the way Envoy will use it (every
// file parses, every import is in the set) and returns the fully qualified services it
// defines, sorted. No services is an error: there would be nothing to call.
func ParseDescriptorSet(b []byte) ([]string, error) {
	if len(b) == 0 {
		return nil, &DescriptorSetError{Reason: "the file is empty"}
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		return nil, &DescriptorSetError{Reason: fmt.Sprintf("not a FileDescriptorSet: %v", err)}
	}
	if len(set.GetFile()) == 0 {
		return nil, &DescriptorSetError{Reason: "not a FileDescriptorSet: it holds no files"}
	}
	for _, f := range set.GetFile() {
		if f.GetName() == "" {
			return nil, &DescriptorSetError{Reason: "not a FileDescriptorSet: a file without a name"}
		}
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		reason := err.Error()
		if strings.Contains(reason, "import") || strings.Contains(reason, "resolve") {
			reason = "an import is missing from the set (" + reason + ")"
		}
		return nil, &DescriptorSetError{Reason: reason}
	}
	var services []string
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			services = append(services, string(fd.Services().Get(i).FullName()))
		}
		return true
	})
	if len(services) == 0 {
		return nil, &DescriptorSetError{Reason: "it defines no gRPC service"}
	}
	slices.Sort(services)
	return services, nil
}

// grpcJSONSuffix ends a JSON listener's name, which is otherwise the name of the gRPC port's
// listener and cluster it calls: "ledger.payments:7070+json" (see ClusterOf).
const grpcJSONSuffix = "+json"

// GRPCJSONListenerName names a JSON listener after the gRPC port it calls.
func GRPCJSONListenerName(serviceKey string, j GRPCJSON) string {
	return ListenerName(serviceKey, j.GRPCPort) + grpcJSONSuffix
}

// ClusterOf is the cluster a listener sends to: the cluster of the same name, or for a JSON
// listener that of its gRPC port.
func ClusterOf(listener string) string { return strings.TrimSuffix(listener, grpcJSONSuffix) }

// validateGRPCJSON catches what Envoy would NACK (an unknown service, a broken set) or do
// badly (transcode to an HTTP/1.1 or TCP port).
func validateGRPCJSON(svc Service, j GRPCJSON) error {
	i := slices.IndexFunc(svc.Ports, func(p Port) bool { return p.Number == j.GRPCPort })
	if i < 0 {
		return fmt.Errorf("gRPC-JSON listener %d: the service has no port %d", j.Port, j.GRPCPort)
	}
	if svc.Ports[i].Protocol != HTTP2 {
		return fmt.Errorf("gRPC-JSON listener %d: port %d is %s, not gRPC (http2)", j.Port, j.GRPCPort, svc.Ports[i].Protocol)
	}
	if j.Port == 0 || j.Port > 65535 {
		return fmt.Errorf("gRPC-JSON listener: port %d out of range 1-65535", j.Port)
	}
	known, err := ParseDescriptorSet(j.DescriptorSet)
	if err != nil {
		return fmt.Errorf("gRPC-JSON listener %d: descriptor set: %w", j.Port, err)
	}
	if len(j.Services) == 0 {
		return fmt.Errorf("gRPC-JSON listener %d: no services to transcode", j.Port)
	}
	for _, s := range j.Services {
		if !slices.Contains(known, s) {
			return fmt.Errorf("gRPC-JSON listener %d: service %q is not in the descriptor set (it has %s)", j.Port, s, strings.Join(known, ", "))
		}
	}
	return nil
}

// buildGRPCJSONListener is the JSON listener: the transcoder, then the router to the gRPC
// port's cluster (HTTP/2, mTLS through the gateway).
func buildGRPCJSONListener(svc Service, j GRPCJSON) (*listenerv3.Listener, error) {
	name := GRPCJSONListenerName(svc.Key, j)
	cluster := ListenerName(svc.Key, j.GRPCPort)
	transcoder, err := anyOf(&transcoderv3.GrpcJsonTranscoder{
		DescriptorSet: &transcoderv3.GrpcJsonTranscoder_ProtoDescriptorBin{ProtoDescriptorBin: slices.Clone(j.DescriptorSet)},
		Services:      slices.Clone(j.Services),
		// POST /pkg.Service/Method for methods without a google.api.http annotation.
		AutoMapping: true,
		// A gRPC error becomes an HTTP status with a google.rpc.Status JSON body, not a 200
		// with grpc-status in a trailer curl does not show.
		ConvertGrpcStatus: true,
		// An unknown path is a 404 from the transcoder; passed through, it would reach the
		// gRPC server as plain HTTP and come back as a reset (503).
		RequestValidationOptions: &transcoderv3.GrpcJsonTranscoder_RequestValidationOptions{RejectUnknownMethod: true},
		PrintOptions:             &transcoderv3.GrpcJsonTranscoder_PrintOptions{AlwaysPrintPrimitiveFields: true},
	})
	if err != nil {
		return nil, err
	}
	router, err := anyOf(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	hcm, err := anyOf(&hcmv3.HttpConnectionManager{
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		StatPrefix: name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: name,
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    name,
				Domains: []string{"*"},
				Routes: []*routev3.Route{{
					// The transcoder has rewritten the path to /pkg.Service/Method by now.
					Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_Route{Route: &routev3.RouteAction{
						ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
						// 0s: no deadline, as on the gRPC port itself (server streams).
						Timeout: durationpb.New(0),
					}},
				}},
			}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: wellknown.GRPCJSONTranscoder, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: transcoder}},
			{Name: wellknown.Router, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}},
		},
	})
	if err != nil {
		return nil, err
	}
	// In a published Envoy this listener becomes a filter chain matched on this address (Publish).
	l := &listenerv3.Listener{
		Name:       name,
		Address:    socketAddress(svc.ListenIP.String(), j.Port),
		StatPrefix: name,
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name: wellknown.HTTPConnectionManager, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm},
		}}}},
		EnableReusePort: wrapperspb.Bool(false), // as buildListener: a second Envoy must fail to bind
	}
	if err := l.ValidateAll(); err != nil {
		return nil, err
	}
	return l, nil
}

// errNoGRPCPort is returned by GRPCPortOf when a service has no gRPC port at all.
var errNoGRPCPort = errors.New("it has no gRPC (http2) port")

// GRPCPortOf picks the gRPC port of a service: want when not 0 (it must be HTTP2), else its
// only HTTP2 port.
func GRPCPortOf(ports []Port, want uint32) (uint32, error) {
	var grpc []uint32
	for _, p := range ports {
		if p.Protocol == HTTP2 {
			grpc = append(grpc, p.Number)
		}
	}
	if want != 0 {
		if slices.Contains(grpc, want) {
			return want, nil
		}
		if slices.ContainsFunc(ports, func(p Port) bool { return p.Number == want }) {
			return 0, fmt.Errorf("port %d is not a gRPC (http2) port", want)
		}
		return 0, fmt.Errorf("it has no port %d", want)
	}
	switch len(grpc) {
	case 0:
		return 0, errNoGRPCPort
	case 1:
		return grpc[0], nil
	}
	return 0, fmt.Errorf("it has several gRPC ports (%s): name one", joinPorts(grpc))
}

func joinPorts(ports []uint32) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ", ")
}
