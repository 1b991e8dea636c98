package envoy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/meshjoin/meshjoin/certs"
)

// Protocol is the application protocol of a service port, as Istio classifies it.
type Protocol string

// The protocols meshjoin proxies. gRPC is HTTP2; anything Istio cannot name is TCP.
const (
	HTTP  Protocol = "http"
	HTTP2 Protocol = "http2"
	TCP   Protocol = "tcp"
)

// Port is one service port (the Service port, not the targetPort).
type Port struct {
	Number   uint32
	Protocol Protocol
}

// Service is one mesh destination made reachable on the workstation.
type Service struct {
	// Key is a stable name such as "ratings.bookinfo"; it names the Envoy resources.
	Key string
	// Host is the FQDN carried in the SNI, e.g. "ratings.bookinfo.svc.cluster.local".
	Host string
	// ListenIP is the loopback address allocated to this service, e.g. 127.77.3.4 (hosts mode).
	ListenIP netip.Addr
	// Names are what a developer types for it (ratings.bookinfo, ratings.bookinfo.svc, ...);
	// proxy mode routes on them (see ProxyDomains).
	Names []string
	Ports []Port
	// Identities are the exact SPIFFE IDs the destination may present. When empty, any
	// identity under one of Plan.TrustDomains is accepted (a weaker check: say so to the user).
	Identities []string
	// GRPCJSON are extra listeners on ListenIP that take JSON and call one of Ports as gRPC.
	GRPCJSON []GRPCJSON
}

// Gateway is the east-west gateway's AUTO_PASSTHROUGH port (normally 15443).
// Host is an IP address (STATIC cluster) or a hostname (STRICT_DNS cluster).
type Gateway struct {
	Host string
	Port uint32
}

// Plan is everything BuildResources needs besides the credentials.
type Plan struct {
	Services []Service
	Gateway  Gateway
	// TrustDomains holds the trust domain and its aliases, used for the prefix fallback
	// "spiffe://<td>/" when a service has no Identities.
	TrustDomains []string
	// BindInContainer serves every service port from one listener on
	// 0.0.0.0:PublishedContainerPort inside Envoy's own network namespace, which Docker publishes
	// and meshjoin's Forwarder feeds from ListenIP:Number (see Publish).
	BindInContainer bool
	// Proxy, when set, is proxy mode: one forward-proxy listener (proxymode.go) instead of a
	// listener per service port; the services need Names, not ListenIP.
	Proxy *ProxyListener
}

// Credentials is the workload identity of the workstation, as PEM.
type Credentials struct {
	CertChainPEM []byte // leaf first
	KeyPEM       []byte // kept in memory; reaches Envoy only as an SDS Secret over ADS
	RootsPEM     []byte // mesh root bundle; every certificate in it is trusted
}

// String leaves the key out, so a stray %v cannot log it.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{chain %d bytes, key [redacted], roots %d bytes}", len(c.CertChainPEM), len(c.RootsPEM))
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// ListenerName is the name of the listener (and of its cluster) for one service port,
// e.g. "ratings.bookinfo:9080".
func ListenerName(serviceKey string, port uint32) string {
	return fmt.Sprintf("%s:%d", serviceKey, port)
}

// ListenerNames lists the listener names BuildResources creates for plan, in plan order;
// WaitReady takes them. In proxy mode that is ProxyListenerName, followed by the clusters'
// names (the listeners' of hosts mode), which WaitReady then checks as clusters only.
func ListenerNames(plan Plan) []string {
	var names []string
	if plan.Proxy != nil {
		names = append(names, ProxyListenerName)
	}
	for _, svc := range plan.Services {
		for _, p := range svc.Ports {
			names = append(names, ListenerName(svc.Key, p.Number))
		}
		for _, j := range svc.GRPCJSON {
			names = append(names, GRPCJSONListenerName(svc.Key, j))
		}
	}
	return names
}

