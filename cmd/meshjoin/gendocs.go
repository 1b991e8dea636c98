package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newGenDocsCmd writes man pages and shell completions generated from the commands themselves,
// for release archives (hack/release.sh) and packagers.
func newGenDocsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "gen-docs DIR",
		Short:  "Write man pages (DIR/man/man1) and shell completions (DIR/completions)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			man := filepath.Join(args[0], "man", "man1")
			comp := filepath.Join(args[0], "completions")
			for _, d := range []string{man, comp} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			root.DisableAutoGenTag = true // same pages for the same commands: reproducible archives
			hdr := &doc.GenManHeader{Title: "MESHJOIN", Section: "1", Source: "meshjoin " + version}
			if err := doc.GenManTree(root, hdr, man); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			gens := map[string]func(string) error{
				"meshjoin.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
				"_meshjoin":     root.GenZshCompletionFile,
				"meshjoin.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
				"_meshjoin.ps1": root.GenPowerShellCompletionFileWithDesc,
			}
			for name, gen := range gens {
				if err := gen(filepath.Join(comp, name)); err != nil {
					return fmt.Errorf("completion %s: %w", name, err)
				}
			}
			fmt.Fprintf(g.streams.Out, "wrote %s and %s\n", man, comp)
			return nil
		},
	}
}
