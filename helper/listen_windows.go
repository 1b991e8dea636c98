package helper

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
)

// handleListen: Windows has no privileged ports, and no helper.
func (s *Server) handleListen(w http.ResponseWriter, r *http.Request) {
	respond(w, nil, refusal(KindRefused, "", "listening sockets are not handed over on Windows: no port needs privileges there"))
}

// Listen is not needed on Windows, where no port needs privileges.
func (c *Client) Listen(ctx context.Context, session string, addr netip.AddrPort) (net.Listener, error) {
	return nil, errors.New("the privileged helper is not available on Windows")
}
