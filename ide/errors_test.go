package ide_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/ide"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestInvalidFiles: a file the generator cannot parse is reported with its path and line,
// and the generator returns no plan (so nothing can be written).
func TestInvalidFiles(t *testing.T) {
	cases := []struct {
		name     string
		files    map[string]string
		gen      func(ide.Options) (ide.Plan, error)
		path     string
		line     int
		contains string
	}{
		{"tasks.json syntax", map[string]string{ide.TasksPath: "{\n  \"version\": \"2.0.0\",\n  \"tasks\": [\n    {\"label\": \"build\"}\n    {\"label\": \"test\"}\n  ]\n}\n"},
			ide.VSCode, ide.TasksPath, 5, "invalid character"},
		{"launch.json unterminated comment", map[string]string{ide.LaunchPath: "{\n  \"configurations\": [] /* oops\n}\n"},
			ide.VSCode, ide.LaunchPath, 2, ""},
		{"tasks not an array", map[string]string{ide.TasksPath: "{\n  \"version\": \"2.0.0\",\n  \"tasks\": {}\n}\n"},
			ide.VSCode, ide.TasksPath, 3, `"tasks" must be an array`},
		{"root not an object", map[string]string{ide.LaunchPath: "// nothing here\n[]\n"},
			ide.VSCode, ide.LaunchPath, 2, "JSON object"},
		{"run.xml syntax", map[string]string{".run/server.run.xml": "<component name=\"ProjectRunConfigurationManager\">\n  <configuration name=\"server\" type=\"GoApplicationRunConfiguration\">\n    <method v=\"2\">\n  </configuration>\n</component>\n"},
			ide.JetBrains, ".run/server.run.xml", 4, ""},
		{"run.xml not a configuration", map[string]string{".run/x.run.xml": "<project/>\n"},
			ide.JetBrains, ".run/x.run.xml", 0, "not a run configuration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, c.files)
			_, err := c.gen(ide.Options{Dir: dir})
			var ferr *ide.InvalidFileError
			if !errors.As(err, &ferr) {
				t.Fatalf("got %v, want an InvalidFileError", err)
			}
			if ferr.Path != c.path || ferr.Line != c.line || !strings.Contains(err.Error(), c.contains) {
				t.Errorf("got %q (path %s line %d), want %s line %d containing %q", err, ferr.Path, ferr.Line, c.path, c.line, c.contains)
			}
			if c.line > 0 && !strings.HasPrefix(err.Error(), c.path+":"+strconv.Itoa(c.line)+":") {
				t.Errorf("message %q does not start with file:line", err)
			}
		})
	}
}

// TestUnreadableFile: a tasks.json that cannot be read is reported by path.
func TestUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ide.TasksPath), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := ide.VSCode(ide.Options{Dir: dir})
	var ferr *ide.InvalidFileError
	if !errors.As(err, &ferr) || ferr.Path != ide.TasksPath {
		t.Fatalf("got %v, want an InvalidFileError for %s", err, ide.TasksPath)
	}
}

// TestUnknownConfiguration: a name that is not there is refused, naming those that are.
func TestUnknownConfiguration(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		ide.LaunchPath: `{"configurations": [
			{"name": "server", "type": "go", "request": "launch", "program": "."},
			{"name": "worker", "type": "go", "request": "launch", "program": "."},
			{"name": "attach", "type": "go", "request": "attach"},
		]}`,
		".run/api.run.xml":   `<component name="ProjectRunConfigurationManager"><configuration name="api" type="GoApplicationRunConfiguration"><kind value="PACKAGE" /><package value="x" /><method v="2" /></configuration></component>`,
		".run/tests.run.xml": `<component name="ProjectRunConfigurationManager"><configuration name="tests" type="GoTestRunConfiguration"><method v="2" /></configuration></component>`,
	})
	for _, c := range []struct {
		gen   func(ide.Options) (ide.Plan, error)
		known []string
	}{{ide.VSCode, []string{"server", "worker"}}, {ide.JetBrains, []string{"api"}}} {
		_, err := c.gen(ide.Options{Dir: dir, Configurations: []string{"sever"}})
		var uerr *ide.UnknownConfigurationError
		if !errors.As(err, &uerr) || uerr.Name != "sever" || !slices.Equal(uerr.Known, c.known) {
			t.Errorf("got %v, want unknown %q with known %v", err, "sever", c.known)
		}
		for _, k := range c.known {
			if !strings.Contains(err.Error(), `"`+k+`"`) {
				t.Errorf("message %q does not list %q", err, k)
			}
		}
	}
	// A named configuration gets the only copy.
	plan, err := ide.VSCode(ide.Options{Dir: dir, Configurations: []string{"worker"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range plan.Files {
		if f.Path == ide.LaunchPath && (!strings.Contains(string(f.New), `"worker (mesh)"`) || strings.Contains(string(f.New), `"server (mesh)"`)) {
			t.Errorf("launch.json should gain only worker (mesh):\n%s", f.New)
		}
	}
}

// TestLanguageMarkers: with no launch configuration, one is made for the project's language.
func TestLanguageMarkers(t *testing.T) {
	cases := []struct {
		files map[string]string
		want  []string
	}{
		{map[string]string{"go.mod": "module x\n", "cmd/api/main.go": "package main\n"}, []string{`"type": "go"`, `"mode": "auto"`, `"program": "${workspaceFolder}/cmd/api"`}},
		{map[string]string{"package.json": `{"main": "src/server.js"}`}, []string{`"type": "node"`, `"program": "${workspaceFolder}/src/server.js"`}},
		{map[string]string{"pyproject.toml": "", "app.py": ""}, []string{`"type": "debugpy"`, `"program": "${workspaceFolder}/app.py"`}},
		{map[string]string{"pom.xml": "<project/>"}, []string{`"type": "java"`, `"mainClass": "${file}"`}},
	}
	for _, c := range cases {
		dir := writeFiles(t, c.files)
		plan, err := ide.VSCode(ide.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		var launch string
		for _, f := range plan.Files {
			if f.Path == ide.LaunchPath {
				launch = string(f.New)
			}
		}
		for _, w := range append(c.want, `"envFile": "${workspaceFolder}/.meshjoin/env"`, `"preLaunchTask": "meshjoin: env"`) {
			if !strings.Contains(launch, w) {
				t.Errorf("%v: launch.json lacks %s:\n%s", c.files, w, launch)
			}
		}
	}
	// No marker: tasks only, and a note saying why.
	plan, err := ide.VSCode(ide.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Files) != 1 || plan.Files[0].Path != ide.TasksPath || len(plan.Notes) == 0 {
		t.Errorf("empty folder: got files %v notes %v", plan.Files, plan.Notes)
	}
}
