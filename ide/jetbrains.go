package ide

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// JetBrains run configuration names and types meshjoin writes or copies.
const (
	RunDir         = ".run"
	ConfigUp       = "meshjoin up"
	ConfigDown     = "meshjoin down"
	ShellType      = "ShConfigurationType"
	GoAppType      = "GoApplicationRunConfiguration"
	JavaAppType    = "Application"
	ideaRunConfigs = ".idea/runConfigurations"
)

// SessionVar names the session's ID in `meshjoin env`: it changes with every session, so it is
// not written into run configurations (the service addresses do not: they are a hash of the
// name).
const SessionVar = "MESHJOIN_SESSION"

// copyableTypes are the run configuration types that get a mesh copy.
var copyableTypes = []string{GoAppType, JavaAppType}

// runConfig is a shared run configuration found in the project.
type runConfig struct {
	path   string // relative to the project
	root   *node  // <component>
	config *node  // <configuration>
}

// JetBrains plans meshjoin's shared run configurations for GoLand or IntelliJ.
func JetBrains(o Options) (Plan, error) {
	o = o.withDefaults()
	found, err := loadRunConfigs(o.Dir)
	if err != nil {
		return Plan{}, err
	}
	selected, err := selectRunConfigs(found, o.Configurations)
	if err != nil {
		return Plan{}, err
	}
	plan := Plan{Dir: o.Dir}
	want := map[string]string{
		runFile(ConfigUp):   shellConfig(ConfigUp, strings.Join(append([]string{command}, o.upArgs()...), " ")),
		runFile(ConfigDown): shellConfig(ConfigDown, strings.Join(append([]string{command}, o.downArgs()...), " ")),
	}
	for _, rc := range selected {
		want[runFile(rc.config.attr("name")+MeshSuffix)] = meshRunCopy(rc, o.Env)
	}
	if len(selected) == 0 {
		plan.Notes = append(plan.Notes, "no Go Application or Application configuration in .run/ or .idea/runConfigurations/ to copy: share one (Edit Configurations → Store as project file), then run this again")
	}
	if len(o.Env) == 0 && len(selected) > 0 {
		plan.Notes = append(plan.Notes, "the session's environment is empty: the mesh copies get no *_SERVICE_HOST variables")
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		old, existed, err := readFile(o.Dir, p)
		if err != nil {
			return Plan{}, err
		}
		plan.Files = append(plan.Files, File{Path: p, Old: old, New: []byte(want[p]), Existed: existed})
	}
	return plan, nil
}

// runFile is where a configuration of that name is shared; IntelliJ accepts any file name in
// .run/, these are the characters file systems refuse.
func runFile(name string) string {
	safe := strings.Map(func(r rune) rune {
		if strings.ContainsRune(`/\:*?"<>|`, r) {
			return '_'
		}
		return r
	}, name)
	return path.Join(RunDir, safe+".run.xml")
}

// shellConfig is a Shell Script configuration running script as text. "Execute in terminal"
// is off so that, as a before-launch step, the IDE waits for it and goes on only on exit 0.
// In text mode the IDE runs the script with the project's default shell (`<shell> -c text`).
func shellConfig(name, script string) string {
	c := el("configuration", "default", "false", "name", name, "type", ShellType)
	c.Children = []*node{
		option("SCRIPT_TEXT", script),
		option("INDEPENDENT_SCRIPT_PATH", "true"),
		option("SCRIPT_PATH", ""),
		option("SCRIPT_OPTIONS", ""),
		option("INDEPENDENT_SCRIPT_WORKING_DIRECTORY", "true"),
		option("SCRIPT_WORKING_DIRECTORY", "$PROJECT_DIR$"),
		option("INDEPENDENT_INTERPRETER_PATH", "true"),
		option("INTERPRETER_PATH", "/bin/sh"),
		option("INTERPRETER_OPTIONS", ""),
		option("EXECUTE_IN_TERMINAL", "false"),
		option("EXECUTE_SCRIPT_FILE", "false"),
		el("envs"),
		el("method", "v", "2"),
	}
	comp := el("component", "name", "ProjectRunConfigurationManager")
	comp.Children = []*node{c}
	return comp.render()
}

