package testbed

import (
	"context"
	"fmt"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The gRPC echo apps also serve a small service with google.api.http annotations, for the
// gRPC-JSON transcoding tests. It is described in Go rather than generated from a .proto
// (no protoc needed, nothing generated to drift); as a .proto it reads:
//
//	syntax = "proto3";
//	package meshjoin.testbed.v1;
//	import "google/api/annotations.proto";
//
//	message EchoRequest { string message = 1; }
//	message EchoReply {
//	  string message = 1;  // the request's
//	  string service = 2;  // name.namespace of the app
//	  uint32 port = 3;     // service port
//	  string method = 4;   // the gRPC method called
//	  string caller = 5;   // the client's SPIFFE ID, as the sidecar saw it
//	}
//	service Echo {
//	  rpc Echo(EchoRequest) returns (EchoReply) { option (google.api.http) = { post: "/v1/echo" body: "*" }; }
//	  rpc Get(EchoRequest) returns (EchoReply) { option (google.api.http) = { get: "/v1/echo/{message}" }; }
//	}
const (
	// EchoJSONService is the annotated service's full name.
	EchoJSONService = "meshjoin.testbed.v1.Echo"
	// EchoJSONPath is the Echo method's HTTP path (POST, body: the EchoRequest as JSON).
	EchoJSONPath = "/v1/echo"
	// EchoJSONGetPath is the Get method's HTTP path, with the message in the last segment.
	EchoJSONGetPath = "/v1/echo/"
)

// echoJSONFile is the service's file, resolved against the linked-in google/api/annotations.proto.
var echoJSONFile = func() protoreflect.FileDescriptor {
	str := func(name string, n int32, jsonName string) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), JsonName: proto.String(jsonName),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()}
	}
	port := str("port", 3, "port")
	port.Type = descriptorpb.FieldDescriptorProto_TYPE_UINT32.Enum()
	http := func(rule *annotations.HttpRule) *descriptorpb.MethodOptions {
		o := &descriptorpb.MethodOptions{}
		proto.SetExtension(o, annotations.E_Http, rule)
		return o
	}
	method := func(name string, rule *annotations.HttpRule) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{Name: proto.String(name), InputType: proto.String(".meshjoin.testbed.v1.EchoRequest"),
			OutputType: proto.String(".meshjoin.testbed.v1.EchoReply"), Options: http(rule)}
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("meshjoin/testbed/v1/echo.proto"),
		Package:    proto.String("meshjoin.testbed.v1"),
		Dependency: []string{"google/api/annotations.proto"},
		Syntax:     proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("EchoRequest"), Field: []*descriptorpb.FieldDescriptorProto{str("message", 1, "message")}},
			{Name: proto.String("EchoReply"), Field: []*descriptorpb.FieldDescriptorProto{
				str("message", 1, "message"), str("service", 2, "service"), port, str("method", 4, "method"), str("caller", 5, "caller")}},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Echo"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Echo", &annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: EchoJSONPath}, Body: "*"}),
				method("Get", &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: EchoJSONGetPath + "{message}"}}),
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		panic(fmt.Sprintf("testbed: the echo service's descriptor: %v", err)) // a mistake in the literal above
	}
	return fd
}()

// EchoDescriptorSet is what `protoc --descriptor_set_out --include_imports` gives for the gRPC
// echo's services, the annotated Echo and grpc.testing.TestService (no annotations: the
// default POST /grpc.testing.TestService/UnaryCall mapping): every file, dependencies first.
func EchoDescriptorSet() []byte {
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := range fd.Imports().Len() {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	add(echoJSONFile)
	add(testgrpc.File_grpc_testing_test_proto)
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(set)
	if err != nil {
		panic(fmt.Sprintf("testbed: marshal the echo descriptor set: %v", err)) // descriptors always marshal
	}
	return b
}

// registerEchoJSON serves the Echo service on srv with dynamic messages.
func registerEchoJSON(srv *grpc.Server, app *echoApp) {
	svc := echoJSONFile.Services().Get(0)
	desc := grpc.ServiceDesc{ServiceName: string(svc.FullName()), HandlerType: (*any)(nil), Metadata: echoJSONFile.Path()}
	for i := range svc.Methods().Len() {
		m := svc.Methods().Get(i)
		desc.Methods = append(desc.Methods, grpc.MethodDesc{MethodName: string(m.Name()), Handler: echoJSONHandler(app, m)})
	}
	srv.RegisterService(&desc, app)
}

func echoJSONHandler(app *echoApp, m protoreflect.MethodDescriptor) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := dynamicpb.NewMessage(m.Input())
		if err := dec(in); err != nil {
			return nil, err
		}
		md, _ := metadata.FromIncomingContext(ctx)
		method, _ := grpc.Method(ctx)
		out := dynamicpb.NewMessage(m.Output())
		fields := out.Descriptor().Fields()
		set := func(name string, v protoreflect.Value) { out.Set(fields.ByName(protoreflect.Name(name)), v) }
		set("message", in.Get(m.Input().Fields().ByName("message")))
		set("service", protoreflect.ValueOfString(app.service))
		set("port", protoreflect.ValueOfUint32(app.port))
		set("method", protoreflect.ValueOfString(method))
		set("caller", protoreflect.ValueOfString(CallerFromXFCC(first(md.Get("x-forwarded-client-cert")))))
		return out, nil
	}
}
