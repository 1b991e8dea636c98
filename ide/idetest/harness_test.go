package idetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests check the harness itself against small stand-ins (sh, a local HTTP server), so
// that the end-to-end tests in cmd/meshjoin can trust it.

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func workspace(t *testing.T, files map[string]string) (string, *Runner) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shop")
	if err := WriteMeshApp(dir); err != nil {
		t.Fatal(err)
	}
	for p, content := range files {
		path := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, &Runner{Env: os.Environ(), Log: testLog{t}}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestVSCodeLaunchRunsTasksAndEnvFile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ratings ok") }))
	defer srv.Close()
	dir, r := workspace(t, map[string]string{
		".vscode/tasks.json": `{
			// JSONC with trailing commas, as VS Code accepts
			"version": "2.0.0",
			"tasks": [
				{"label": "write env", "type": "process", "command": "sh",
				 "args": ["-c", "mkdir -p .meshjoin && printf 'RATINGS_SERVICE_HOST=127.0.0.9\nFROM_FILE=\"quoted\"\n# comment\n' > .meshjoin/env && basename \"$PWD\" > cwd.txt && echo \"$0\" > arg.txt", "${workspaceFolderBasename}"],
				 "options": {"cwd": "${workspaceFolder}"}},
				{"label": "first", "type": "shell", "command": "echo first >> order.txt"},
				{"label": "pre", "dependsOn": ["first", "write env"], "dependsOrder": "sequence"},
				{"label": "post", "type": "shell", "command": "touch", "args": ["${workspaceFolder}/post ran"]},
			],
		}`,
		".vscode/launch.json": `{"version": "0.2.0", "configurations": [
			{"name": "app", "type": "go", "request": "launch", "mode": "auto", "program": "${workspaceFolder}",
			 "preLaunchTask": "pre", "postDebugTask": "post", "envFile": "${workspaceFolder}/.meshjoin/env",
			 "env": {"MESHAPP_URL": "` + srv.URL + `", "FROM_FILE": "env wins"}},
		]}`,
	})
	v, err := LoadVSCode(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := v.Launch(ctx(t), "app")
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(ctx(t)); err != nil || code != 0 {
		t.Fatalf("program exited %d %v:\n%s", code, err, p.Output())
	}
	out := p.Output()
	for _, want := range []string{"env RATINGS_SERVICE_HOST=127.0.0.9", "call " + srv.URL + ": 200 ratings ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("program output lacks %q:\n%s", want, out)
		}
	}
	for file, want := range map[string]string{"cwd.txt": "shop\n", "arg.txt": "shop\n", "order.txt": "first\n"} {
		if b, _ := os.ReadFile(filepath.Join(dir, file)); string(b) != want {
			t.Errorf("%s = %q, want %q", file, b, want)
		}
	}
	if err := v.EndDebug(ctx(t), "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "post ran")); err != nil {
		t.Errorf("postDebugTask did not run: %v", err)
	}
}