// meshRunCopy is "<name> (mesh)": the configuration with `meshjoin up` as its first
// before-launch step and the session's variables in its environment.
func meshRunCopy(rc runConfig, env map[string]string) string {
	comp := cloneNode(rc.root)
	c := comp.child("configuration")
	c.setAttr("name", rc.config.attr("name")+MeshSuffix)
	c.removeAttr("nameIsGenerated")

	envs := c.child("envs")
	if envs == nil {
		envs = el("envs")
		i := slices.IndexFunc(c.Children, func(n *node) bool { return n.Name == "method" })
		if i < 0 {
			i = len(c.Children)
		}
		c.Children = slices.Insert(c.Children, i, envs)
	}
	names := make([]string, 0, len(env))
	for k := range env {
		if k != SessionVar {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		i := slices.IndexFunc(envs.Children, func(n *node) bool { return n.attr("name") == k })
		if i >= 0 {
			envs.Children[i].setAttr("value", env[k])
		} else {
			envs.Children = append(envs.Children, el("env", "name", k, "value", env[k]))
		}
	}

	method := c.child("method")
	if method == nil {
		method = el("method", "v", "2")
		c.Children = append(c.Children, method)
	}
	isUp := func(n *node) bool {
		return n.attr("name") == "RunConfigurationTask" && n.attr("run_configuration_name") == ConfigUp
	}
	if !slices.ContainsFunc(method.Children, isUp) {
		step := el("option", "name", "RunConfigurationTask", "enabled", "true", "run_configuration_name", ConfigUp, "run_configuration_type", ShellType)
		method.Children = slices.Insert(method.Children, 0, step)
	}
	return comp.render()
}

func cloneNode(n *node) *node {
	c := &node{Name: n.Name, Attrs: slices.Clone(n.Attrs)}
	for _, ch := range n.Children {
		c.Children = append(c.Children, cloneNode(ch))
	}
	return c
}

// loadRunConfigs reads every shared run configuration: .run/*.run.xml and
// .idea/runConfigurations/*.xml.
func loadRunConfigs(dir string) ([]runConfig, error) {
	var paths []string
	for _, pattern := range []string{RunDir + "/*.run.xml", ideaRunConfigs + "/*.xml"} {
		m, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(pattern)))
		if err != nil {
			return nil, err
		}
		paths = append(paths, m...)
	}
	var out []runConfig
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, &InvalidFileError{Path: rel, Err: err}
		}
		root, err := parseXML(rel, src)
		if err != nil {
			return nil, err
		}
		c := root.child("configuration")
		if root.Name != "component" || c == nil || c.attr("name") == "" {
			return nil, &InvalidFileError{Path: rel, Err: fmt.Errorf("not a run configuration: want <component><configuration name=...>")}
		}
		out = append(out, runConfig{path: rel, root: root, config: c})
	}
	return out, nil
}

func selectRunConfigs(found []runConfig, names []string) ([]runConfig, error) {
	var eligible []runConfig
	for _, rc := range found {
		name := rc.config.attr("name")
		if slices.Contains(copyableTypes, rc.config.attr("type")) && !strings.HasSuffix(name, MeshSuffix) {
			eligible = append(eligible, rc)
		}
	}
	if len(names) == 0 {
		return eligible, nil
	}
	var out []runConfig
	for _, n := range names {
		i := slices.IndexFunc(eligible, func(rc runConfig) bool { return rc.config.attr("name") == n })
		if i < 0 {
			known := make([]string, len(eligible))
			for j, rc := range eligible {
				known[j] = rc.config.attr("name")
			}
			return nil, &UnknownConfigurationError{Name: n, Known: known}
		}
		out = append(out, eligible[i])
	}
	return out, nil
}