// validatePlan catches mistakes in the plan that Envoy's own validation would report late
// (as a NACK) or not at all (two listeners on one address).
func validatePlan(plan Plan) error {
	if plan.Gateway.Host == "" {
		return errors.New("gateway: no address (set the east-west gateway address, or override it)")
	}
	if strings.ContainsAny(plan.Gateway.Host, " \t\r\n/:") {
		if _, err := netip.ParseAddr(plan.Gateway.Host); err != nil {
			return fmt.Errorf("gateway: %q is neither an IP address nor a hostname", plan.Gateway.Host)
		}
	}
	if plan.Gateway.Port == 0 || plan.Gateway.Port > 65535 {
		return fmt.Errorf("gateway: port %d out of range 1-65535", plan.Gateway.Port)
	}
	for _, td := range plan.TrustDomains {
		if td == "" || strings.ContainsAny(td, "/: \t") {
			return fmt.Errorf("trust domain %q is not valid", td)
		}
	}
	keys := map[string]bool{}
	addrs := map[netip.AddrPort]string{}
	for i, svc := range plan.Services {
		if svc.Key == "" {
			return fmt.Errorf("service #%d (%s): empty key", i+1, svc.Host)
		}
		if strings.ContainsAny(svc.Key, " \t\r\n:/") {
			return fmt.Errorf("service %q: key must not contain spaces, ':' or '/'", svc.Key)
		}
		if keys[svc.Key] {
			return fmt.Errorf("service %q: listed twice", svc.Key)
		}
		keys[svc.Key] = true
		if svc.Host == "" || strings.ContainsAny(svc.Host, " \t\r\n:/") {
			return fmt.Errorf("service %q: host %q is not a valid DNS name", svc.Key, svc.Host)
		}
		// Proxy mode binds no address per service (validateProxy checks the names instead).
		if plan.Proxy == nil && !svc.ListenIP.IsValid() {
			return fmt.Errorf("service %q: no valid listen address", svc.Key)
		}
		if plan.Proxy == nil && svc.ListenIP.IsUnspecified() {
			return fmt.Errorf("service %q: listen address %s would expose the service beyond this machine", svc.Key, svc.ListenIP)
		}
		if len(svc.Ports) == 0 {
			return fmt.Errorf("service %q: no ports", svc.Key)
		}
		for _, p := range svc.Ports {
			if p.Number == 0 || p.Number > 65535 {
				return fmt.Errorf("service %q: port %d out of range 1-65535", svc.Key, p.Number)
			}
			switch p.Protocol {
			case HTTP, HTTP2, TCP:
			default:
				return fmt.Errorf("service %q: port %d: unknown protocol %q (want http, http2 or tcp)", svc.Key, p.Number, p.Protocol)
			}
			// In proxy mode no service has an address: each gets a stand-in of its own (its
			// index), so that only a port one service lists twice is caught.
			ip := svc.ListenIP
			if plan.Proxy != nil {
				ip = netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
			}
			ap := netip.AddrPortFrom(ip, uint16(p.Number))
			if other, dup := addrs[ap]; dup {
				if other == svc.Key {
					return fmt.Errorf("service %q: port %d listed twice", svc.Key, p.Number)
				}
				return fmt.Errorf("service %q: address %s already used by service %q", svc.Key, ap, other)
			}
			addrs[ap] = svc.Key
		}
		for _, j := range svc.GRPCJSON {
			if err := validateGRPCJSON(svc, j); err != nil {
				return fmt.Errorf("service %q: %w", svc.Key, err)
			}
			name := GRPCJSONListenerName(svc.Key, j)
			ap := netip.AddrPortFrom(svc.ListenIP, uint16(j.Port))
			if other, dup := addrs[ap]; dup {
				return fmt.Errorf("service %q: gRPC-JSON listener %s: address %s already used by service %q", svc.Key, name, ap, other)
			}
			addrs[ap] = svc.Key
		}
		for _, id := range svc.Identities {
			if !strings.HasPrefix(id, "spiffe://") || len(id) == len("spiffe://") {
				return fmt.Errorf("service %q: identity %q is not a SPIFFE ID (spiffe://<td>/ns/<ns>/sa/<sa>)", svc.Key, id)
			}
		}
		if len(svc.Identities) == 0 && len(plan.TrustDomains) == 0 {
			return fmt.Errorf("service %q: no identities and no trust domain: the server certificate could not be checked", svc.Key)
		}
	}
	if plan.Proxy != nil {
		return validateProxy(plan)
	}
	return nil
}

// validateCredentials parses the PEM so that a broken certificate is an error here rather
// than a NACK from Envoy (which would keep serving the previous secret).
func validateCredentials(creds Credentials) error {
	if len(creds.CertChainPEM) == 0 || len(creds.KeyPEM) == 0 {
		return errors.New("credentials: certificate chain or key missing")
	}
	pair, err := tls.X509KeyPair(creds.CertChainPEM, creds.KeyPEM)
	if err != nil {
		return fmt.Errorf("credentials: certificate chain and key: %w", err)
	}
	if _, err := x509.ParseCertificate(pair.Certificate[0]); err != nil {
		return fmt.Errorf("credentials: leaf certificate: %w", err)
	}
	if _, err := certs.ParseCertificatesPEM(creds.RootsPEM); errors.Is(err, certs.ErrNoCertificate) {
		return errors.New("credentials: root bundle holds no certificate")
	} else if err != nil {
		return fmt.Errorf("credentials: root bundle %w", err)
	}
	return nil
}
