package ide

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/tailscale/hujson"
)

// VS Code file paths, relative to the workspace folder.
const (
	TasksPath  = ".vscode/tasks.json"
	LaunchPath = ".vscode/launch.json"
)

// Labels of the tasks meshjoin owns; every one starts with TaskPrefix.
const (
	TaskPrefix = "meshjoin: "
	TaskUp     = TaskPrefix + "up"
	TaskEnv    = TaskPrefix + "env"
	TaskDown   = TaskPrefix + "down"
)

const workspaceFolder = "${workspaceFolder}"

// VSCode plans meshjoin's tasks and launch configurations for a VS Code workspace folder.
func VSCode(o Options) (Plan, error) {
	o = o.withDefaults()
	tasksDoc, err := loadJSONC(o.Dir, TasksPath, "tasks")
	if err != nil {
		return Plan{}, err
	}
	launchDoc, err := loadJSONC(o.Dir, LaunchPath, "configurations")
	if err != nil {
		return Plan{}, err
	}
	plan := Plan{Dir: o.Dir}
	tasks := []entry{
		{TaskUp, processTask(TaskUp, o.upArgs(), "", "Start or reuse the meshjoin session; exits 0 once every name answers")},
		{TaskEnv, processTask(TaskEnv, []string{"env", "-o", workspaceFolder + "/" + o.EnvFile}, TaskUp, "Write the session's *_SERVICE_HOST/_PORT variables for envFile")},
		{TaskDown, processTask(TaskDown, o.downArgs(), "", "End the session unless a launch comes back within the grace period")},
	}

	originals, err := selectLaunchConfigs(launchDoc, o.Configurations)
	if err != nil {
		return Plan{}, err
	}
	var launches []entry
	for _, orig := range originals {
		cfg, extra, notes := meshCopy(orig, o)
		launches = append(launches, entry{cfg.getString("name"), cfg})
		for _, t := range extra {
			if !slices.ContainsFunc(tasks, func(e entry) bool { return e.key == t.key }) {
				tasks = append(tasks, t)
			}
		}
		plan.Notes = append(plan.Notes, notes...)
	}
	if len(originals) == 0 {
		cfg, lang := defaultLaunch(o)
		if cfg == nil {
			plan.Notes = append(plan.Notes, "no launch configuration written: "+LaunchPath+" has none to copy and no go.mod, package.json, pyproject.toml, requirements.txt, pom.xml or build.gradle says which language to launch")
		} else {
			name := cfg.getString("name")
			launches = append(launches, entry{name, cfg})
			if !slices.ContainsFunc(launchDoc.elements(), func(el hujson.Value) bool { return stringMember(el, "name") == name }) {
				plan.Notes = append(plan.Notes, fmt.Sprintf("created launch configuration %q for %s", name, lang))
			}
		}
	}

	plan.Files = append(plan.Files, tasksDoc.file(object{{"version", mustMarshal("2.0.0")}}, "label", tasks))
	if len(launches) > 0 || launchDoc.existed {
		plan.Files = append(plan.Files, launchDoc.file(object{{"version", mustMarshal("0.2.0")}}, "name", launches))
	}
	return plan, nil
}

// processTask is a task VS Code runs without a shell (so it works the same on every OS) and
// waits for: the launch goes on only when it exits 0. Its empty problemMatcher keeps VS Code
// from asking which matcher to scan the output with.
func processTask(label string, args []string, dependsOn, detail string) object {
	t := object{}
	t.set("label", label)
	t.set("type", "process")
	t.set("command", command)
	t.set("args", args)
	t.set("options", map[string]string{"cwd": workspaceFolder})
	if dependsOn != "" {
		t.set("dependsOn", []string{dependsOn})
	}
	t.set("problemMatcher", []string{})
	t.set("detail", detail)
	return t
}

// sequenceTask runs the user's task first and then meshjoin's: a launch configuration has
// only one preLaunchTask (or postDebugTask).
func sequenceTask(label string, first, then string) object {
	t := object{}
	t.set("label", label)
	t.set("dependsOn", []string{first, then})
	t.set("dependsOrder", "sequence")
	t.set("problemMatcher", []string{})
	return t
}

// launchConfig is one configuration found in launch.json.
type launchConfig struct {
	name, request string
	raw           []byte // the element's bytes
}

func selectLaunchConfigs(doc *jsoncDoc, names []string) ([]launchConfig, error) {
	var eligible []launchConfig
	for _, el := range doc.elements() {
		name, request := stringMember(el, "name"), stringMember(el, "request")
		if name == "" || request != "launch" || strings.HasSuffix(name, MeshSuffix) {
			continue
		}
		eligible = append(eligible, launchConfig{name, request, doc.src[el.StartOffset:el.EndOffset]})
	}
	if len(names) == 0 {
		return eligible, nil
	}
	var out []launchConfig
	for _, n := range names {
		i := slices.IndexFunc(eligible, func(c launchConfig) bool { return c.name == n })
		if i < 0 {
			known := make([]string, len(eligible))
			for j, c := range eligible {
				known[j] = c.name
			}
			return nil, &UnknownConfigurationError{Name: n, Known: known}
		}
		out = append(out, eligible[i])
	}
	return out, nil
}

