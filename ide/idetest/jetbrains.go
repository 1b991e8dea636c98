package idetest

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/meshjoin/meshjoin/ide"
)

// JetBrains is a project's shared run configurations as GoLand/IntelliJ reads them.
type JetBrains struct {
	Dir     string
	Configs []*RunConfig
	r       *Runner
}

// RunConfig is one <configuration> of a .run/*.run.xml or .idea/runConfigurations/*.xml.
type RunConfig struct {
	Path    string   // file, relative to the project
	XMLName xml.Name `xml:"configuration"`
	Name    string   `xml:"name,attr"`
	Type    string   `xml:"type,attr"`
	Options []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"option"`
	Envs []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"envs>env"`
	Method struct {
		V     string `xml:"v,attr"`
		Steps []struct {
			Name    string `xml:"name,attr"`
			Enabled string `xml:"enabled,attr"`
			RunName string `xml:"run_configuration_name,attr"`
			RunType string `xml:"run_configuration_type,attr"`
		} `xml:"option"`
	} `xml:"method"`
	// Go Application fields.
	WorkingDirectory valueElem `xml:"working_directory"`
	Kind             valueElem `xml:"kind"`
	Package          valueElem `xml:"package"`
	Directory        valueElem `xml:"directory"`
	FilePath         valueElem `xml:"filePath"`
	Parameters       valueElem `xml:"parameters"`
}

type valueElem struct {
	Value string `xml:"value,attr"`
}

func (c *RunConfig) option(name string) (string, bool) {
	for _, o := range c.Options {
		if o.Name == name {
			return o.Value, true
		}
	}
	return "", false
}

// LoadJetBrains reads every shared run configuration of the project.
func LoadJetBrains(dir string, r *Runner) (*JetBrains, error) {
	j := &JetBrains{Dir: dir, r: r}
	var files []string
	for _, pattern := range []string{".run/*.run.xml", ".idea/runConfigurations/*.xml"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var comp struct {
			XMLName xml.Name   `xml:"component"`
			Name    string     `xml:"name,attr"`
			Config  *RunConfig `xml:"configuration"`
		}
		rel, _ := filepath.Rel(dir, f)
		if err := wellFormed(b); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		if err := xml.Unmarshal(b, &comp); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		if comp.Name != "ProjectRunConfigurationManager" || comp.Config == nil {
			return nil, fmt.Errorf("%s: not <component name=\"ProjectRunConfigurationManager\"><configuration ...>", rel)
		}
		comp.Config.Path = rel
		j.Configs = append(j.Configs, comp.Config)
	}
	return j, nil
}

func (j *JetBrains) config(name string) (*RunConfig, error) {
	for _, c := range j.Configs {
		if c.Name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("run configuration %q: %w", name, errNotFound)
}

// Validate checks what the IDE needs to run each configuration: unique names, before-launch
// steps that name an existing configuration of the stated type, the fields of Shell Script and
// Go Application configurations, and macros it knows.
func (j *JetBrains) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, c := range j.Configs {
		if c.Name == "" || c.Type == "" {
			errs = append(errs, fmt.Errorf("%s: configuration needs name and type", c.Path))
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("%s: a second configuration named %q", c.Path, c.Name))
		}
		seen[c.Name] = true
		if c.Method.V != "2" {
			errs = append(errs, fmt.Errorf("%s: <method v=\"2\"> missing", c.Path))
		}
		for _, s := range c.Method.Steps {
			if s.Name != "RunConfigurationTask" || s.Enabled != "true" {
				continue
			}
			target, err := j.config(s.RunName)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: before-launch step runs %q, which does not exist", c.Path, s.RunName))
			} else if target.Type != s.RunType {
				errs = append(errs, fmt.Errorf("%s: before-launch step says %q is a %s, it is a %s", c.Path, s.RunName, s.RunType, target.Type))
			} else if v, _ := target.option("EXECUTE_IN_TERMINAL"); target.Type == ide.ShellType && v != "false" {
				errs = append(errs, fmt.Errorf("%s: before-launch step %q runs in the terminal: the IDE would not see its exit code", c.Path, s.RunName))
			}
		}
		switch c.Type {
		case ide.ShellType:
			for _, o := range []string{"SCRIPT_TEXT", "SCRIPT_PATH", "SCRIPT_WORKING_DIRECTORY", "INTERPRETER_PATH", "EXECUTE_IN_TERMINAL", "EXECUTE_SCRIPT_FILE"} {
				if _, ok := c.option(o); !ok {
					errs = append(errs, fmt.Errorf("%s: Shell Script option %s missing", c.Path, o))
				}
			}
			if file, _ := c.option("EXECUTE_SCRIPT_FILE"); file == "false" {
				if text, _ := c.option("SCRIPT_TEXT"); strings.TrimSpace(text) == "" {
					errs = append(errs, fmt.Errorf("%s: SCRIPT_TEXT is empty", c.Path))
				}
			}
		case ide.GoAppType:
			switch c.Kind.Value {
			case "PACKAGE":
				if c.Package.Value == "" {
					errs = append(errs, fmt.Errorf("%s: kind PACKAGE without <package>", c.Path))
				}
			case "DIRECTORY":
				if c.Directory.Value == "" {
					errs = append(errs, fmt.Errorf("%s: kind DIRECTORY without <directory>", c.Path))
				}
			case "FILE":
				if c.FilePath.Value == "" {
					errs = append(errs, fmt.Errorf("%s: kind FILE without <filePath>", c.Path))
				}
			default:
				errs = append(errs, fmt.Errorf("%s: Go Application kind %q", c.Path, c.Kind.Value))
			}
		}
		for _, v := range j.macroFields(c) {
			if _, err := j.expand(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.Path, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (j *JetBrains) macroFields(c *RunConfig) []string {
	out := []string{c.WorkingDirectory.Value, c.Directory.Value, c.FilePath.Value}
	for _, o := range c.Options {
		out = append(out, o.Value)
	}
	return out
}

var macro = regexp.MustCompile(`\$([A-Z_]+)\$`)

// expand resolves the IDE's path macros; only $PROJECT_DIR$ is expected in shared files.
func (j *JetBrains) expand(s string) (string, error) {
	var err error
	out := macro.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$PROJECT_DIR$" {
			return j.Dir
		}
		err = fmt.Errorf("unknown macro %s", m)
		return m
	})
	return out, err
}

