package session

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/mesh"
)

// planInput is what planning needs to know about the mesh and the user's settings. Planning is
// pure: no I/O, the same input gives the same plan, so it is table-tested without a cluster.
type planInput struct {
	Lookup       func(name string) (mesh.Service, error) // (*mesh.Catalog).Lookup
	Gateway      envoy.Gateway
	TrustDomains []string // the mesh's trust domain, then its aliases
	AddressRange netip.Prefix
	BareNames    bool
	Transcodings []transcoding // gRPC-JSON listeners asked for (Config.GRPCJSON)
	// Proxy is proxy mode's listener; nil in hosts mode. Proxy mode allocates no addresses.
	Proxy *envoy.ProxyListener
}

// planWarning is something the user should hear about a planned service; planning does not log.
type planWarning struct{ Service, Msg string }

// makePlan resolves names into the Envoy plan and what the hosts file gets. Names that lead to
// the same service count once; addresses are allocated in the order given.
func makePlan(in planInput, names []string) (envoy.Plan, []JoinedService, []planWarning, error) {
	plan := envoy.Plan{Gateway: in.Gateway, TrustDomains: in.TrustDomains, Proxy: in.Proxy}
	var joined []JoinedService
	var warnings []planWarning
	taken := map[netip.Addr]bool{}
	seen := map[string]bool{}
	for _, name := range names {
		svc, err := in.Lookup(name)
		if err != nil {
			return plan, nil, nil, err
		}
		if seen[svc.Key()] {
			continue
		}
		seen[svc.Key()] = true
		if err := joinable(svc); err != nil {
			return plan, nil, nil, err
		}
		// What the catalogue dropped from the cluster's data (names unfit for a hosts file, bad
		// ports or identities), already quoted and escaped.
		for _, w := range svc.Warnings {
			warnings = append(warnings, planWarning{svc.Key(), w})
		}
		es := envoy.Service{Key: svc.Key(), Host: svc.Hosts[0]}
		if in.Proxy == nil {
			addr, err := hosts.Allocator{Prefix: in.AddressRange}.AddressFor(svc.Key(), taken)
			if err != nil {
				return plan, nil, nil, err
			}
			taken[addr] = true
			es.ListenIP = addr
		}
		if svc.IdentitiesExact {
			es.Identities = svc.Identities
		} else {
			warnings = append(warnings, planWarning{svc.Key(), "pods could not be read: accepting any identity of the trust domain"})
		}
		js := JoinedService{Key: svc.Key(), Identities: es.Identities, Exact: svc.IdentitiesExact, Warnings: svc.Warnings}
		if in.Proxy != nil {
			js.Proxy = "http://" + in.Proxy.Addr()
		} else {
			js.Addr = es.ListenIP.String()
		}
		for _, p := range svc.Ports {
			proto := envoyProtocol(p.Protocol)
			es.Ports = append(es.Ports, envoy.Port{Number: p.Number, Protocol: proto})
			name := envoy.ListenerName(svc.Key(), p.Number)
			js.Ports = append(js.Ports, Port{Number: p.Number, Protocol: string(proto), Listener: name, Cluster: name})
		}
		if err := planTranscodings(in, svc, &es, &js); err != nil {
			return plan, nil, nil, err
		}
		js.Names = namesFor(svc, false)
		js.Unmapped = unmappedFrom(svc.Conflicts)
		plan.Services = append(plan.Services, es)
		joined = append(joined, js)
	}
	if in.BareNames {
		warnings = append(warnings, addBareNames(joined)...)
	}
	warnings = append(warnings, warnUnjoined(in, joined)...)
	if in.Proxy != nil {
		routeNames(plan.Services, joined)
	}
	return plan, joined, warnings, nil
}

// routeNames gives proxy mode's Envoy the names to route on. A name two joined services
// claim (a ServiceEntry host that is also a Service's name) goes to the first, as the first
// line of a hosts file would win; the second's is noted in Unmapped.
func routeNames(plan []envoy.Service, joined []JoinedService) {
	owner := map[string]string{}
	for i := range joined {
		var names []string
		for _, n := range joined[i].Names {
			key := strings.ToLower(n)
			if other, taken := owner[key]; taken {
				joined[i].Unmapped = append(joined[i].Unmapped, fmt.Sprintf("%s: routed to %s, joined first", n, other))
				continue
			}
			owner[key] = joined[i].Key
			names = append(names, n)
		}
		joined[i].Names = names
		plan[i].Names = slices.Clone(names)
	}
}

// joinable says why a service cannot be joined, or nil.
func joinable(svc mesh.Service) error {
	// Before reachability: a ServiceEntry whose every host was refused is "unreachable" too,
	// but the names are what the user must hear about.
	if len(svc.Hosts) == 0 {
		why := strings.Join(svc.Warnings, "; ")
		if why == "" {
			why = "it declares none"
		}
		hint := "fix the names in the cluster object"
		if svc.Kind == mesh.KindServiceEntry {
			hint = "the ServiceEntry's hosts must be DNS names (RFC 1123, no wildcard): fix them in the cluster, or join another service"
		}
		return &UsageError{Msg: fmt.Sprintf("%s has no usable host name: %s", svc.Key(), why), Hint: hint}
	}
	if !svc.Reachable {
		return &UsageError{Msg: fmt.Sprintf("%s is not reachable through the east-west gateway: %s", svc.Key(), svc.Reason),
			Hint: "only services in mesh namespaces with sidecars and mTLS can be joined; `meshjoin services` marks them"}
	}
	return nil
}

// addBareNames maps "ratings" too, but only when one joined service has that name: two
// namespaces' "ratings" would make the bare name mean whichever line comes first.
func addBareNames(joined []JoinedService) []planWarning {
	count := map[string]int{}
	for _, js := range joined {
		count[bareName(js)]++
	}
	var warnings []planWarning
	for i, js := range joined {
		if name := bareName(js); name != "" && count[name] == 1 {
			joined[i].Names = append(joined[i].Names, name)
		} else if name != "" {
			warnings = append(warnings, planWarning{js.Key, fmt.Sprintf("bare name %s is ambiguous; not mapped", name)})
		}
	}
	return warnings
}

func bareName(js JoinedService) string {
	if len(js.Names) < 3 || !strings.HasSuffix(js.Names[1], ".svc") {
		return "" // ServiceEntries keep their declared hosts only
	}
	name, _, _ := strings.Cut(js.Key, ".")
	return name
}

// namesFor is what a developer types: <svc>.<ns>.svc.<domain>, <svc>.<ns>.svc, <svc>.<ns>
// for Services; the declared hosts for ServiceEntries.
func namesFor(svc mesh.Service, bare bool) []string {
	if svc.Kind == mesh.KindServiceEntry {
		return slices.Clone(svc.Hosts)
	}
	fqdn := svc.Hosts[0]
	names := []string{fqdn, svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace}
	if bare {
		names = append(names, svc.Name)
	}
	return names
}

func envoyProtocol(p mesh.Protocol) envoy.Protocol {
	switch p.Codec() {
	case mesh.CodecHTTP1:
		return envoy.HTTP
	case mesh.CodecHTTP2:
		return envoy.HTTP2
	default:
		return envoy.TCP
	}
}

// hostsEntries is the hosts block for the joined services.
func hostsEntries(svcs []JoinedService) []hosts.Entry {
	var out []hosts.Entry
	for _, js := range svcs {
		out = append(out, hosts.Entry{IP: netip.MustParseAddr(js.Addr), Names: js.Names})
	}
	return out
}

func countNames(es []hosts.Entry) (n int) {
	for _, e := range es {
		n += len(e.Names)
	}
	return n
}
