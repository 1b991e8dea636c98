package session

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/meshjoin/meshjoin/mesh"
)

// CallName is the name to call the service by: the shortest it answers to.
func (js JoinedService) CallName() string {
	if len(js.Names) > 0 {
		return js.Names[len(js.Names)-1]
	}
	return js.Key
}

// TryCommand is a ready command to call the joined service on its first port, for the
// join output and the TUI ("" without ports); in proxy mode through the proxy.
func (js JoinedService) TryCommand() string {
	if len(js.Ports) == 0 {
		return ""
	}
	cmd := mesh.TryCommand(js.CallName(), js.Ports[0].Number, mesh.Protocol(js.Ports[0].Protocol))
	if js.Proxy == "" {
		return cmd
	}
	switch {
	case strings.HasPrefix(cmd, "curl "):
		return "curl -x " + js.Proxy + " " + strings.TrimPrefix(cmd, "curl ")
	case strings.HasPrefix(cmd, "nc "):
		// OpenBSD netcat speaks CONNECT to a proxy.
		u, err := url.Parse(js.Proxy)
		if err == nil {
			return fmt.Sprintf("nc -X connect -x %s %s", u.Host, strings.TrimPrefix(cmd, "nc "))
		}
	}
	// grpcurl, like every grpc-go client, tunnels through HTTPS_PROXY.
	return "HTTPS_PROXY=" + js.Proxy + " " + cmd
}

// Where is where the service answers on this machine: its loopback address, or in proxy mode
// the proxy's host:port (for tables: join, status, the TUI).
func (js JoinedService) Where() string {
	if js.Addr != "" || js.Proxy == "" {
		return js.Addr
	}
	if u, err := url.Parse(js.Proxy); err == nil {
		return u.Host
	}
	return js.Proxy
}