func TestVSCodeFailingPreLaunchTaskStopsTheLaunch(t *testing.T) {
	dir, r := workspace(t, map[string]string{
		".vscode/tasks.json":  `{"version": "2.0.0", "tasks": [{"label": "up", "type": "process", "command": "sh", "args": ["-c", "echo not ready; exit 4"]}]}`,
		".vscode/launch.json": `{"configurations": [{"name": "app", "type": "go", "request": "launch", "program": "${workspaceFolder}", "preLaunchTask": "up", "envFile": "${workspaceFolder}/missing"}]}`,
	})
	v, err := LoadVSCode(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Launch(ctx(t), "app")
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 4 || !strings.Contains(exit.Output, "not ready") {
		t.Fatalf("got %v, want the task's exit 4", err)
	}
}

func TestVSCodeBackgroundTaskEndsPattern(t *testing.T) {
	matcher := `{"owner": "meshjoin", "pattern": {"regexp": "^Error: (.*)$", "message": 1},
		"background": {"activeBegins": true, "beginsPattern": "^starting", "endsPattern": "^meshjoin: ready: \\d+ services"}}`
	dir, r := workspace(t, map[string]string{
		".vscode/tasks.json": `{"version": "2.0.0", "tasks": [
			{"label": "serve", "type": "shell", "command": "echo starting; sleep 0.3; echo 'meshjoin: ready: 2 services (s-1)'; touch ready; sleep 60",
			 "isBackground": true, "problemMatcher": [` + matcher + `]},
			{"label": "dies", "type": "shell", "command": "echo starting; exit 0", "isBackground": true, "problemMatcher": ` + matcher + `},
			{"label": "no matcher", "type": "shell", "command": "sleep 60", "isBackground": true, "problemMatcher": []}
		]}`,
	})
	v, err := LoadVSCode(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.RunTask(ctx(t), "serve"); err != nil {
		t.Fatal(err)
	}
	// The task counted as done only once the line was printed, and it still runs.
	if _, err := os.Stat(filepath.Join(dir, "ready")); err != nil {
		t.Errorf("RunTask returned before the endsPattern line: %v", err)
	}
	if len(v.background) != 1 || v.background[0].Exited() {
		t.Error("the background task should keep running")
	}
	if err := v.RunTask(ctx(t), "dies"); err == nil {
		t.Error("a background task ending before its endsPattern must fail the launch")
	}
	if err := v.RunTask(ctx(t), "no matcher"); err == nil || !strings.Contains(err.Error(), "endsPattern") {
		t.Errorf("a background task without endsPattern: got %v", err)
	}
	v.Close()
	for _, p := range v.background {
		if !p.Exited() {
			t.Error("Close left a background task running")
		}
	}
}

func TestVSCodeValidateCatchesTypos(t *testing.T) {
	dir, r := workspace(t, map[string]string{
		".vscode/tasks.json": `{"version": "2.0.0", "tasks": [
			{"label": "meshjoin: up", "type": "proces", "command": "meshjoin"},
			{"label": "meshjoin: env", "type": "process", "command": "meshjoin", "args": ["env", "-o", "${workspaceFolderr}/x"], "dependsOn": "meshjoin: upp"}
		]}`,
		".vscode/launch.json": `{"configurations": [{"name": "app", "type": "go", "request": "launch", "program": "${workspaceFolder}", "preLaunchTask": "meshjoin:env", "postDebugTask": "meshjoin: down"}]}`,
	})
	v, err := LoadVSCode(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	err = v.Validate()
	for _, want := range []string{`"proces"`, `${workspaceFolderr}`, `"meshjoin: upp"`, `"meshjoin:env" not found`, `"meshjoin: down" not found`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate missed %s: %v", want, err)
		}
	}
}

func TestJetBrainsBeforeLaunchAndEnv(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	shell := func(name, script string) string {
		return `<component name="ProjectRunConfigurationManager">
  <configuration default="false" name="` + name + `" type="ShConfigurationType">
    <option name="SCRIPT_TEXT" value="` + script + `" />
    <option name="SCRIPT_PATH" value="" />
    <option name="SCRIPT_WORKING_DIRECTORY" value="$PROJECT_DIR$" />
    <option name="INTERPRETER_PATH" value="/bin/sh" />
    <option name="EXECUTE_IN_TERMINAL" value="false" />
    <option name="EXECUTE_SCRIPT_FILE" value="false" />
    <envs />
    <method v="2" />
  </configuration>
</component>`
	}
	app := func(name, before string) string {
		return `<component name="ProjectRunConfigurationManager">
  <configuration default="false" name="` + name + `" type="GoApplicationRunConfiguration" factoryName="Go Application">
    <working_directory value="$PROJECT_DIR$" />
    <envs>
      <env name="RATINGS_SERVICE_HOST" value="127.0.0.7" />
      <env name="MESHAPP_URL" value="` + srv.URL + `" />
    </envs>
    <kind value="PACKAGE" />
    <package value="example.com/meshapp" />
    <method v="2">
      <option name="RunConfigurationTask" enabled="true" run_configuration_name="` + before + `" run_configuration_type="ShConfigurationType" />
    </method>
  </configuration>
</component>`
	}
	dir, r := workspace(t, map[string]string{
		".run/up.run.xml":      shell("up", "touch up-ran &amp;&amp; exit 0"),
		".run/broken.run.xml":  shell("broken", "echo no session; exit 4"),
		".run/app.run.xml":     app("app", "up"),
		".run/app bad.run.xml": app("app bad", "broken"),
	})
	j, err := LoadJetBrains(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := j.Run(ctx(t), "app")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := p.Wait(ctx(t)); code != 0 || !strings.Contains(p.Output(), "env RATINGS_SERVICE_HOST=127.0.0.7") || !strings.Contains(p.Output(), ": 200 ok") {
		t.Fatalf("exit %d:\n%s", code, p.Output())
	}
	if _, err := os.Stat(filepath.Join(dir, "up-ran")); err != nil {
		t.Error("the before-launch configuration did not run in $PROJECT_DIR$")
	}
	_, err = j.Run(ctx(t), "app bad")
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 4 {
		t.Fatalf("got %v, want the before-launch step's exit 4 to stop the launch", err)
	}
}

func TestJetBrainsValidateCatchesTypos(t *testing.T) {
	dir, r := workspace(t, map[string]string{
		".run/up.run.xml": `<component name="ProjectRunConfigurationManager"><configuration name="meshjoin up" type="ShConfigurationType">
			<option name="SCRIPT_TEXT" value="meshjoin up" /><option name="SCRIPT_PATH" value="" /><option name="SCRIPT_WORKING_DIRECTORY" value="$PROJECT_DIRR$" />
			<option name="INTERPRETER_PATH" value="/bin/sh" /><option name="EXECUTE_IN_TERMINAL" value="true" /><option name="EXECUTE_SCRIPT_FILE" value="false" />
			<method v="2" /></configuration></component>`,
		".run/app.run.xml": `<component name="ProjectRunConfigurationManager"><configuration name="app" type="GoApplicationRunConfiguration">
			<kind value="PACKAGE" /><package value="" />
			<method v="2"><option name="RunConfigurationTask" enabled="true" run_configuration_name="meshjoin up" run_configuration_type="ShConfigurationType" />
			<option name="RunConfigurationTask" enabled="true" run_configuration_name="meshjoin-up" run_configuration_type="ShConfigurationType" /></method>
			</configuration></component>`,
	})
	j, err := LoadJetBrains(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	err = j.Validate()
	for _, want := range []string{"runs in the terminal", `"meshjoin-up", which does not exist`, "$PROJECT_DIRR$", "kind PACKAGE without <package>"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate missed %q: %v", want, err)
		}
	}
	os.WriteFile(filepath.Join(dir, ".run", "bad.run.xml"), []byte("<component name=\"ProjectRunConfigurationManager\"><configuration name=\"x\"></component>"), 0o644)
	if _, err := LoadJetBrains(dir, r); err == nil {
		t.Error("malformed XML loaded")
	}
}
