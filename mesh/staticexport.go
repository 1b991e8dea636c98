package mesh

import (
	"fmt"
	"net"
	"slices"
	"strconv"
)

// StaticExport is what `meshjoin mesh export` read from a cluster.
type StaticExport struct {
	Config       *Config
	Gateway      Gateway
	CAAddress    string // host:port of the mesh CA as a workstation reaches it
	CAServerName string // "" for the default
	Services     []Service
}

// StaticFileFrom is the mesh file that describes what e read: settings, gateway, CA, roots and
// the services as the catalogue shows them. It never holds a token or a key: the workload
// certificate's source is for each reader to add.
func StaticFileFrom(e StaticExport) (*StaticFile, error) {
	f := &StaticFile{
		Version:            StaticFileVersion,
		TrustDomain:        e.Config.TrustDomain,
		TrustDomainAliases: slices.Clone(e.Config.Aliases),
		Network:            e.Config.Network,
		Gateways:           []string{net.JoinHostPort(e.Gateway.Host, strconv.Itoa(int(e.Gateway.Port)))},
		Roots:              []StaticRoot{{PEM: string(e.Config.RootsPEM)}},
	}
	if e.CAAddress != "" {
		f.CA = &StaticCA{Address: e.CAAddress, ServerName: e.CAServerName}
	}
	for _, s := range e.Services {
		if !s.Reachable {
			return nil, fmt.Errorf("%s is not reachable through the east-west gateway: %s", s.Key(), s.Reason)
		}
		ss := StaticService{Name: s.Name, Namespace: s.Namespace}
		if s.Kind != KindService {
			ss.Kind = string(s.Kind)
		}
		if s.Kind != KindService || len(s.Hosts) != 1 || s.Hosts[0] != s.Name+"."+s.Namespace+".svc."+DefaultClusterDomain {
			ss.Hosts = slices.Clone(s.Hosts)
		}
		for _, p := range s.Ports {
			ss.Ports = append(ss.Ports, StaticPort{Number: int(p.Number), Protocol: string(p.Protocol), Name: p.Name})
		}
		if s.IdentitiesExact {
			ss.Identities = slices.Clone(s.Identities)
		}
		f.Services = append(f.Services, ss)
	}
	f.rootsPEM = e.Config.RootsPEM
	return f, nil
}
