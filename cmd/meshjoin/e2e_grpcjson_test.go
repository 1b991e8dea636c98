//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/meshjoin/meshjoin/testbed"
)

// jsonURL is where join says the gRPC echo's JSON listener answers.
const jsonURL = "http://ledger.payments:17070"

// curlJSON runs the real curl against the JSON listener, resolving the service's name to its
// address as the hosts block would (the test's hosts file is not the system's), and returns
// the HTTP status and body. body "" sends no body; otherwise a POST of JSON.
func curlJSON(t *testing.T, addr, path, body string) (int, string) {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl is needed (make deps installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"-sS", "--resolve", "ledger.payments:17070:" + addr, "-w", "\n%{http_code}"}
	if body != "" {
		args = append(args, "-H", "Content-Type: application/json", "-d", body)
	}
	out, err := exec.CommandContext(ctx, curl, append(args, jsonURL+path)...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", path, err, out)
	}
	text := strings.TrimRight(string(out), "\n")
	i := strings.LastIndex(text, "\n")
	code, err := strconv.Atoi(text[i+1:])
	if err != nil {
		t.Fatalf("curl %s: no status in %q", path, out)
	}
	return code, text[:i]
}

func writeDescriptorSet(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "echo.pb")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGRPCJSONTranscoding: curl with JSON reaches the gRPC echo through the mesh, by the
// annotation's path and by the default /pkg.Service/Method mapping, as the developer; a
// method that does not exist is a clear error.
func TestGRPCJSONTranscoding(t *testing.T) { testGRPCJSON(t, "host") }

// Docker Desktop's way on this Linux engine: the JSON listener is a filter chain of the one
// published listener, reached through the Forwarder.
func TestGRPCJSONTranscodingPublished(t *testing.T) { testGRPCJSON(t, "published") }

func testGRPCJSON(t *testing.T, network string) {
	e := newEnv(t)
	if network == "published" {
		e.tb.EmulateDockerDesktop(t)
	}
	set := writeDescriptorSet(t, testbed.EchoDescriptorSet())
	r := e.startJoin(append(e.joinArgs("ledger.payments"), "--grpc-json", "ledger.payments="+set, "--envoy-network", network)...)
	if st := e.state(); st.Network != network {
		t.Fatalf("Envoy network %q, want %s", st.Network, network)
	}
	if want := "ledger.payments: JSON at " + jsonURL + " (gRPC port 7070; "; !strings.Contains(r.stdout.String(), want) {
		t.Errorf("join output does not say %q:\n%s", want, r.stdout)
	}
	addr := e.addr("ledger.payments")
	me := "spiffe://" + e.tb.TrustDomain + "/ns/dev/sa/alice"

	// The annotation: POST /v1/echo, body "*".
	code, body := curlJSON(t, addr, testbed.EchoJSONPath, `{"message":"hello"}`)
	var reply struct{ Message, Service, Method, Caller string }
	if code != 200 || json.Unmarshal([]byte(body), &reply) != nil {
		t.Fatalf("POST %s: %d %s", testbed.EchoJSONPath, code, body)
	}
	if reply.Message != "hello" || reply.Caller != me || reply.Service != "ledger.payments" || reply.Method != "/"+testbed.EchoJSONService+"/Echo" {
		t.Errorf("POST %s answered %+v; want the message back, from ledger.payments, called by %s", testbed.EchoJSONPath, reply, me)
	}
	// The annotation with a path variable: GET /v1/echo/{message}.
	code, body = curlJSON(t, addr, testbed.EchoJSONGetPath+"from-the-path", "")
	if code != 200 || json.Unmarshal([]byte(body), &reply) != nil || reply.Message != "from-the-path" || reply.Caller != me {
		t.Errorf("GET %s...: %d %s", testbed.EchoJSONGetPath, code, body)
	}
	// The default mapping of a service without annotations: POST /grpc.testing.TestService/UnaryCall.
	code, body = curlJSON(t, addr, "/grpc.testing.TestService/UnaryCall", `{"responseSize":0}`)
	var unary struct{ Username, Hostname string }
	if code != 200 || json.Unmarshal([]byte(body), &unary) != nil || unary.Username != me || unary.Hostname != "ledger.payments" {
		t.Errorf("POST /grpc.testing.TestService/UnaryCall: %d %s; want username %s, hostname ledger.payments", code, body, me)
	}

	// A method the descriptor set does not have: the transcoder's 404, not a reset.
	code, body = curlJSON(t, addr, "/grpc.testing.TestService/NoSuchMethod", `{}`)
	if code != 404 || !strings.Contains(body, "/grpc.testing.TestService/NoSuchMethod") {
		t.Errorf("an unknown method: %d %q; want 404 naming the path", code, body)
	}
	// A method the set has but the server does not implement: gRPC UNIMPLEMENTED as JSON.
	code, body = curlJSON(t, addr, "/grpc.testing.TestService/EmptyCall", `{}`)
	var status struct {
		Code    int
		Message string
	}
	if code != 501 || json.Unmarshal([]byte(body), &status) != nil || status.Code != 12 || !strings.Contains(status.Message, "EmptyCall") {
		t.Errorf("an unimplemented method: %d %q; want 501 with {\"code\":12,\"message\":...EmptyCall...}", code, body)
	}

	rc, out, errOut := e.run(e.args("status")...)
	if rc != 0 || !strings.Contains(out, "ledger.payments: JSON at "+jsonURL) {
		t.Errorf("status (exit %d) does not show the JSON listener:\n%s%s", rc, out, errOut)
	}
	r.interrupt(t)
}

