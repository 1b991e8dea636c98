package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/session"
)

// newHostsApplyCmd is the one thing meshjoin runs as root (through sudo): one edit of its own
// block in the system hosts file, described as JSON on stdin. The request names no file, and
// unknown fields (such as a "path") are refused, so it cannot be pointed anywhere else.
func newHostsApplyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "hosts-apply",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var req session.HostsRequest
			dec := json.NewDecoder(g.streams.In)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				return fmt.Errorf("read the request: %w", err)
			}
			return json.NewEncoder(g.streams.Out).Encode(session.ServeHostsRequest(req))
		},
	}
}
