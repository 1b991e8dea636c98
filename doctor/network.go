package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meshjoin/meshjoin/certs"
	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/mesh"
)

// checkServices finds the services that would be joined in the mesh's catalogue, and picks
// one to probe the gateway with.
func checkServices(ctx context.Context, s *state) Result {
	ctx, stop := context.WithCancel(ctx)
	defer stop() // the catalogue's informers
	cat := mesh.NewCatalog(s.env.Client, nil, s.meshCfg, mesh.CatalogOptions{SyncTimeout: 30 * time.Second})
	if err := cat.Start(ctx); err != nil {
		var forbidden *mesh.ErrForbidden
		if errors.As(err, &forbidden) {
			return fail(KindPermission, err.Error(), "ask your cluster admin for the RBAC in docs/rbac.yaml; check with: "+forbidden.CanI())
		}
		return fail(KindUnreachable, "list the mesh's services: "+err.Error(), "check the cluster connection")
	}
	var joined []mesh.Service
	for _, name := range s.env.Services {
		svc, err := cat.Lookup(name)
		if err != nil {
			return fail(KindUsage, err.Error(), "`meshjoin services` lists what can be joined")
		}
		if !svc.Reachable {
			return fail(KindUsage, fmt.Sprintf("%s is not reachable through the east-west gateway: %s", svc.Key(), svc.Reason), "only services in mesh namespaces with sidecars and mTLS can be joined; `meshjoin services` marks them")
		}
		joined = append(joined, svc)
	}
	s.planned = plannedAddresses(s.env.AddressRange, joined)
	if len(joined) > 0 {
		s.probe = &joined[0]
		var keys []string
		for _, j := range joined {
			keys = append(keys, j.Key())
		}
		return pass(strings.Join(keys, ", ") + ": in the mesh and joinable")
	}
	n := 0
	for _, svc := range cat.Services() {
		if svc.Reachable && len(svc.Ports) > 0 && len(svc.Hosts) > 0 {
			if s.probe == nil {
				probe := svc
				s.probe = &probe
			}
			n++
		}
	}
	if n == 0 {
		return fail(KindEnvironment, "the mesh has no service this machine can join", "`meshjoin services -A` says why for each")
	}
	return pass(fmt.Sprintf("%d joinable services in the mesh (none named: give them as arguments or in meshjoin.yaml to check them)", n))
}

// KindUsage is a failure in what was asked (a service that does not exist).
const KindUsage Kind = "usage"

// plannedAddresses are the loopback address:port pairs a join of svcs would listen on, as the
// session allocates them (sorted keys, so the allocation is the session's).
func plannedAddresses(prefix netip.Prefix, svcs []mesh.Service) []netip.AddrPort {
	sorted := append([]mesh.Service(nil), svcs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key() < sorted[j].Key() })
	taken := map[netip.Addr]bool{}
	var out []netip.AddrPort
	for _, svc := range sorted {
		addr, err := hosts.Allocator{Prefix: prefix}.AddressFor(svc.Key(), taken)
		if err != nil {
			continue // the addresses check reports a bad prefix
		}
		taken[addr] = true
		for _, p := range svc.Ports {
			out = append(out, netip.AddrPortFrom(addr, uint16(p.Number)))
		}
	}
	return out
}

// findGateway finds the east-west gateway (or takes --gateway) and opens a TCP connection.
func findGateway(ctx context.Context, s *state) Result {
	var gw mesh.Gateway
	if o := s.env.GatewayOverride; o != "" {
		host, port, err := net.SplitHostPort(o)
		n, perr := strconv.ParseUint(port, 10, 16)
		if err != nil || perr != nil {
			return fail(KindUsage, fmt.Sprintf("--gateway %q: want host:port", o), "give host:port, e.g. --gateway 203.0.113.10:15443")
		}
		gw = mesh.Gateway{Host: host, Port: uint32(n), Name: "--gateway"}
	} else {
		found, err := mesh.FindGateway(ctx, s.env.Client, s.meshCfg.Network)
		if err != nil {
			return fail(KindEnvironment, err.Error(), "expose an east-west gateway (AUTO_PASSTHROUGH on 15443; see the README), or pass --gateway host:port")
		}
		gw = found
	}
	s.caAddress = caAddress(s.env.CAAddress, gw, s.meshCfg)
	dctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", gatewayAddr(gw))
	if err != nil {
		return fail(KindUnreachable, fmt.Sprintf("cannot connect to the east-west gateway %s (%s): %v", gatewayAddr(gw), gw.Name, err),
			"check the address (--gateway overrides it) and that this machine can reach it (VPN, firewall)")
	}
	conn.Close()
	s.gateway = &gw
	return pass(fmt.Sprintf("%s (%s) accepts connections", gatewayAddr(gw), gw.Name))
}