// Run does what the Run button does: the enabled "Run Another Configuration" before-launch
// steps first, each of which must exit 0 or the launch stops, then the configuration itself.
func (j *JetBrains) Run(ctx context.Context, name string) (*Process, error) {
	c, err := j.config(name)
	if err != nil {
		return nil, err
	}
	for _, s := range c.Method.Steps {
		if s.Name != "RunConfigurationTask" || s.Enabled != "true" {
			continue
		}
		p, err := j.Run(ctx, s.RunName)
		if err != nil {
			return nil, fmt.Errorf("before launch of %q: %w", name, err)
		}
		code, err := p.Wait(ctx)
		if err != nil {
			return nil, err
		}
		if code != 0 {
			return nil, fmt.Errorf("before launch of %q: %w", name, &ExitError{Name: s.RunName, Code: code, Output: p.Output()})
		}
	}
	switch c.Type {
	case ide.ShellType:
		return j.startShell(c)
	case ide.GoAppType:
		return j.startGo(ctx, c)
	}
	return nil, fmt.Errorf("run configuration %q: the harness runs only %s and %s", name, ide.ShellType, ide.GoAppType)
}

// startShell runs a Shell Script configuration as GoLand's ShRunConfigurationProfileState
// does outside the terminal: a script file with the interpreter it names (and the envs), or a
// script text with the project's default shell: `<shell> -c <text>`.
func (j *JetBrains) startShell(c *RunConfig) (*Process, error) {
	opt := func(n string) string {
		v, _ := c.option(n)
		v, _ = j.expand(v)
		return v
	}
	dir := opt("SCRIPT_WORKING_DIRECTORY")
	var env []string
	var argv []string
	if opt("EXECUTE_SCRIPT_FILE") == "false" {
		shell := j.r.Shell
		if shell == "" {
			shell = "/bin/sh"
		}
		argv = []string{shell, "-c", opt("SCRIPT_TEXT")}
	} else {
		argv = append([]string{opt("INTERPRETER_PATH")}, strings.Fields(opt("INTERPRETER_OPTIONS"))...)
		argv = append(append(argv, opt("SCRIPT_PATH")), strings.Fields(opt("SCRIPT_OPTIONS"))...)
		for _, e := range c.Envs {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	return j.r.start("run "+c.Name, argv, dir, env)
}

// startGo builds and starts a Go Application configuration with its envs and parameters.
func (j *JetBrains) startGo(ctx context.Context, c *RunConfig) (*Process, error) {
	dir, err := j.expand(c.WorkingDirectory.Value)
	if err != nil {
		return nil, err
	}
	var pkg string
	switch c.Kind.Value {
	case "PACKAGE":
		pkg = c.Package.Value
	case "DIRECTORY":
		pkg, err = j.expand(c.Directory.Value)
	case "FILE":
		pkg, err = j.expand(c.FilePath.Value)
	}
	if err != nil {
		return nil, err
	}
	bin, err := j.r.buildGo(ctx, pkg, j.Dir)
	if err != nil {
		return nil, err
	}
	var env []string
	for _, e := range c.Envs {
		env = append(env, e.Name+"="+e.Value)
	}
	return j.r.start("run "+c.Name, append([]string{bin}, strings.Fields(c.Parameters.Value)...), dir, env)
}

// wellFormed reads the whole document (xml.Unmarshal stops after the first element).
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := d.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}
