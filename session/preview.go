package session

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/meshjoin/meshjoin/certs"
	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/hosts"
)

// Preview is what a join of cfg would do (`--dry-run`), worked out without changing anything.
type Preview struct {
	Identity  string          `json:"identity"`
	Gateway   string          `json:"gateway"`
	CAAddress string          `json:"caAddress"`
	CertTTL   string          `json:"certTTL"`
	Runtime   string          `json:"runtime"`
	Services  []JoinedService `json:"services"`
	Warnings  []string        `json:"warnings,omitempty"`
	// Envoy is the listeners and clusters Envoy would get (certificates are never shown).
	Envoy     json.RawMessage `json:"envoy"`
	HostsFile string          `json:"hostsFile"`
	// HostsDiff is the change to the hosts file as a unified diff; "" when there is none.
	HostsDiff string `json:"hostsDiff"`
}

// previewOwner stands for the session id in the previewed hosts block.
const previewOwner = "dry-run"

// PreviewJoin works out what Join(ctx, cfg) would do, and changes nothing: it reads the mesh
// settings and the catalogue from the cluster and the hosts file from disk, and opens one TCP
// connection to the gateway (as Join does, to report an unreachable gateway); it asks for no
// token or certificate, starts no Envoy, writes no file and does not create the state
// directory. Bad input fails as it would in Join.
func PreviewJoin(ctx context.Context, cfg Config) (*Preview, error) {
	if len(cfg.Services) == 0 {
		return nil, &UsageError{Msg: "no services to join", Hint: "name at least one, e.g. `meshjoin join ratings.bookinfo`; `meshjoin services` lists them"}
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	id, err := certs.ParseIdentity(cfg.Identity)
	if err != nil {
		return nil, err
	}
	meshCfg, gw, err := readMesh(ctx, &cfg, id.Namespace)
	if err != nil {
		return nil, err
	}
	id.TrustDomain = meshCfg.TrustDomain
	catalog := newCatalog(&cfg, meshCfg)
	catalogCtx, stop := context.WithCancel(ctx)
	defer stop()
	if err := catalog.Start(catalogCtx); err != nil {
		return nil, err
	}
	plan, joined, warnings, err := makePlan(planInput{
		Lookup: catalog.Lookup, Gateway: gw, TrustDomains: append([]string{meshCfg.TrustDomain}, meshCfg.Aliases...),
		AddressRange: cfg.AddressRange, BareNames: cfg.BareNames, Transcodings: cfg.transcodings, Proxy: cfg.proxyListener(),
	}, cfg.Services)
	if err != nil {
		return nil, err
	}
	p := &Preview{Identity: id.SPIFFEID(), Gateway: gw.Host + ":" + fmt.Sprint(gw.Port), CAAddress: cfg.CAAddress,
		CertTTL: cfg.CertTTL.String(), Runtime: cfg.Runtime, Services: joined, HostsFile: cfg.HostsFile}
	for _, w := range warnings {
		p.Warnings = append(p.Warnings, w.Service+": "+w.Msg)
	}
	if p.Envoy, err = envoy.PreviewConfig(plan); err != nil {
		return nil, err
	}
	if cfg.Mode == ModeProxy {
		p.HostsFile = "" // proxy mode leaves it alone
		return p, nil
	}
	if p.HostsDiff, err = hostsDiff(cfg.HostsFile, hostsEntries(joined), p); err != nil {
		return nil, err
	}
	return p, nil
}

// hostsDiff is the unified diff Apply would make to the hosts file at path; names it would
// leave out become warnings on p.
func hostsDiff(path string, entries []hosts.Entry, p *Preview) (string, error) {
	before, err := os.ReadFile(path)
	if err != nil {
		return "", &HostsFileError{Err: fmt.Errorf("read hosts file %s: %w", path, err)}
	}
	after, rejected, err := hosts.Preview(before, previewOwner, entries)
	if err != nil {
		return "", &HostsFileError{Err: fmt.Errorf("%s: %w", path, err)}
	}
	for _, r := range rejected {
		p.Warnings = append(p.Warnings, fmt.Sprintf("name %s not written to the hosts file: %s", r.Name, r.Reason))
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(before)), B: difflib.SplitLines(string(after)),
		FromFile: path, ToFile: path + " (after join)", Context: 1,
	})
}
