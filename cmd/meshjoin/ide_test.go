package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runMain runs one meshjoin command line in-process.
func runMain(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(args, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func ideProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			files[p] = string(b)
		}
		return err
	})
	return files
}

func sameFiles(t *testing.T, before, after map[string]string) {
	t.Helper()
	if len(before) != len(after) {
		t.Errorf("files: %d before, %d after", len(before), len(after))
	}
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed", p)
		}
	}
}

func TestIDEDiffWriteAndIdempotence(t *testing.T) {
	dir := ideProject(t, map[string]string{"go.mod": "module x\n", "main.go": "package main\n",
		"meshjoin.yaml": "envFile: .mesh/vars\nprofiles:\n  dev:\n    services: [ratings.bookinfo]\n"})
	before := snapshot(t, dir)
	code, out, errOut := runMain("ide", "vscode", "--dir", dir, "--profile", "dev")
	if code != 0 || !strings.Contains(out, "+++ b/.vscode/tasks.json") || !strings.Contains(out, `+			"args": ["up", "--wait", "2m", "--profile", "dev"],`) {
		t.Fatalf("exit %d, diff:\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, `"envFile": "${workspaceFolder}/.mesh/vars"`) || !strings.Contains(out, `"args": ["env", "-o", "${workspaceFolder}/.mesh/vars"]`) {
		t.Errorf("the project file's envFile is not used:\n%s", out)
	}
	sameFiles(t, before, snapshot(t, dir)) // the diff wrote nothing
	if code, _, errOut := runMain("ide", "vscode", "--dir", dir, "--dry-run"); code != 0 {
		t.Fatalf("--dry-run: %d %s", code, errOut)
	}
	sameFiles(t, before, snapshot(t, dir))

	code, out, errOut = runMain("ide", "vscode", "--dir", dir, "--profile", "dev", "--write")
	if code != 0 || !strings.Contains(out, "Wrote .vscode/tasks.json") || !strings.Contains(out, "Wrote .vscode/launch.json") {
		t.Fatalf("--write: exit %d\n%s\n%s", code, out, errOut)
	}
	written := snapshot(t, dir)
	code, out, errOut = runMain("ide", "vscode", "--dir", dir, "--profile", "dev", "--write")
	if code != 0 || out != "" || !strings.Contains(errOut, "Up to date") {
		t.Fatalf("second --write: exit %d\n%s\n%s", code, out, errOut)
	}
	sameFiles(t, written, snapshot(t, dir))
}

func TestIDEBadInput(t *testing.T) {
	broken := "{\n\t\"version\": \"2.0.0\",\n\t\"tasks\": [\n\t\t{\"label\": \"build\",}\n\t\t{\"label\": \"x\"}\n\t]\n}\n"
	noSession := t.TempDir()
	cases := []struct {
		name  string
		files map[string]string
		args  []string
		code  int
		want  []string
	}{
		{"invalid JSONC", map[string]string{"go.mod": "module x\n", ".vscode/tasks.json": broken},
			[]string{"vscode", "--write"}, exitEnvironment, []string{"Error: .vscode/tasks.json:5:3: ", "Next: fix that file (nothing was written)"}},
		{"unknown configuration", map[string]string{".vscode/launch.json": `{"configurations": [{"name": "server", "type": "go", "request": "launch"}, {"name": "api", "type": "go", "request": "launch"}]}`},
			[]string{"vscode", "-c", "srever", "--write"}, exitUsage, []string{`no configuration "srever"; the project has: "server", "api"`, "Next: give one of the names listed"}},
		{"unknown profile", map[string]string{"meshjoin.yaml": "profiles:\n  dev: {}\n  web: {}\n"}, []string{"vscode", "--profile", "prod"}, exitUsage, []string{`"prod"`, "Next: choose one of dev, web"}},
		{"profile without project file", nil, []string{"vscode", "--profile", "dev"}, exitUsage, []string{"no project file", "Next: create one with `meshjoin init"}},
		{"jetbrains without a session", nil, []string{"jetbrains", "--state-dir", noSession}, exitConflict, []string{"no background session runs", "Next: start it first (`meshjoin up`)"}},
		{"write and dry-run", nil, []string{"vscode", "--write", "--dry-run"}, exitUsage, []string{"--write and --dry-run together", "Next:"}},
		{"unknown IDE", nil, []string{"emacs"}, exitUsage, []string{`which IDE? got ["emacs"]`, "Next: `meshjoin ide vscode`"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := ideProject(t, c.files)
			before := snapshot(t, dir)
			code, out, errOut := runMain(append([]string{"ide", "--dir", dir}, c.args...)...)
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s%s", code, c.code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			sameFiles(t, before, snapshot(t, dir))
		})
	}
}
