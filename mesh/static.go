package mesh

import (
	"context"
	"slices"
	"strings"
)

// Source is a catalogue of services: the live one kept by informers ([*Catalog]) or the one a
// static mesh file describes ([*StaticCatalog]). Its methods are safe for concurrent use.
type Source interface {
	// Start fills the catalogue; ctx is its lifetime.
	Start(ctx context.Context) error
	// Services is every service, sorted by namespace, then name, then kind.
	Services() []Service
	// Lookup finds one service by the name a user typed (see Catalog.Lookup).
	Lookup(name string) (Service, error)
	// Changes is signalled whenever the catalogue may have changed.
	Changes() <-chan struct{}
	// Warnings are about the catalogue as a whole.
	Warnings() []string
	// Freshness says whether the catalogue follows its source now.
	Freshness() Freshness
}

var (
	_ Source = (*Catalog)(nil)
	_ Source = (*StaticCatalog)(nil)
)

// StaticCatalog is the catalogue a static mesh file describes. It never changes: Changes is
// never signalled. Its methods are safe for concurrent use.
type StaticCatalog struct {
	// The lookup rules (names, suggestions, ambiguity) are the live catalogue's: a Catalog
	// without informers, filled once.
	c *Catalog
}

// NewStaticCatalog is the catalogue of a checked mesh file.
func NewStaticCatalog(f *StaticFile) *StaticCatalog {
	c := NewCatalog(nil, nil, f.Config(), CatalogOptions{ClusterDomain: f.ClusterDomain})
	for _, s := range f.services() {
		k := keyOf(&s)
		c.raw[k], c.byKey[k] = &s, &s
		c.list = append(c.list, &s)
		c.indexNames(&s)
	}
	slices.SortFunc(c.list, func(a, b *Service) int { return keyOf(a).compare(keyOf(b)) })
	c.synced.Store(true)
	return &StaticCatalog{c: c}
}

// Start does nothing: the file was read and checked when the catalogue was made.
func (s *StaticCatalog) Start(context.Context) error { return nil }

// Services is every service of the file, sorted by namespace, then name, then kind.
func (s *StaticCatalog) Services() []Service { return s.c.Services() }

// Lookup finds one service by name, as Catalog.Lookup does.
func (s *StaticCatalog) Lookup(name string) (Service, error) { return s.c.Lookup(name) }

// Changes is never signalled.
func (s *StaticCatalog) Changes() <-chan struct{} { return s.c.Changes() }

// Warnings is empty: the file was checked whole.
func (s *StaticCatalog) Warnings() []string { return nil }

// Freshness is always fresh: the file is the whole source, read once.
func (s *StaticCatalog) Freshness() Freshness { return Freshness{} }

// Config is the mesh settings the file gives.
func (f *StaticFile) Config() *Config {
	cfg := &Config{
		TrustDomain:   f.TrustDomain,
		Aliases:       slices.Clone(f.TrustDomainAliases),
		RootsPEM:      f.rootsPEM,
		Network:       f.Network,
		RootNamespace: DefaultRootNamespace,
	}
	if f.CA != nil {
		cfg.CAAddress = f.CA.Address
	}
	return cfg
}

// services are the file's services as the catalogue shows them: reachable (the file says so),
// identities under every trust domain, the Service's FQDN as its host when none is given.
func (f *StaticFile) services() []Service {
	domain := f.ClusterDomain
	if domain == "" {
		domain = DefaultClusterDomain
	}
	out := make([]Service, 0, len(f.Services))
	for _, ss := range f.Services {
		s := Service{
			Name: ss.Name, Namespace: ss.Namespace, Kind: KindService,
			Hosts:     slices.Clone(ss.Hosts),
			Reachable: true, // the file lists what can be called; endpoints are not known without the cluster (0)
		}
		if ss.Kind != "" {
			s.Kind = Kind(ss.Kind)
		}
		if len(s.Hosts) == 0 {
			s.Hosts = []string{ss.Name + "." + ss.Namespace + ".svc." + domain}
		}
		for _, p := range ss.Ports {
			s.Ports = append(s.Ports, Port{Name: p.Name, Number: uint32(p.Number), Protocol: Protocol(strings.ToLower(p.Protocol))})
		}
		if len(ss.Identities) > 0 {
			s.Identities = expandTrustDomains(ss.Identities, f.TrustDomain, f.TrustDomainAliases)
			s.IdentitiesExact = true
		}
		out = append(out, s)
	}
	return out
}