// TestGRPCJSONBadDescriptorSet: a descriptor set that cannot be used stops the join before
// anything is done, with the protoc command to make a good one.
func TestGRPCJSONBadDescriptorSet(t *testing.T) {
	var full descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(testbed.EchoDescriptorSet(), &full); err != nil {
		t.Fatal(err)
	}
	var withoutImports, noServices []byte
	for _, f := range full.GetFile() {
		switch f.GetName() {
		case "meshjoin/testbed/v1/echo.proto":
			withoutImports, _ = proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{f}})
		case "google/protobuf/descriptor.proto":
			noServices, _ = proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{f}})
		}
	}
	for _, tc := range []struct {
		name  string
		value func(t *testing.T) string // the --grpc-json value
		words []string
	}{
		{"missing file", func(t *testing.T) string { return "ledger.payments=" + filepath.Join(t.TempDir(), "nope.pb") }, []string{"cannot read the descriptor set", "nope.pb"}},
		{"a .proto instead", func(t *testing.T) string {
			return "ledger.payments=" + writeDescriptorSet(t, []byte("syntax = \"proto3\";\nservice Echo {}\n"))
		}, []string{"not a usable descriptor set", "not a FileDescriptorSet"}},
		{"imports left out", func(t *testing.T) string { return "ledger.payments=" + writeDescriptorSet(t, withoutImports) }, []string{"an import is missing from the set"}},
		{"no service", func(t *testing.T) string { return "ledger.payments=" + writeDescriptorSet(t, noServices) }, []string{"defines no gRPC service"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.joinFails(nil, append(e.joinArgs("ledger.payments"), "--grpc-json", tc.value(t))...)
			f.check(t, exitUsage, append([]string{"--grpc-json ledger.payments="}, tc.words...), []string{"protoc --include_imports --descriptor_set_out="})
		})
	}
	t.Run("service without a gRPC port", func(t *testing.T) {
		e := newEnv(t)
		f := e.joinFails(nil, append(e.joinArgs("ratings.bookinfo"), "--grpc-json", "ratings.bookinfo="+writeDescriptorSet(t, testbed.EchoDescriptorSet()))...)
		f.check(t, exitUsage, []string{"ratings.bookinfo", "no gRPC (http2) port"}, []string{"gRPC port"})
	})
}