// caAddress is where the mesh CA is reached, chosen as a join chooses it: --ca-address, the
// gateway's istiod port, the injector's caAddress, else the gateway's host on 15012.
func caAddress(override string, gw mesh.Gateway, cfg *mesh.Config) string {
	switch {
	case override != "":
		return override
	case gw.CAPort != 0:
		return net.JoinHostPort(gw.Host, strconv.Itoa(int(gw.CAPort)))
	case cfg.CAAddress != "":
		return cfg.CAAddress
	}
	return net.JoinHostPort(gw.Host, strconv.Itoa(mesh.GatewayCAPort))
}

// checkGatewayTLS opens a TLS connection through the gateway to a service's sidecar, as the
// local Envoy does (SNI outbound_..., ALPN istio), and checks that the sidecar's certificate
// chains to the mesh root. No client certificate is sent: the handshake proves the path, the
// sidecar then refuses the connection, which is fine.
func checkGatewayTLS(ctx context.Context, s *state) Result {
	roots, err := certs.ParseRoots(s.meshCfg.RootsPEM)
	if err != nil {
		return fail(KindEnvironment, err.Error(), "the mesh root bundle (ConfigMap istio-ca-root-cert) is damaged")
	}
	sni := envoy.SNI(s.probe.Hosts[0], s.probe.Ports[0].Number)
	var leaf *x509.Certificate
	cfg := &tls.Config{
		ServerName: sni, NextProtos: []string{"istio"}, MinVersion: tls.VersionTLS12,
		// A sidecar's certificate names a SPIFFE ID, not the SNI: verify the chain only.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			leaf = cs.PeerCertificates[0]
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			return err
		},
	}
	dctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	conn, err := (&tls.Dialer{Config: cfg}).DialContext(dctx, "tcp", gatewayAddr(*s.gateway))
	if err != nil {
		return fail(KindUnreachable, fmt.Sprintf("TLS through the gateway %s to %s failed: %v", gatewayAddr(*s.gateway), s.probe.Key(), err),
			"the gateway must pass mTLS through by SNI (an Istio Gateway in AUTO_PASSTHROUGH mode on 15443: Istio's expose-services sample), and the service's sidecar must use the mesh's certificates")
	}
	defer conn.Close()
	who := ""
	if leaf != nil && len(leaf.URIs) > 0 {
		who = ", certificate " + leaf.URIs[0].String()
	}
	return pass(fmt.Sprintf("reached %s's sidecar through %s (SNI %s, ALPN istio%s)", s.probe.Key(), gatewayAddr(*s.gateway), sni, who))
}

// checkCA opens a TLS connection to the mesh CA, verified for istiod's name against the mesh
// root, as the certificate request does (it asks for no certificate).
func checkCA(ctx context.Context, s *state) Result {
	roots, err := certs.ParseRoots(s.meshCfg.RootsPEM)
	if err != nil {
		return fail(KindEnvironment, err.Error(), "the mesh root bundle (ConfigMap istio-ca-root-cert) is damaged")
	}
	name := s.env.CAServerName
	if name == "" {
		name = certs.DefaultCAServerName
	}
	dctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	conn, err := (&tls.Dialer{Config: &tls.Config{ServerName: name, RootCAs: roots, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}}).DialContext(dctx, "tcp", s.caAddress)
	if err != nil {
		var verr *tls.CertificateVerificationError
		if errors.As(err, &verr) {
			return fail(KindUnreachable, fmt.Sprintf("the mesh CA at %s is not istiod: %v", s.caAddress, err), "wrong --ca-server-name, or an address that is not istiod (--ca-address)")
		}
		return fail(KindUnreachable, fmt.Sprintf("cannot reach the mesh CA at %s: %v", s.caAddress, err),
			"the CA is reached through the gateway's port 15012 (Istio's expose-istiod sample); --ca-address overrides it")
	}
	conn.Close()
	return pass(fmt.Sprintf("istiod answered at %s (TLS for %s, from the mesh root)", s.caAddress, name))
}

// gatewayAddr is the gateway's host:port for dialling.
func gatewayAddr(gw mesh.Gateway) string {
	return net.JoinHostPort(gw.Host, strconv.FormatUint(uint64(gw.Port), 10))
}
