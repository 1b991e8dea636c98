package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Stamped by release builds (hack/release.sh) with -ldflags "-X main.version=... -X main.commit=...
// -X main.date=...". A `go install ...@v1.2.3` leaves them empty and the module's version
// and VCS data from the build info fill in.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// versionInfo is what `meshjoin version` prints, e.g.
// "meshjoin v0.3.0 (commit 1a2b3c4d5e6f, 2026-11-27T14:00:00Z, go1.26.8 linux/amd64)".
func versionInfo() string {
	v, c, d := version, commit, date
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			}
		}
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if c == "" {
		c = "unknown"
	}
	if d == "" {
		d = "unknown date"
	}
	return fmt.Sprintf("meshjoin %s (commit %s, %s, %s %s/%s)", v, c, d, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print meshjoin's version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintln(g.streams.Out, versionInfo()) },
	}
}
