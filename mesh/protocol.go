package mesh

import (
	"fmt"
	"strconv"
	"strings"
)

// Protocol is the application protocol of a port, reduced to what the local Envoy needs.
type Protocol string

// The protocols meshjoin distinguishes. Istio's other protocols (https, tls, mongo, mysql,
// redis, unknown names) are opaque TCP to us.
const (
	ProtocolHTTP  Protocol = "http"
	ProtocolHTTP2 Protocol = "http2"
	ProtocolGRPC  Protocol = "grpc"
	ProtocolTCP   Protocol = "tcp"
)

// Codec is how the local Envoy carries a port's traffic upstream, which decides the ALPN it
// offers to the gateway (istio-join-protocol.md section 3).
type Codec int

const (
	CodecTCP   Codec = iota // opaque bytes: ALPN "istio" only
	CodecHTTP1              // HTTP/1.1: "istio-http/1.1", "istio", "http/1.1"
	CodecHTTP2              // HTTP/2 and gRPC: "istio-h2", "istio", "h2"
)

func (c Codec) String() string {
	switch c {
	case CodecHTTP1:
		return "HTTP/1.1"
	case CodecHTTP2:
		return "HTTP/2"
	}
	return "TCP"
}

// Codec tells whether Envoy treats the port as HTTP/1.1, HTTP/2 or opaque TCP.
func (p Protocol) Codec() Codec {
	switch p {
	case ProtocolHTTP:
		return CodecHTTP1
	case ProtocolHTTP2, ProtocolGRPC:
		return CodecHTTP2
	}
	return CodecTCP
}

// IsHTTP reports whether the port carries HTTP of any version (gRPC included).
func (p Protocol) IsHTTP() bool { return p.Codec() != CodecTCP }

// ProtocolOf applies Istio's rules for a Kubernetes Service port (pkg/config/kube
// ConvertProtocol): appProtocol when set, else the port name; the part before the first '-'
// names the protocol, case-insensitively ("grpc-web" is matched whole first). Kubernetes'
// standard appProtocols kubernetes.io/h2c and kubernetes.io/ws are understood. Anything
// unnamed or unknown is TCP: Istio would sniff it, and a plain Envoy cannot.
func ProtocolOf(name string, appProtocol *string) Protocol {
	if appProtocol != nil {
		name = *appProtocol
		switch name {
		case "kubernetes.io/h2c":
			return ProtocolHTTP2
		case "kubernetes.io/ws":
			return ProtocolHTTP
		case "kubernetes.io/wss":
			return ProtocolTCP
		}
	}
	if len(name) >= len("grpc-web") && strings.EqualFold(name[:len("grpc-web")], "grpc-web") {
		return ProtocolGRPC
	}
	if i := strings.IndexByte(name, '-'); i >= 0 {
		name = name[:i]
	}
	return parseProtocol(name)
}

// parseProtocol maps one of Istio's protocol names (case-insensitive) to ours; it is also the
// rule for ServiceEntry ports, whose protocol field is used without a name fallback.
func parseProtocol(s string) Protocol {
	switch strings.ToLower(s) {
	case "http", "http_proxy":
		return ProtocolHTTP
	case "http2":
		return ProtocolHTTP2
	case "grpc", "grpc-web":
		return ProtocolGRPC
	}
	// tcp, tls, https, mongo, mysql, redis, udp and anything unknown.
	return ProtocolTCP
}

// PortLabel is how every view shows a port: "9080/http" (protocol in lower case).
func PortLabel(number uint32, protocol string) string {
	return strconv.FormatUint(uint64(number), 10) + "/" + strings.ToLower(protocol)
}

// TryCommand is a ready command that calls host on a port: curl for HTTP/1.1 (port 80 left
// out of the URL), grpcurl for HTTP/2 and gRPC (the gRPC reflection service), nc for TCP.
func TryCommand(host string, number uint32, protocol Protocol) string {
	switch Protocol(strings.ToLower(string(protocol))).Codec() {
	case CodecHTTP1:
		if number == 80 {
			return "curl http://" + host + "/"
		}
		return fmt.Sprintf("curl http://%s:%d/", host, number)
	case CodecHTTP2:
		return fmt.Sprintf("grpcurl -plaintext %s:%d list", host, number)
	}
	return fmt.Sprintf("nc %s %d", host, number)
}
