package idetest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/tailscale/hujson"

	"github.com/meshjoin/meshjoin/ide"
)

// VSCode is a workspace folder as VS Code sees it.
type VSCode struct {
	Folder  string
	Tasks   []Task
	Configs []LaunchConfig
	r       *Runner

	mu         sync.Mutex
	background []*Process
}

// Task is a tasks.json task, the fields VS Code uses to run one.
type Task struct {
	Label        string      `json:"label"`
	Type         string      `json:"type"`
	Command      string      `json:"command"`
	Args         []string    `json:"args"`
	Options      taskOptions `json:"options"`
	DependsOn    stringList  `json:"dependsOn"`
	DependsOrder string      `json:"dependsOrder"`
	IsBackground bool        `json:"isBackground"`
	// ProblemMatcher is a name, a matcher, or a list of either.
	ProblemMatcher json.RawMessage `json:"problemMatcher"`
}

type taskOptions struct {
	Cwd string            `json:"cwd"`
	Env map[string]string `json:"env"`
}

// LaunchConfig is a launch.json configuration.
type LaunchConfig struct {
	Name          string            `json:"name"`
	Type          string            `json:"type"`
	Request       string            `json:"request"`
	Mode          string            `json:"mode"`
	Program       string            `json:"program"`
	Cwd           string            `json:"cwd"`
	Args          []string          `json:"args"`
	Env           map[string]string `json:"env"`
	EnvFile       string            `json:"envFile"`
	PreLaunchTask string            `json:"preLaunchTask"`
	PostDebugTask string            `json:"postDebugTask"`
}

// stringList is a string or a list of strings (dependsOn).
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

