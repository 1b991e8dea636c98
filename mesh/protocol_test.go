package mesh

import "testing"

func TestProtocolOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		appProtocol *string
		want        Protocol
	}{
		{"http", nil, ProtocolHTTP},
		{"http-web", nil, ProtocolHTTP},
		{"HTTP-Web", nil, ProtocolHTTP},
		{"http_proxy", nil, ProtocolHTTP},
		{"http2", nil, ProtocolHTTP2},
		{"http2-api", nil, ProtocolHTTP2},
		{"grpc", nil, ProtocolGRPC},
		{"grpc-api", nil, ProtocolGRPC},
		{"grpc-web", nil, ProtocolGRPC},
		{"grpc-web-ui", nil, ProtocolGRPC},
		{"tcp", nil, ProtocolTCP},
		{"tcp-db", nil, ProtocolTCP},
		{"tls", nil, ProtocolTCP},
		{"https", nil, ProtocolTCP},
		{"https-admin", nil, ProtocolTCP},
		{"mongo", nil, ProtocolTCP},
		{"mysql", nil, ProtocolTCP},
		{"redis", nil, ProtocolTCP},
		{"udp", nil, ProtocolTCP},
		{"", nil, ProtocolTCP},               // unnamed
		{"web", nil, ProtocolTCP},            // unknown prefix
		{"httpapi", nil, ProtocolTCP},        // the prefix ends at a '-'
		{"web-http", nil, ProtocolTCP},       // only the prefix counts
		{"tcp-x", ptr("http"), ProtocolHTTP}, // appProtocol wins over the name
		{"http", ptr("grpc"), ProtocolGRPC},
		{"http", ptr("HTTP2"), ProtocolHTTP2},
		{"http", ptr("example.com/custom"), ProtocolTCP}, // set but unknown: not the name
		{"http", ptr(""), ProtocolTCP},
		{"", ptr("kubernetes.io/h2c"), ProtocolHTTP2},
		{"", ptr("kubernetes.io/ws"), ProtocolHTTP},
		{"", ptr("kubernetes.io/wss"), ProtocolTCP},
	} {
		app := "<nil>"
		if tc.appProtocol != nil {
			app = *tc.appProtocol
		}
		if got := ProtocolOf(tc.name, tc.appProtocol); got != tc.want {
			t.Errorf("ProtocolOf(%q, %s) = %q, want %q", tc.name, app, got, tc.want)
		}
	}
}

func TestProtocolCodec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p     Protocol
		codec Codec
		str   string
	}{
		{ProtocolHTTP, CodecHTTP1, "HTTP/1.1"},
		{ProtocolHTTP2, CodecHTTP2, "HTTP/2"},
		{ProtocolGRPC, CodecHTTP2, "HTTP/2"},
		{ProtocolTCP, CodecTCP, "TCP"},
		{"", CodecTCP, "TCP"},
		{"bogus", CodecTCP, "TCP"},
	} {
		if got := tc.p.Codec(); got != tc.codec || got.String() != tc.str {
			t.Errorf("%q.Codec() = %v (%s), want %v (%s)", tc.p, got, got, tc.codec, tc.str)
		}
		if got, want := tc.p.IsHTTP(), tc.codec != CodecTCP; got != want {
			t.Errorf("%q.IsHTTP() = %v, want %v", tc.p, got, want)
		}
	}
}
