package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/session"
)

// newHostsApplyCmd is the one thing meshjoin runs as root (through sudo): one edit of its own
// block in a hosts file, described as JSON on stdin.
func newHostsApplyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "hosts-apply",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var req session.HostsRequest
			if err := json.NewDecoder(g.streams.In).Decode(&req); err != nil {
				return fmt.Errorf("read the request: %w", err)
			}
			return json.NewEncoder(g.streams.Out).Encode(session.ServeHostsRequest(req))
		},
	}
}