// LoadVSCode reads .vscode/tasks.json and .vscode/launch.json as JSON with comments and
// trailing commas, as VS Code does.
func LoadVSCode(folder string, r *Runner) (*VSCode, error) {
	v := &VSCode{Folder: folder, r: r}
	var tasks struct {
		Version string `json:"version"`
		Tasks   []Task `json:"tasks"`
	}
	var launch struct {
		Version        string         `json:"version"`
		Configurations []LaunchConfig `json:"configurations"`
	}
	for _, f := range []struct {
		path string
		into any
	}{{ide.TasksPath, &tasks}, {ide.LaunchPath, &launch}} {
		b, err := os.ReadFile(filepath.Join(folder, f.path))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		std, err := hujson.Standardize(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		if err := json.Unmarshal(std, f.into); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
	}
	v.Tasks, v.Configs = tasks.Tasks, launch.Configurations
	if len(v.Tasks) > 0 && tasks.Version != "2.0.0" {
		return nil, fmt.Errorf("%s: version %q, VS Code wants \"2.0.0\"", ide.TasksPath, tasks.Version)
	}
	return v, nil
}

// Validate checks what VS Code would refuse at F5: labels that do not exist, duplicate
// labels or names, unknown task types, launch configurations without name/type/request,
// variables it cannot resolve.
func (v *VSCode) Validate() error {
	var errs []error
	labels := map[string]bool{}
	for _, t := range v.Tasks {
		if t.Label == "" {
			errs = append(errs, fmt.Errorf("a task has no label"))
		}
		if labels[t.Label] {
			errs = append(errs, fmt.Errorf("two tasks are labelled %q", t.Label))
		}
		labels[t.Label] = true
		switch {
		case t.Type == "" && t.Command == "" && len(t.DependsOn) > 0: // a compound task
		case t.Type == "process" || t.Type == "shell":
			if t.Command == "" {
				errs = append(errs, fmt.Errorf("task %q has no command", t.Label))
			}
		default:
			errs = append(errs, fmt.Errorf("task %q: type %q is neither process nor shell", t.Label, t.Type))
		}
		if t.DependsOrder != "" && t.DependsOrder != "sequence" && t.DependsOrder != "parallel" {
			errs = append(errs, fmt.Errorf("task %q: dependsOrder %q", t.Label, t.DependsOrder))
		}
		for _, s := range append([]string{t.Command, t.Options.Cwd}, t.Args...) {
			if _, err := v.substitute(s); err != nil {
				errs = append(errs, fmt.Errorf("task %q: %w", t.Label, err))
			}
		}
	}
	for _, t := range v.Tasks {
		for _, d := range t.DependsOn {
			if !labels[d] {
				errs = append(errs, fmt.Errorf("task %q depends on %q, which no task is labelled", t.Label, d))
			}
		}
	}
	names := map[string]bool{}
	for _, c := range v.Configs {
		if c.Name == "" || c.Type == "" || (c.Request != "launch" && c.Request != "attach") {
			errs = append(errs, fmt.Errorf("launch configuration %q needs name, type and request launch|attach", c.Name))
		}
		if names[c.Name] {
			errs = append(errs, fmt.Errorf("two launch configurations are named %q", c.Name))
		}
		names[c.Name] = true
		for _, l := range []string{c.PreLaunchTask, c.PostDebugTask} {
			if l != "" && !labels[l] {
				errs = append(errs, fmt.Errorf("launch configuration %q: task %q not found in %s", c.Name, l, ide.TasksPath))
			}
		}
		for _, s := range []string{c.Program, c.Cwd, c.EnvFile} {
			if _, err := v.substitute(s); err != nil {
				errs = append(errs, fmt.Errorf("launch configuration %q: %w", c.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

var variable = regexp.MustCompile(`\$\{([^}]*)\}`)

// substitute resolves VS Code's predefined variables; one it does not know is an error, as in
// VS Code ("Variable ... can not be resolved").
func (v *VSCode) substitute(s string) (string, error) {
	var err error
	out := variable.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		switch {
		case name == "workspaceFolder" || name == "workspaceRoot":
			return v.Folder
		case name == "workspaceFolderBasename":
			return filepath.Base(v.Folder)
		case name == "pathSeparator" || name == "/":
			return string(filepath.Separator)
		case strings.HasPrefix(name, "env:"):
			return v.r.getenv(strings.TrimPrefix(name, "env:"))
		}
		err = fmt.Errorf("variable %s can not be resolved", m)
		return m
	})
	return out, err
}

func (v *VSCode) task(label string) (*Task, error) {
	for i := range v.Tasks {
		if v.Tasks[i].Label == label {
			return &v.Tasks[i], nil
		}
	}
	return nil, fmt.Errorf("task %q: %w", label, errNotFound)
}

// RunTask runs a task as VS Code does: its dependencies first (in order for "sequence",
// together otherwise), then its command; a plain task must exit 0, a background task counts
// as done when its problem matcher's endsPattern matches a line of its output (and keeps
// running until Close).
func (v *VSCode) RunTask(ctx context.Context, label string) error {
	t, err := v.task(label)
	if err != nil {
		return err
	}
	if t.DependsOrder == "sequence" {
		for _, d := range t.DependsOn {
			if err := v.RunTask(ctx, d); err != nil {
				return err
			}
		}
	} else {
		errs := make([]error, len(t.DependsOn))
		var wg sync.WaitGroup
		for i, d := range t.DependsOn {
			wg.Go(func() { errs[i] = v.RunTask(ctx, d) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	if t.Command == "" {
		return nil
	}
	argv, dir, env, err := v.commandLine(t)
	if err != nil {
		return err
	}
	name := "task " + t.Label
	if !t.IsBackground {
		return v.r.run(ctx, name, argv, dir, env)
	}
	ends, err := endsPattern(t.ProblemMatcher)
	if err != nil {
		return fmt.Errorf("background task %q: %w", t.Label, err)
	}
	p, err := v.r.start(name, argv, dir, env)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.background = append(v.background, p)
	v.mu.Unlock()
	return waitForLine(ctx, p, ends)
}

// commandLine is the task's argv, cwd and env after substitution. A shell task runs through
// /bin/sh -c with its arguments quoted, as VS Code does on Linux and macOS.
func (v *VSCode) commandLine(t *Task) ([]string, string, []string, error) {
	var all []string
	for _, s := range append([]string{t.Command}, t.Args...) {
		s, err := v.substitute(s)
		if err != nil {
			return nil, "", nil, fmt.Errorf("task %q: %w", t.Label, err)
		}
		all = append(all, s)
	}
	dir := v.Folder
	if t.Options.Cwd != "" {
		var err error
		if dir, err = v.substitute(t.Options.Cwd); err != nil {
			return nil, "", nil, fmt.Errorf("task %q: %w", t.Label, err)
		}
	}
	var env []string
	for k, val := range t.Options.Env {
		s, err := v.substitute(val)
		if err != nil {
			return nil, "", nil, err
		}
		env = append(env, k+"="+s)
	}
	if t.Type == "shell" {
		line := all[0]
		for _, a := range all[1:] {
			line += " " + shellQuote(a)
		}
		return []string{"/bin/sh", "-c", line}, dir, env, nil
	}
	return all, dir, env, nil
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`;&|<>()*?[]{}!#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// endsPattern finds the background endsPattern of a task's problem matcher(s).
func endsPattern(raw json.RawMessage) (*regexp.Regexp, error) {
	var list []json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &list) != nil {
		list = []json.RawMessage{raw}
	}
	for _, m := range list {
		var matcher struct {
			Background struct {
				EndsPattern json.RawMessage `json:"endsPattern"`
			} `json:"background"`
		}
		if json.Unmarshal(m, &matcher) != nil || len(matcher.Background.EndsPattern) == 0 {
			continue
		}
		var pattern string
		if json.Unmarshal(matcher.Background.EndsPattern, &pattern) != nil {
			var obj struct{ Regexp string }
			if err := json.Unmarshal(matcher.Background.EndsPattern, &obj); err != nil {
				return nil, err
			}
			pattern = obj.Regexp
		}
		return regexp.Compile(pattern)
	}
	return nil, errors.New("no problemMatcher with background.endsPattern: VS Code could not tell when it is ready")
}

// waitForLine waits until a line of p's output matches re; p ending first is a failure.
func waitForLine(ctx context.Context, p *Process, re *regexp.Regexp) error {
	for {
		sc := bufio.NewScanner(strings.NewReader(p.Output()))
		for sc.Scan() {
			if re.MatchString(sc.Text()) {
				return nil
			}
		}
		select {
		case <-p.done:
			// Read once more: the line may have come just before the exit.
			if re.MatchString(p.Output()) {
				return nil
			}
			return &ExitError{Name: p.Name + " (before its endsPattern matched)", Code: p.cmd.ProcessState.ExitCode(), Output: p.Output()}
		case <-ctx.Done():
			return fmt.Errorf("%s: endsPattern %q never matched: %w\n%s", p.Name, re, ctx.Err(), p.Output())
		case <-tick():
		}
	}
}

// Launch does what F5 does for a launch configuration: runs its preLaunchTask (the launch
// stops if that fails), then reads its envFile, builds the Go program and starts it with
// the IDE's environment plus the envFile's variables plus "env".
func (v *VSCode) Launch(ctx context.Context, name string) (*Process, error) {
	c, err := v.config(name)
	if err != nil {
		return nil, err
	}
	if c.Type != "go" || c.Request != "launch" {
		return nil, fmt.Errorf("launch configuration %q: the harness launches only Go programs (type go, request launch)", name)
	}
	if c.PreLaunchTask != "" {
		if err := v.RunTask(ctx, c.PreLaunchTask); err != nil {
			return nil, fmt.Errorf("preLaunchTask %q: %w", c.PreLaunchTask, err)
		}
	}
	program, err := v.substitute(c.Program)
	if err != nil {
		return nil, err
	}
	var env []string
	if c.EnvFile != "" {
		path, err := v.substitute(c.EnvFile)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("launch configuration %q: envFile: %w", name, err)
		}
		for k, val := range ide.ParseEnvFile(b) {
			env = append(env, k+"="+val)
		}
	}
	for k, val := range c.Env {
		s, err := v.substitute(val)
		if err != nil {
			return nil, err
		}
		env = append(env, k+"="+s)
	}
	dir := program
	if fi, err := os.Stat(program); err == nil && !fi.IsDir() {
		dir = filepath.Dir(program)
	}
	bin, err := v.r.buildGo(ctx, program, dir)
	if err != nil {
		return nil, err
	}
	if c.Cwd != "" {
		if dir, err = v.substitute(c.Cwd); err != nil {
			return nil, err
		}
	}
	var args []string
	for _, a := range c.Args {
		s, err := v.substitute(a)
		if err != nil {
			return nil, err
		}
		args = append(args, s)
	}
	return v.r.start("program "+name, append([]string{bin}, args...), dir, env)
}

// EndDebug is the end of a debug session (the program exited or was stopped): VS Code runs the
// configuration's postDebugTask.
func (v *VSCode) EndDebug(ctx context.Context, name string) error {
	c, err := v.config(name)
	if err != nil {
		return err
	}
	if c.PostDebugTask == "" {
		return nil
	}
	return v.RunTask(ctx, c.PostDebugTask)
}

func (v *VSCode) config(name string) (*LaunchConfig, error) {
	for i := range v.Configs {
		if v.Configs[i].Name == name {
			return &v.Configs[i], nil
		}
	}
	return nil, fmt.Errorf("launch configuration %q: %w", name, errNotFound)
}

// Close stops background tasks still running, as closing the window does.
func (v *VSCode) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, p := range v.background {
		p.Stop()
	}
	v.background = nil
}
