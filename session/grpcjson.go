package session

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/mesh"
)

// GRPCJSON asks for a gRPC-JSON transcoding listener in front of a joined service's gRPC port
// (--grpc-json SERVICE[:PORT]=DESCRIPTOR_SET).
type GRPCJSON struct {
	Service string // as the user names it, e.g. "ledger.payments"
	// Port is the service's gRPC port to call; 0: its only gRPC (http2) port.
	Port uint32
	// DescriptorSet is the path of a FileDescriptorSet with its imports
	// (protoc --descriptor_set_out=FILE --include_imports, or buf build -o FILE).
	DescriptorSet string
	// Services are the gRPC services to transcode, fully qualified; none: every service in the set.
	Services []string
}

// String is the flag's form of g.
func (g GRPCJSON) String() string {
	s := g.Service
	if g.Port != 0 {
		s += ":" + strconv.Itoa(int(g.Port))
	}
	return s + "=" + g.DescriptorSet
}

// ParseGRPCJSON reads a --grpc-json value, SERVICE[:PORT]=DESCRIPTOR_SET.
func ParseGRPCJSON(v string) (GRPCJSON, error) {
	target, file, ok := strings.Cut(v, "=")
	if !ok || target == "" || file == "" {
		return GRPCJSON{}, &UsageError{Msg: fmt.Sprintf("--grpc-json %q: want SERVICE=DESCRIPTOR_SET", v),
			Hint: "e.g. --grpc-json ledger.payments=ledger.pb (or ledger.payments:7070=ledger.pb to pick the gRPC port)"}
	}
	g := GRPCJSON{Service: target, DescriptorSet: file}
	if svc, port, ok := strings.Cut(target, ":"); ok {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 || svc == "" {
			return GRPCJSON{}, &UsageError{Msg: fmt.Sprintf("--grpc-json %q: %q is not SERVICE:PORT", v, target),
				Hint: "name the gRPC port by its number, e.g. ledger.payments:7070=ledger.pb"}
		}
		g.Service, g.Port = svc, uint32(n)
	}
	return g, nil
}

// transcoding is a GRPCJSON with its descriptor set read and checked.
type transcoding struct {
	GRPCJSON
	set []byte
}

// descriptorSetHint is the next step for a descriptor set that cannot be used.
const descriptorSetHint = "write one with its imports: `protoc --include_imports --descriptor_set_out=api.pb your.proto` (or `buf build -o api.pb`), and pass --grpc-json SERVICE=api.pb"

// loadTranscodings reads and checks every descriptor set, before anything is changed.
func loadTranscodings(reqs []GRPCJSON) ([]transcoding, error) {
	var out []transcoding
	seen := map[string]bool{}
	for _, r := range reqs {
		flag := "--grpc-json " + r.String()
		key := r.Service + ":" + strconv.Itoa(int(r.Port))
		if seen[key] {
			return nil, &UsageError{Msg: flag + ": that service and port are named twice", Hint: "give one --grpc-json per gRPC port"}
		}
		seen[key] = true
		b, err := os.ReadFile(r.DescriptorSet)
		if err != nil {
			hint := descriptorSetHint
			if errors.Is(err, fs.ErrPermission) {
				hint = "make the file readable by you (" + r.DescriptorSet + ")"
			}
			return nil, &UsageError{Msg: fmt.Sprintf("%s: cannot read the descriptor set: %v", flag, err), Hint: hint}
		}
		known, err := envoy.ParseDescriptorSet(b)
		if err != nil {
			return nil, &UsageError{Msg: fmt.Sprintf("%s: %s is not a usable descriptor set: %v", flag, r.DescriptorSet, err), Hint: descriptorSetHint}
		}
		services := r.Services
		if len(services) == 0 {
			services = known
		}
		for _, s := range services {
			if !slices.Contains(known, s) {
				return nil, &UsageError{Msg: fmt.Sprintf("%s: service %s is not in %s", flag, s, r.DescriptorSet),
					Hint: "name one of " + strings.Join(known, ", ") + " (fully qualified: package.Service)"}
			}
		}
		t := transcoding{GRPCJSON: r, set: b}
		t.Services = slices.Clone(services)
		out = append(out, t)
	}
	return out, nil
}

