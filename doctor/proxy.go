package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Proxy mode (Env.ProxyPort set) needs neither the hosts file nor loopback addresses: the
// "hosts file" check says so, and the "addresses" check looks at the proxy's one port instead.

// checkProxyHostsFile is the hosts-file check in proxy mode.
func checkProxyHostsFile(context.Context, *state) Result {
	return pass("proxy mode: not used (nothing is written, no sudo needed)")
}

// checkProxyPort checks 127.0.0.1:ProxyPort is free, or held by this user's running session.
func checkProxyPort(_ context.Context, s *state) Result {
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(s.env.ProxyPort))
	if s.env.Ours[ap] {
		return pass(fmt.Sprintf("proxy mode: %s is held by your running session", ap))
	}
	l, err := net.Listen("tcp", ap.String())
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fail(KindConflict, fmt.Sprintf("proxy mode: %s is in use by another program", ap),
				"stop it (`ss -ltnp | grep :"+fmt.Sprint(s.env.ProxyPort)+"` names it), or give the proxy another port with --proxy-port")
		}
		return fail(KindEnvironment, fmt.Sprintf("proxy mode: cannot listen on %s: %v", ap, err), "give the proxy another port with --proxy-port")
	}
	l.Close()
	return pass(fmt.Sprintf("proxy mode: %s is free", ap))
}
