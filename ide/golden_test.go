package ide_test

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aymanbagabas/go-udiff"
	"github.com/tailscale/hujson"

	"github.com/meshjoin/meshjoin/ide"
	"github.com/meshjoin/meshjoin/ide/idetest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*/want from the generators' output")

// sessionEnv stands for `meshjoin env` in the JetBrains cases.
var sessionEnv = map[string]string{
	"MESHJOIN_SESSION":              "s-1a2b",
	"RATINGS_BOOKINFO_SERVICE_HOST": "127.77.3.4",
	"RATINGS_BOOKINFO_SERVICE_PORT": "9080",
}

type generator func(ide.Options) (ide.Plan, error)

// TestGolden runs each generator on a project (testdata/golden/<case>/in), compares every file
// of the result with want/, checks the result against the IDE's schema rules, checks that only
// meshjoin's entries changed in the user's files, and that a second run changes nothing.
func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		gen  generator
		opts ide.Options
	}{
		{"vscode-empty", ide.VSCode, ide.Options{Profile: "dev"}},
		{"vscode-tasks-comments", ide.VSCode, ide.Options{}},
		{"vscode-launch-several", ide.VSCode, ide.Options{Wait: 90e9, Grace: 5e9}},
		{"jetbrains-empty", ide.JetBrains, ide.Options{Env: sessionEnv}},
		{"jetbrains-run-dir", ide.JetBrains, ide.Options{Profile: "dev", Env: sessionEnv}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "shop")
			copyTree(t, filepath.Join("testdata", "golden", c.name, "in"), dir)
			c.opts.Dir = dir
			plan, err := c.gen(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range plan.Files {
				if f.Existed {
					onlyMeshjoinChanged(t, f)
				}
			}
			before := readTree(t, dir)
			if _, err := plan.Write(); err != nil {
				t.Fatal(err)
			}
			after := readTree(t, dir)
			for p, b := range before {
				if !slices.ContainsFunc(plan.Files, func(f ide.File) bool { return f.Path == p }) && after[p] != b {
					t.Errorf("%s is not meshjoin's but changed", p)
				}
			}
			want := filepath.Join("testdata", "golden", c.name, "want")
			if *update {
				os.RemoveAll(want)
				copyTree(t, dir, want)
			}
			compareTrees(t, dir, want)
			validate(t, dir, strings.HasPrefix(c.name, "vscode"))

			again, err := c.gen(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if changed := again.Changed(); len(changed) > 0 {
				t.Errorf("second run would change %s:\n%s", changed[0].Path, again.Diff())
			}
		})
	}
}

// onlyMeshjoinChanged checks that the user's file, without meshjoin's own entries, is still
// there byte for byte in the new version without meshjoin's entries: the only other bytes
// allowed are the separators (commas, line breaks, indentation) of entries appended.
func onlyMeshjoinChanged(t *testing.T, f ide.File) {
	t.Helper()
	oldRest, newRest := withoutMeshjoin(t, f.Old), withoutMeshjoin(t, f.New)
	i := 0
	for _, c := range []byte(newRest) {
		if i < len(oldRest) && c == oldRest[i] {
			i++
		} else if !strings.ContainsRune(" \t\r\n,", rune(c)) {
			t.Fatalf("%s: the user's part changed:\n%s", f.Path, udiff.Unified("old", "new", oldRest, newRest))
		}
	}
	if i < len(oldRest) {
		t.Fatalf("%s: the user's part lost bytes:\n%s", f.Path, udiff.Unified("old", "new", oldRest, newRest))
	}
}

func withoutMeshjoin(t *testing.T, src []byte) string {
	var b strings.Builder
	pos := 0
	for _, r := range meshjoinRanges(t, src) {
		b.Write(src[pos:r[0]])
		pos = r[1]
	}
	b.Write(src[pos:])
	return b.String()
}

// meshjoinRanges are the byte ranges of meshjoin's tasks and launch configurations in a
// tasks.json or launch.json (none for other files).
func meshjoinRanges(t *testing.T, src []byte) [][2]int {
	v, err := hujson.Parse(src)
	if err != nil {
		return nil
	}
	var out [][2]int
	for el := range v.All() {
		obj, ok := el.Value.(*hujson.Object)
		if !ok {
			continue
		}
		for _, m := range obj.Members {
			name := m.Name.Value.(hujson.Literal).String()
			lit, ok := m.Value.Value.(hujson.Literal)
			if !ok {
				continue
			}
			if (name == "label" && strings.HasPrefix(lit.String(), ide.TaskPrefix)) || (name == "name" && strings.HasSuffix(lit.String(), ide.MeshSuffix)) {
				out = append(out, [2]int{el.StartOffset, el.EndOffset})
			}
		}
	}
	return out
}

func validate(t *testing.T, dir string, vscode bool) {
	t.Helper()
	r := &idetest.Runner{Env: os.Environ()}
	if vscode {
		v, err := idetest.LoadVSCode(dir, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Validate(); err != nil {
			t.Errorf("VS Code would refuse the result:\n%v", err)
		}
		return
	}
	j, err := idetest.LoadJetBrains(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Validate(); err != nil {
		t.Errorf("the IDE would refuse the result:\n%v", err)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return files
}

func compareTrees(t *testing.T, got, want string) {
	t.Helper()
	g, w := readTree(t, got), readTree(t, want)
	for p, wb := range w {
		gb, ok := g[p]
		if !ok {
			t.Errorf("%s not written", p)
		} else if gb != wb {
			t.Errorf("%s differs from %s (go test ./ide -update rewrites it):\n%s", p, filepath.Join(want, p), udiff.Unified("want", "got", wb, gb))
		}
	}
	for p := range g {
		if _, ok := w[p]; !ok {
			t.Errorf("%s written but not in %s", p, want)
		}
	}
}