// GRPCJSONListener is a joined service's transcoding listener, for status and the join output.
type GRPCJSONListener struct {
	Port          uint32   `json:"port"`     // on the service's address
	GRPCPort      uint32   `json:"grpcPort"` // the service port it calls
	Listener      string   `json:"listener"` // the Envoy listener name
	DescriptorSet string   `json:"descriptorSet"`
	Services      []string `json:"services"` // transcoded gRPC services
}

// GRPCJSONURL is where the listener answers, by the service's shortest name, e.g.
// "http://ledger.payments:17070".
func (js JoinedService) GRPCJSONURL(l GRPCJSONListener) string {
	return "http://" + net.JoinHostPort(js.CallName(), strconv.Itoa(int(l.Port)))
}

// planTranscodings attaches the transcodings that name svc to its Envoy service and joined
// record. A transcoding whose service is not joined is left for warnUnjoined.
func planTranscodings(in planInput, svc mesh.Service, es *envoy.Service, js *JoinedService) error {
	for _, t := range in.Transcodings {
		target, err := in.Lookup(t.Service)
		if err != nil || target.Key() != svc.Key() {
			continue
		}
		grpcPort, err := envoy.GRPCPortOf(es.Ports, t.Port)
		if err != nil {
			return &UsageError{Msg: fmt.Sprintf("--grpc-json %s: %s: %v", t.String(), svc.Key(), err),
				Hint: "name a gRPC port of the service (SERVICE:PORT=FILE); `meshjoin services` lists its ports and protocols"}
		}
		port, err := envoy.GRPCJSONPort(grpcPort)
		if err != nil {
			return &UsageError{Msg: fmt.Sprintf("--grpc-json %s: %v", t.String(), err), Hint: "transcoding is only offered for gRPC ports up to 55535"}
		}
		j := envoy.GRPCJSON{Port: port, GRPCPort: grpcPort, DescriptorSet: t.set, Services: t.Services}
		if slices.ContainsFunc(es.GRPCJSON, func(o envoy.GRPCJSON) bool { return o.GRPCPort == grpcPort }) {
			return &UsageError{Msg: fmt.Sprintf("--grpc-json: %s port %d is named twice", svc.Key(), grpcPort), Hint: "give one --grpc-json per gRPC port"}
		}
		if slices.ContainsFunc(es.Ports, func(p envoy.Port) bool { return p.Number == port }) {
			return &UsageError{Msg: fmt.Sprintf("--grpc-json %s: the JSON port %d (gRPC port + %d) is a port of the service itself", t.String(), port, envoy.GRPCJSONPortOffset),
				Hint: "transcoding cannot be offered for this port"}
		}
		es.GRPCJSON = append(es.GRPCJSON, j)
		js.GRPCJSON = append(js.GRPCJSON, GRPCJSONListener{Port: port, GRPCPort: grpcPort, Listener: envoy.GRPCJSONListenerName(svc.Key(), j),
			DescriptorSet: t.DescriptorSet, Services: slices.Clone(t.Services)})
	}
	return nil
}

// warnUnjoined names the transcodings whose service is not among the joined ones.
func warnUnjoined(in planInput, joined []JoinedService) []planWarning {
	var out []planWarning
	for _, t := range in.Transcodings {
		target, err := in.Lookup(t.Service)
		if err == nil && slices.ContainsFunc(joined, func(js JoinedService) bool { return js.Key == target.Key() }) {
			continue
		}
		why := "it is not joined"
		if err != nil {
			why = err.Error()
		}
		out = append(out, planWarning{t.Service, fmt.Sprintf("--grpc-json %s: no JSON listener: %s", t.String(), why)})
	}
	return out
}
