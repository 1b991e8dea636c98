package mesh

import "testing"

func TestPortLabelAndTryCommand(t *testing.T) {
	if got := PortLabel(9080, "HTTP"); got != "9080/http" {
		t.Errorf("PortLabel = %q", got)
	}
	for _, c := range []struct {
		port  uint32
		proto Protocol
		want  string
	}{
		{9080, ProtocolHTTP, "curl http://ratings.bookinfo:9080/"},
		{80, ProtocolHTTP, "curl http://ratings.bookinfo/"},
		{80, "HTTP", "curl http://ratings.bookinfo/"},
		{7070, ProtocolGRPC, "grpcurl -plaintext ratings.bookinfo:7070 list"},
		{7070, ProtocolHTTP2, "grpcurl -plaintext ratings.bookinfo:7070 list"},
		{3306, ProtocolTCP, "nc ratings.bookinfo 3306"},
		{3306, "mysql", "nc ratings.bookinfo 3306"},
	} {
		if got := TryCommand("ratings.bookinfo", c.port, c.proto); got != c.want {
			t.Errorf("TryCommand(%d, %s) = %q, want %q", c.port, c.proto, got, c.want)
		}
	}
}