// meshCopy is "<name> (mesh)": the user's configuration with meshjoin's tasks and env file.
func meshCopy(orig launchConfig, o Options) (object, []entry, []string) {
	cfg, err := decodeObject(orig.raw)
	if err != nil {
		panic(err) // raw was parsed by hujson already
	}
	var extra []entry
	var notes []string
	cfg.set("name", orig.name+MeshSuffix)
	pre, post := TaskEnv, TaskDown
	if p := cfg.getString("preLaunchTask"); p != "" {
		pre = TaskPrefix + p + " + env"
		extra = append(extra, entry{pre, sequenceTask(pre, p, TaskEnv)})
	}
	if p := cfg.getString("postDebugTask"); p != "" {
		post = TaskPrefix + p + " + down"
		extra = append(extra, entry{post, sequenceTask(post, p, TaskDown)})
	}
	cfg.set("preLaunchTask", pre)
	cfg.set("postDebugTask", post)
	if f := cfg.getString("envFile"); f != "" {
		notes = append(notes, fmt.Sprintf("%q reads %s; its mesh copy reads meshjoin's env file instead (move what you need into \"env\")", orig.name, f))
	}
	cfg.set("envFile", workspaceFolder+"/"+o.EnvFile)
	return cfg, extra, notes
}

// entry is one array element meshjoin owns, found by its label or name.
type entry struct {
	key   string
	value object
}

// jsoncDoc is a parsed JSONC file whose root object holds one array meshjoin edits.
type jsoncDoc struct {
	path     string
	src      []byte
	existed  bool
	blank    bool // absent, or only whitespace
	root     hujson.Value
	array    *hujson.Value // the root's member arrayKey; nil when absent
	arrayKey string
}

func loadJSONC(dir, path, arrayKey string) (*jsoncDoc, error) {
	src, existed, err := readFile(dir, path)
	if err != nil {
		return nil, err
	}
	d := &jsoncDoc{path: path, src: src, existed: existed, arrayKey: arrayKey, blank: len(bytes.TrimSpace(src)) == 0}
	if d.blank {
		return d, nil
	}
	root, obj, err := parseJSONC(path, src)
	if err != nil {
		return nil, err
	}
	d.root = root
	if m := member(obj, arrayKey); m != nil {
		if _, ok := m.Value.Value.(*hujson.Array); !ok {
			return nil, posError(path, src, m.Value.StartOffset, "%q must be an array", arrayKey)
		}
		d.array = &m.Value
		for _, el := range d.elements() {
			if _, ok := el.Value.(*hujson.Object); !ok {
				return nil, posError(path, src, el.StartOffset, "each of %q must be an object", arrayKey)
			}
		}
	}
	return d, nil
}

func (d *jsoncDoc) elements() []hujson.Value {
	if d.array == nil {
		return nil
	}
	return d.array.Value.(*hujson.Array).Elements
}

// file returns the document with entries replaced in place (found by keyField) or appended.
func (d *jsoncDoc) file(header object, keyField string, entries []entry) File {
	f := File{Path: d.path, Old: d.src, Existed: d.existed}
	if d.blank {
		doc := append(header, objectMember{d.arrayKey, mustMarshal(values(entries))})
		f.New = []byte(render(doc, "", "\t") + "\n")
		return f
	}
	unit := indentUnit(d.src)
	var edits []edit
	var missing []entry
	for _, e := range entries {
		i := slices.IndexFunc(d.elements(), func(el hujson.Value) bool { return stringMember(el, keyField) == e.key })
		if i < 0 {
			missing = append(missing, e)
			continue
		}
		el := d.elements()[i]
		edits = append(edits, edit{el.StartOffset, el.EndOffset, render(e.value, lineIndent(d.src, el.StartOffset), unit)})
	}
	if d.array != nil {
		indent := lineIndent(d.src, d.array.StartOffset) + unit
		if els := d.elements(); len(els) > 0 {
			indent = lineIndent(d.src, els[0].StartOffset)
		}
		edits = append(edits, appendItems(d.src, *d.array, renderAll(missing, indent, unit), indent)...)
	} else if len(missing) > 0 {
		indent := lineIndent(d.src, d.root.StartOffset) + unit
		if obj := d.root.Value.(*hujson.Object); len(obj.Members) > 0 {
			indent = lineIndent(d.src, obj.Members[0].Name.StartOffset)
		}
		member := fmt.Sprintf("%q: %s", d.arrayKey, render(values(missing), indent, unit))
		edits = append(edits, appendItems(d.src, d.root, []string{member}, indent)...)
	}
	f.New = applyEdits(bytes.Clone(d.src), edits)
	return f
}

func values(entries []entry) []object {
	out := make([]object, len(entries))
	for i, e := range entries {
		out[i] = e.value
	}
	return out
}

func renderAll(entries []entry, indent, unit string) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = render(e.value, indent, unit)
	}
	return out
}
