//go:build !windows

package helper

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"syscall"
)

// handleListen opens a listening TCP socket on an address of the helper's range for the
// caller and passes it back over the same connection (SCM_RIGHTS), beside a ListenReply:
// the caller then accepts on a port it may not bind itself. The helper keeps no copy.
func (s *Server) handleListen(w http.ResponseWriter, r *http.Request) {
	var req ListenRequest
	if err := readJSON(w, r, &req); err != nil {
		s.refused(r, err)
		respond(w, nil, err)
		return
	}
	uid := callerUID(r)
	f, err := s.openListener(uid, req)
	if err != nil {
		respond(w, nil, err)
		return
	}
	defer f.Close()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		respond(w, nil, failed(err))
		return
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		s.log.Warn("listen: not a unix socket connection", "uid", uid)
		return
	}
	body, err := json.Marshal(ListenReply{Address: req.Address})
	if err != nil {
		return
	}
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len(body))
	if _, _, err := uc.WriteMsgUnix(append([]byte(head), body...), syscall.UnixRights(int(f.Fd())), nil); err != nil {
		s.log.Warn("listen: handing the socket over failed", "uid", uid, "session", req.Session, "addr", req.Address, "err", err)
		return
	}
	s.log.Info("listening socket handed over", "uid", uid, "session", req.Session, "addr", req.Address)
}

// openListener checks req and opens its socket; the file is a duplicate the caller closes.
func (s *Server) openListener(uid int, req ListenRequest) (*os.File, error) {
	if err := checkSession(req.Session); err != nil {
		return nil, err
	}
	if err := checkListen(s.cfg.Range, req.Address); err != nil {
		s.log.Warn("refused", "uid", uid, "session", req.Session, "why", err.Error())
		return nil, err
	}
	l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(req.Address))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, refusal(KindConflict, "stop what listens there, or choose other addresses with --address-range", "listen on %s: something else listens there", req.Address)
		}
		return nil, failed(err)
	}
	defer l.Close()
	return l.File()
}

// Listen asks the helper for a TCP socket listening on addr (in the helper's range), for the
// caller's session. A refusal is an *Error; a port in use is one of KindConflict.
func (c *Client) Listen(ctx context.Context, session string, addr netip.AddrPort) (net.Listener, error) {
	body, err := json.Marshal(ListenRequest{Session: session, Address: addr})
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, c.dialError(err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://meshjoin-helper"+pathListen, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Close = true // the answer ends at the connection's end, refusals included
	if err := req.Write(conn); err != nil {
		return nil, fmt.Errorf("meshjoin helper at %s: %w", c.socket, err)
	}
	data, fds, err := readWithRights(conn.(*net.UnixConn))
	defer closeFDs(fds)
	if err != nil {
		return nil, fmt.Errorf("meshjoin helper at %s: %w", c.socket, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), req)
	if err != nil {
		return nil, fmt.Errorf("meshjoin helper at %s: unreadable answer: %w", c.socket, err)
	}
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("meshjoin helper at %s: %w", c.socket, err)
	}
	var reply ListenReply
	if err := c.decode(resp, respBody, &reply); err != nil {
		return nil, err
	}
	if len(fds) != 1 || reply.Address != addr {
		return nil, fmt.Errorf("meshjoin helper at %s: answered with %d sockets for %s, want one for %s", c.socket, len(fds), reply.Address, addr)
	}
	f := os.NewFile(uintptr(fds[0]), "meshjoin-helper-listener")
	fds = nil
	defer f.Close()
	return net.FileListener(f) // a duplicate of its own
}

// readWithRights reads c to its end, with the file descriptors passed along.
func readWithRights(c *net.UnixConn) (data []byte, fds []int, err error) {
	buf := make([]byte, 4096)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		data = append(data, buf[:max(n, 0)]...)
		if oobn > 0 {
			msgs, perr := syscall.ParseSocketControlMessage(oob[:oobn])
			if perr != nil {
				return data, fds, perr
			}
			for _, m := range msgs {
				got, _ := syscall.ParseUnixRights(&m)
				fds = append(fds, got...)
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0 && oobn == 0) {
			return data, fds, nil
		}
		if err != nil {
			return data, fds, err
		}
		if len(data) > maxBody {
			return data, fds, errors.New("answer too long")
		}
	}
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}
