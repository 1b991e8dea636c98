package ide

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

var mainPackage = regexp.MustCompile(`(?m)^package main\b`)

// defaultLaunch is a launch configuration for the project's language, found by its marker
// files, or nil when no marker is there.
func defaultLaunch(o Options) (object, string) {
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(o.Dir, name))
		return err == nil
	}
	cfg := object{}
	var lang string
	switch {
	case exists("go.mod"):
		lang = "Go"
		cfg.set("name", lang+MeshSuffix)
		cfg.set("type", "go")
		cfg.set("request", "launch")
		cfg.set("mode", "auto")
		cfg.set("program", goProgram(o.Dir))
	case exists("package.json"):
		lang = "Node"
		cfg.set("name", lang+MeshSuffix)
		cfg.set("type", "node")
		cfg.set("request", "launch")
		cfg.set("program", workspaceFolder+"/"+nodeMain(o.Dir))
	case exists("pyproject.toml"), exists("requirements.txt"), exists("setup.py"):
		lang = "Python"
		cfg.set("name", lang+MeshSuffix)
		cfg.set("type", "debugpy")
		cfg.set("request", "launch")
		program := "${file}"
		for _, f := range []string{"main.py", "app.py", "manage.py"} {
			if exists(f) {
				program = workspaceFolder + "/" + f
				break
			}
		}
		cfg.set("program", program)
	case exists("pom.xml"), exists("build.gradle"), exists("build.gradle.kts"):
		lang = "Java"
		cfg.set("name", lang+MeshSuffix)
		cfg.set("type", "java")
		cfg.set("request", "launch")
		cfg.set("mainClass", "${file}")
	default:
		return nil, ""
	}
	cfg.set("preLaunchTask", TaskEnv)
	cfg.set("postDebugTask", TaskDown)
	cfg.set("envFile", workspaceFolder+"/"+o.EnvFile)
	return cfg, lang
}

// goProgram is the Go main package to launch: the module root when it is one, else the first
// cmd/<name> that is.
func goProgram(dir string) string {
	if isMainPackage(dir) {
		return workspaceFolder
	}
	cmds, _ := filepath.Glob(filepath.Join(dir, "cmd", "*"))
	sort.Strings(cmds)
	for _, c := range cmds {
		if isMainPackage(c) {
			return workspaceFolder + "/cmd/" + filepath.Base(c)
		}
	}
	return workspaceFolder
}

func isMainPackage(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && mainPackage.Match(b) {
			return true
		}
	}
	return false
}

// nodeMain is package.json's "main", or index.js.
func nodeMain(dir string) string {
	var pkg struct{ Main string }
	if b, err := os.ReadFile(filepath.Join(dir, "package.json")); err == nil && json.Unmarshal(b, &pkg) == nil && pkg.Main != "" {
		return filepath.ToSlash(filepath.Clean(pkg.Main))
	}
	return "index.js"
}
