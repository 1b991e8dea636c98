package project

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// EnvConfig names the environment variable that points at a project file, like --config.
const EnvConfig = "MESHJOIN_CONFIG"

// Project is a loaded project file with its local companion merged in.
type Project struct {
	Path      string // the project file
	LocalPath string // the meshjoin.local.yaml merged in; "" when there was none
	File      File   // the merged content
}

// Find is the project file to use: explicit (--config) if given, else $MESHJOIN_CONFIG, else
// meshjoin.yaml in dir or the nearest parent, looking no higher than the repository root (the
// directory holding .git). "" without error when there is none. An explicit path, or the
// variable's, must exist.
func Find(explicit, dir string) (string, error) {
	for _, p := range []struct{ path, from string }{{explicit, "--config"}, {os.Getenv(EnvConfig), "$" + EnvConfig}} {
		if p.path == "" {
			continue
		}
		if _, err := os.Stat(p.path); err != nil {
			return "", &FileError{File: p.path, Msg: "cannot read the project file named by " + p.from, Err: err}
		}
		return filepath.Abs(p.path)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		candidate := filepath.Join(dir, FileName)
		if st, err := os.Stat(candidate); err == nil && !st.IsDir() {
			return candidate, nil
		}
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			return "", nil // the repository root: a file above it belongs to something else
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

// LocalPath is the personal file beside a project file: meshjoin.local.yaml for meshjoin.yaml.
func LocalPath(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + ".local" + filepath.Ext(path)
}

// Load reads the project file at path and merges the local file beside it, if any, over it
// (field by field; profiles by name, field by field). Errors are *FileError.
func Load(path string) (*Project, error) {
	f, err := loadFile(path)
	if err != nil {
		return nil, err
	}
	p := &Project{Path: path, File: f}
	local := LocalPath(path)
	if _, err := os.Stat(local); err == nil {
		lf, err := loadFile(local)
		if err != nil {
			return nil, err
		}
		p.LocalPath = local
		p.File = merge(p.File, lf)
	}
	return p, nil
}

func loadFile(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := "cannot read the project file"
		if errors.Is(err, fs.ErrNotExist) {
			msg = "no such project file"
		}
		return File{}, &FileError{File: path, Msg: msg, Err: err}
	}
	return Decode(path, data)
}

// Decode reads one project file's bytes strictly: each key must be a field of [File], each
// value of its type and valid (the decoder's checks, then the schema's). name is used in errors.
func Decode(name string, data []byte) (File, error) {
	var f File
	doc, err := parser.ParseBytes(data, 0)
	if err != nil {
		return f, decodeError(name, nil, err)
	}
	err = yaml.NewDecoder(bytes.NewReader(data), yaml.Strict()).Decode(&f)
	if errors.Is(err, io.EOF) {
		return File{}, nil // empty, or only comments
	}
	if err != nil {
		return f, decodeError(name, doc, err)
	}
	if err := validate(name, doc, data); err != nil {
		return f, err
	}
	return f, nil
}

// validate checks the document against [Schema]: what the decoder lets through (a number where
// a string is wanted) the schema does not, so the file and the published schema agree.
func validate(name string, doc *ast.File, data []byte) error {
	sch, err := compiled()
	if err != nil {
		return fmt.Errorf("project file schema: %w", err) // a bug, caught by the schema test
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return decodeError(name, doc, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return &FileError{File: name, Msg: err.Error()}
	}
	err = sch.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	// The most specific complaint; a bad key (a profile's name) is located by the key itself.
	loc, isKey := ve.InstanceLocation, false
	for len(ve.Causes) > 0 {
		if pn, ok := ve.ErrorKind.(*kind.PropertyNames); ok {
			loc, isKey = append(slices.Clone(ve.InstanceLocation), pn.Property), true
		}
		ve = ve.Causes[0]
		if !isKey {
			loc = ve.InstanceLocation
		}
	}
	fe := &FileError{File: name, Field: strings.Join(loc, "."), Msg: ve.ErrorKind.LocalizedString(message.NewPrinter(language.English))}
	if n := nodeAt(doc, loc, isKey); n != nil && n.GetToken() != nil && n.GetToken().Position != nil {
		fe.Line, fe.Column = n.GetToken().Position.Line, n.GetToken().Position.Column
	}
	return fe
}

// merge is base with every field over sets overriding it.
func merge(base, over File) File {
	base.Context = pick(base.Context, over.Context)
	base.Settings = mergeSettings(base.Settings, over.Settings)
	base.HostsFile = pick(base.HostsFile, over.HostsFile)
	base.AddressRange = pick(base.AddressRange, over.AddressRange)
	base.EnvFile = pick(base.EnvFile, over.EnvFile)
	base.IdleTimeout = pick(base.IdleTimeout, over.IdleTimeout)
	base.MeshFile = pick(base.MeshFile, over.MeshFile)
	if len(over.Profiles) > 0 {
		profiles := make(map[string]Profile, len(base.Profiles)+len(over.Profiles))
		for name, p := range base.Profiles {
			profiles[name] = p
		}
		for name, p := range over.Profiles {
			profiles[name] = Profile{Settings: mergeSettings(profiles[name].Settings, p.Settings)}
		}
		base.Profiles = profiles
	}
	return base
}

func mergeSettings(base, over Settings) Settings {
	base.Identity = pick(base.Identity, over.Identity)
	if len(over.Services) > 0 {
		base.Services = over.Services
	}
	base.CertTTL = pick(base.CertTTL, over.CertTTL)
	if over.BareNames != nil {
		base.BareNames = over.BareNames
	}
	base.Runtime = pick(base.Runtime, over.Runtime)
	base.EnvoyImage = pick(base.EnvoyImage, over.EnvoyImage)
	base.Mode = pick(base.Mode, over.Mode)
	base.ProxyPort = pick(base.ProxyPort, over.ProxyPort)
	if len(over.GRPCJSON) > 0 {
		base.GRPCJSON = over.GRPCJSON
	}
	return base
}

// pick is over when it is set, else base.
func pick[T comparable](base, over T) T {
	var zero T
	if over != zero {
		return over
	}
	return base
}

// UnknownProfileError is a --profile the project file does not define.
type UnknownProfileError struct {
	Name  string
	File  string
	Known []string // sorted
}

func (e *UnknownProfileError) Error() string {
	return fmt.Sprintf("no profile %q in %s", e.Name, e.File)
}

// Profiles are the names of the profiles defined, sorted.
func (p *Project) Profiles() []string {
	var names []string
	for name := range p.File.Profiles {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Resolve is the settings for profile ("" for the top level alone): the profile's fields over
// the top level's. Relative paths are made absolute against the project file's directory.
func (p *Project) Resolve(profile string) (Resolved, error) {
	s := p.File.Settings
	if profile != "" {
		prof, ok := p.File.Profiles[profile]
		if !ok {
			return Resolved{}, &UnknownProfileError{Name: profile, File: p.Path, Known: p.Profiles()}
		}
		s = mergeSettings(s, prof.Settings)
	}
	dir := filepath.Dir(p.Path)
	abs := func(path string) string {
		if path == "" || filepath.IsAbs(path) {
			return path
		}
		return filepath.Join(dir, path)
	}
	return Resolved{
		Path: p.Path, Profile: profile,
		Context:      p.File.Context,
		Identity:     string(s.Identity),
		Services:     slices.Clone(s.Services),
		CertTTL:      time.Duration(s.CertTTL),
		BareNames:    s.BareNames,
		Runtime:      string(s.Runtime),
		EnvoyImage:   s.EnvoyImage,
		Mode:         string(s.Mode),
		ProxyPort:    int(s.ProxyPort),
		HostsFile:    abs(p.File.HostsFile),
		AddressRange: p.File.AddressRange,
		EnvFile:      abs(pick(DefaultEnvFile, p.File.EnvFile)),
		IdleTimeout:  time.Duration(p.File.IdleTimeout),
		GRPCJSON:     absValues(s.GRPCJSON, abs),
		MeshFile:     abs(p.File.MeshFile),
	}, nil
}

// absValues is m with every value made absolute by abs; nil when m is empty.
func absValues(m map[string]string, abs func(string) string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = abs(v)
	}
	return out
}
