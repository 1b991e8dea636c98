package ide

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aymanbagabas/go-udiff"

	"github.com/meshjoin/meshjoin/internal/atomicfile"
	"github.com/meshjoin/meshjoin/project"
)

// Options are what the generated configuration does.
type Options struct {
	// Dir is the project (workspace folder) the files are written under.
	Dir string
	// Profile is passed to `meshjoin up --profile`; empty means the project file's default.
	Profile string
	// Wait is how long `meshjoin up --wait` waits for the session to be ready.
	Wait time.Duration
	// Grace is how long `meshjoin down --grace` keeps the session for a restart.
	Grace time.Duration
	// EnvFile is where `meshjoin env -o` writes the environment, relative to Dir.
	EnvFile string
	// Configurations names the existing launch/run configurations to make a mesh copy of;
	// empty means every one that can be copied.
	Configurations []string
	// Env is the session's environment, written into JetBrains run configurations (they cannot
	// read an env file without a plugin). Unused for VS Code.
	Env map[string]string
}

// Defaults for Options fields left zero.
const (
	DefaultWait    = 2 * time.Minute
	DefaultGrace   = 20 * time.Second
	DefaultEnvFile = project.DefaultEnvFile
	// MeshSuffix ends the name of every launch/run configuration meshjoin generates.
	MeshSuffix = " (mesh)"
	// command is how the generated entries call meshjoin: from PATH, as a user types it.
	command = "meshjoin"
)

func (o Options) withDefaults() Options {
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	if o.EnvFile == "" {
		o.EnvFile = DefaultEnvFile
	}
	o.EnvFile = filepath.ToSlash(o.EnvFile)
	return o
}

// upArgs are the arguments of `meshjoin up` in every generated entry.
func (o Options) upArgs() []string {
	args := []string{"up", "--wait", duration(o.Wait)}
	if o.Profile != "" {
		args = append(args, "--profile", o.Profile)
	}
	return args
}

func (o Options) downArgs() []string { return []string{"down", "--grace", duration(o.Grace)} }

// duration prints 2m rather than Go's 2m0s.
func duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// File is one file a generator wants: its current bytes (nil when absent) and the new ones.
type File struct {
	Path     string // relative to Options.Dir, with forward slashes
	Old, New []byte
	Existed  bool
}

// Changed reports whether writing the file would change it.
func (f File) Changed() bool { return !f.Existed || !bytes.Equal(f.Old, f.New) }

// Plan is what a generator would write.
type Plan struct {
	Dir   string
	Files []File
	// Notes are things the user should know (a field left alone, a copy's limits).
	Notes []string
}

// Changed lists the files that would change.
func (p Plan) Changed() []File {
	var out []File
	for _, f := range p.Files {
		if f.Changed() {
			out = append(out, f)
		}
	}
	return out
}

// Diff is a unified diff of every change, "" when nothing would change.
func (p Plan) Diff() string {
	var b strings.Builder
	for _, f := range p.Changed() {
		old := "a/" + f.Path
		if !f.Existed {
			old = "/dev/null"
		}
		b.WriteString(udiff.Unified(old, "b/"+f.Path, string(f.Old), string(f.New)))
	}
	return b.String()
}

// Write writes every changed file atomically (creating directories) and returns their paths.
func (p Plan) Write() ([]string, error) {
	var written []string
	for _, f := range p.Changed() {
		path := filepath.Join(p.Dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return written, err
		}
		if err := atomicfile.WriteFile(path, f.New, 0o644); err != nil {
			return written, fmt.Errorf("write %s: %w", path, err)
		}
		written = append(written, f.Path)
	}
	return written, nil
}

// readFile returns a project file's bytes, or nil and false when it does not exist.
func readFile(dir, rel string) ([]byte, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if os.IsNotExist(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, &InvalidFileError{Path: rel, Err: err}
	}
	return b, true, nil
}
