package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/internal/atomicfile"
	"github.com/meshjoin/meshjoin/session"
)

// envFormats are the formats of `meshjoin env`, each read back by the tool it is for.
var envFormats = map[string]func([]daemon.EnvVar) []byte{
	"dotenv":     func(v []daemon.EnvVar) []byte { return envLines(v, "", "=", dotenvQuote) },
	"sh":         func(v []daemon.EnvVar) []byte { return envLines(v, "export ", "=", shQuote) },
	"powershell": func(v []daemon.EnvVar) []byte { return envLines(v, "$env:", " = ", psQuote) },
	// docker run --env-file takes the value literally, quotes included.
	"docker": func(v []daemon.EnvVar) []byte { return envLines(v, "", "=", func(s string) string { return s }) },
	"json":   envJSON,
}

func newEnvCmd(g *globals) *cobra.Command {
	var format, output string
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print the joined services' environment (<NAME>_SERVICE_HOST ... as Kubernetes sets it), or write it to a file",
		Example: `  eval "$(meshjoin env --format sh)"
  meshjoin env -o .meshjoin/env                 # for an IDE's envFile
  docker run --env-file <(meshjoin env --format docker) ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			render, ok := envFormats[format]
			if !ok {
				return &session.UsageError{Msg: fmt.Sprintf("unknown --format %q", format), Hint: "use dotenv, json, sh, powershell or docker"}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			c := daemon.NewClient(g.stateDir)
			defer c.Close()
			vars, err := c.Env(ctx)
			if errors.Is(err, daemon.ErrNotRunning) {
				return noBackgroundSession(ctx, g.stateDir)
			}
			if err != nil {
				return err
			}
			out := render(vars)
			if output == "" || output == "-" {
				_, err := g.streams.Out.Write(out)
				return err
			}
			return writeAtomically(output, out)
		},
	}
	cmd.Flags().StringVar(&format, "format", "dotenv", "dotenv, json, sh, powershell or docker")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file (atomically) instead of stdout")
	return cmd
}

// writeAtomically replaces path in one step: a reader sees the old file or the new one.
func writeAtomically(path string, data []byte) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

func envLines(vars []daemon.EnvVar, prefix, sep string, quote func(string) string) []byte {
	var b bytes.Buffer
	for _, v := range vars {
		b.WriteString(prefix + v.Name + sep + quote(v.Value) + "\n")
	}
	return b.Bytes()
}

func envJSON(vars []daemon.EnvVar) []byte {
	m := make(map[string]string, len(vars))
	for _, v := range vars {
		m[v.Name] = v.Value
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}

// plainValue needs no quotes in any format (addresses, ports, URLs, SPIFFE IDs).
var plainValue = regexp.MustCompile(`^[A-Za-z0-9_./:@+,=-]*$`)

// dotenvQuote double-quotes what is not plain, escaping as dotenv parsers unescape.
func dotenvQuote(s string) string {
	if plainValue.MatchString(s) {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "$", `\$`).Replace(s) + `"`
}

// shQuote single-quotes for POSIX shells.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// psQuote single-quotes for PowerShell (a quote is doubled).
func psQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
