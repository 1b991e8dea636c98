package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/meshjoin/meshjoin/session"
)

// addDryRunFlag registers --dry-run (join, and the commands that start a session).
func addDryRunFlag(f *pflag.FlagSet, o *joinOptions) {
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan (services, addresses, names, Envoy listeners and clusters, the hosts-file diff) and change nothing")
}

// printDryRun prints what a join of cfg would do, as YAML on stdout; nothing is changed (see
// session.PreviewJoin).
func printDryRun(ctx context.Context, st Streams, cfg session.Config) error {
	p, err := session.PreviewJoin(ctx, cfg)
	if err != nil {
		return err
	}
	out, err := previewYAML(p)
	if err != nil {
		return err
	}
	fmt.Fprintln(st.Out, "# meshjoin --dry-run: what a join would do; nothing was changed")
	_, err = st.Out.Write(out)
	return err
}

// previewYAML renders p as YAML in its fields' order, multi-line text (the hosts diff) as a
// literal block. A CRLF hosts file's diff is shown with LF line ends: YAML blocks cannot hold
// a carriage return.
func previewYAML(p *session.Preview) ([]byte, error) {
	if strings.Contains(p.HostsDiff, "\r") {
		p.HostsDiff = "# (the file's lines end in CRLF; shown here with LF)\n" + strings.ReplaceAll(p.HostsDiff, "\r", "")
	}
	js, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(js, &doc); err != nil { // JSON is YAML, and the node keeps the order
		return nil, err
	}
	var literal func(n *yaml.Node)
	literal = func(n *yaml.Node) {
		n.Style &^= yaml.FlowStyle | yaml.DoubleQuotedStyle
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "\n") {
			n.Style = yaml.LiteralStyle
		}
		for _, c := range n.Content {
			literal(c)
		}
	}
	literal(&doc)
	return yaml.Marshal(&doc)
}
