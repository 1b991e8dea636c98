package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshjoin/meshjoin/certs"
	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/project"
	"github.com/meshjoin/meshjoin/session"
)

type initOptions struct {
	path, identity string
}

func newInitCmd(g *globals) *cobra.Command {
	o := &initOptions{}
	cmd := &cobra.Command{
		Use:   "init [SERVICE...]",
		Short: "Write a starter meshjoin.yaml (project file) with the services named, or picked on a terminal",
		Example: `  meshjoin init ratings.bookinfo details.bookinfo --identity dev/reviews-dev
  meshjoin init          # on a terminal: pick from the mesh's services`,
		RunE: func(cmd *cobra.Command, args []string) error { return initRun(cmd.Context(), g, o, args) },
	}
	cmd.Flags().StringVar(&o.path, "config", project.FileName, "file to write; never overwritten")
	cmd.Flags().StringVar(&o.identity, "identity", os.Getenv("MESHJOIN_IDENTITY"), "service account to act as, <namespace>/<name>, written into the file ($MESHJOIN_IDENTITY)")
	return cmd
}

func initRun(ctx context.Context, g *globals, o *initOptions, args []string) error {
	// Refuse early, before asking anything: an existing file is never replaced.
	if _, err := os.Lstat(o.path); err == nil {
		return &session.UsageError{Msg: o.path + " already exists; meshjoin init never overwrites it", Hint: "edit it (docs/project-file.md), or write another with --config PATH"}
	}
	if o.identity != "" {
		if _, err := certs.ParseIdentity(o.identity); err != nil {
			return err
		}
	}
	if len(args) == 0 && !g.streams.IsTTY {
		return &session.UsageError{Msg: "no services named", Hint: "name them: `meshjoin init ratings.bookinfo details.bookinfo` (`meshjoin services` lists them)"}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the catalogue's informers
	k, err := g.connect()
	if err != nil {
		return err
	}
	cat, err := startCatalog(ctx, k)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		if args, err = pickServices(g, cat); err != nil {
			return err
		}
	}
	var names []string
	for _, name := range qualify(args, k.namespace) {
		svc, err := cat.Lookup(name)
		if err != nil {
			return err
		}
		if !svc.Reachable {
			return &session.UsageError{Msg: fmt.Sprintf("%s is not reachable through the east-west gateway: %s", svc.Key(), svc.Reason),
				Hint: "only services in mesh namespaces with sidecars and mTLS can be joined; `meshjoin services` marks them"}
		}
		names = append(names, serviceName(svc))
	}
	content := starterFile(o.identity, names)
	if _, err := project.Decode(o.path, content); err != nil {
		return fmt.Errorf("the starter file does not validate (a bug): %w", err)
	}
	f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644) // O_EXCL: a file made meanwhile is not replaced either
	if errors.Is(err, fs.ErrExist) {
		return &session.UsageError{Msg: o.path + " already exists; meshjoin init never overwrites it", Hint: "edit it (docs/project-file.md), or write another with --config PATH"}
	}
	if err != nil {
		return &session.UsageError{Msg: "write the project file: " + err.Error(), Hint: "run in a directory you may write, or give --config PATH"}
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		os.Remove(o.path)
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(o.path)
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	fmt.Fprintf(g.streams.Out, "Wrote %s with %d services.\n", o.path, len(names))
	local := filepath.Base(project.LocalPath(o.path))
	next := "meshjoin join (or meshjoin up); keep personal settings such as your identity in " + local
	if o.identity == "" {
		next = "add identity: <namespace>/<serviceaccount> to " + local + " (or the file), then meshjoin join"
	}
	fmt.Fprintf(g.streams.Err, "Next: %s, and add %s and %s to .gitignore.\n", next, local, filepath.Dir(project.DefaultEnvFile)+"/")
	return nil
}

// startCatalog lists the mesh's services (its informers run until ctx ends).
func startCatalog(ctx context.Context, k *kube) (*mesh.Catalog, error) {
	cfg, err := mesh.LoadConfig(ctx, k.client, mesh.ConfigOptions{})
	if err != nil {
		return nil, err
	}
	cat := mesh.NewCatalog(k.client, k.dynamic, cfg, mesh.CatalogOptions{SyncTimeout: 30 * time.Second})
	if err := cat.Start(ctx); err != nil {
		return nil, err
	}
	return cat, nil
}

// serviceName is how the project file names a service: name.namespace, or a ServiceEntry's host.
func serviceName(s mesh.Service) string {
	if s.Kind == mesh.KindServiceEntry && len(s.Hosts) > 0 {
		return s.Hosts[0]
	}
	return s.Key()
}

// pickServices asks on the terminal which of the joinable services to put in the file.
func pickServices(g *globals, cat *mesh.Catalog) ([]string, error) {
	var joinable []mesh.Service
	for _, s := range cat.Services() {
		if s.Reachable {
			joinable = append(joinable, s)
		}
	}
	if len(joinable) == 0 {
		return nil, &session.UsageError{Msg: "the mesh has no service this machine can join", Hint: "`meshjoin services -A` says why for each"}
	}
	for i, s := range joinable {
		fmt.Fprintf(g.streams.Err, "%3d  %s\n", i+1, serviceName(s))
	}
	fmt.Fprint(g.streams.Err, "Services to join (numbers or names, separated by spaces): ")
	line, err := bufio.NewReader(g.streams.In).ReadString('\n')
	if err != nil && line == "" {
		return nil, &session.UsageError{Msg: "no services picked", Hint: "name them: `meshjoin init SERVICE...`"}
	}
	var picked []string
	for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' || r == '\r' }) {
		if n, err := strconv.Atoi(f); err == nil && n >= 1 && n <= len(joinable) {
			picked = append(picked, serviceName(joinable[n-1]))
		} else {
			picked = append(picked, f)
		}
	}
	if len(picked) == 0 {
		return nil, &session.UsageError{Msg: "no services picked", Hint: "name them: `meshjoin init SERVICE...`"}
	}
	return picked, nil
}

// starterFile is the content init writes: the schema comment, the identity if known, the services.
func starterFile(identity string, services []string) []byte {
	var b bytes.Buffer
	fmt.Fprintln(&b, project.SchemaComment)
	fmt.Fprintln(&b, "# meshjoin project file: the fields are in docs/project-file.md.")
	fmt.Fprintf(&b, "# Personal settings (your identity, kube context) go in %s, not committed.\n", filepath.Base(project.LocalPath(project.FileName)))
	if identity != "" {
		fmt.Fprintf(&b, "identity: %s\n", strconv.Quote(identity))
	} else {
		fmt.Fprintln(&b, "# identity: <namespace>/<serviceaccount>")
	}
	fmt.Fprintln(&b, "services:")
	for _, s := range services {
		fmt.Fprintf(&b, "  - %s\n", strconv.Quote(s))
	}
	return b.Bytes()
}
