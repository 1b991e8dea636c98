// Package idetest runs generated IDE configuration the way the IDEs do, for tests: VS Code's
// tasks.json and launch.json (JSONC, process/shell tasks, dependsOn, variable substitution,
// background problem matchers, preLaunchTask, envFile, postDebugTask) and JetBrains' shared
// run configurations (Shell Script configurations, before-launch "Run Another Configuration"
// steps, Go Application configurations with their env). It also checks the schema rules a typo
// would break. Only Go programs are launched: that is what the tests need.
package idetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Runner starts processes as an IDE does: with the IDE's own environment.
type Runner struct {
	// Env is the environment the IDE itself runs with (inherited by tasks and programs).
	Env []string
	// Wrap, when set, turns a command line into the one actually run (e.g. to run it in a
	// mount namespace of the test's); nil runs it as is.
	Wrap func(argv []string) []string
	// Log receives every process's output as well (a test's log); may be nil.
	Log io.Writer
	// Shell is JetBrains' default shell, which runs Shell Script configurations given as text
	// ("/bin/sh" when empty).
	Shell string
}

func (r *Runner) getenv(key string) string {
	for i := len(r.Env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(r.Env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// lookPath finds name on the IDE's PATH (not the test's).
func (r *Runner) lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(r.getenv("PATH")) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found on the IDE's PATH", name)
}

// Process is a program or task the harness started.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// start runs argv in dir with env added to the IDE's environment.
func (r *Runner) start(name string, argv []string, dir string, env []string) (*Process, error) {
	exe, err := r.lookPath(argv[0])
	if err != nil {
		return nil, err
	}
	argv = append([]string{exe}, argv[1:]...)
	if r.Wrap != nil {
		argv = r.Wrap(argv)
	}
	p := &Process{Name: name, out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = dir
	p.cmd.Env = append(append([]string{}, r.Env...), env...)
	var w io.Writer = p.out
	if r.Log != nil {
		w = io.MultiWriter(p.out, &prefixWriter{w: r.Log, prefix: "[" + name + "] "})
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	p.cmd.SysProcAttr = groupAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	return p, nil
}

// run runs argv to completion and fails unless it exits 0.
func (r *Runner) run(ctx context.Context, name string, argv []string, dir string, env []string) error {
	p, err := r.start(name, argv, dir, env)
	if err != nil {
		return err
	}
	code, err := p.Wait(ctx)
	if err != nil {
		return err
	}
	if code != 0 {
		return &ExitError{Name: name, Code: code, Output: p.Output()}
	}
	return nil
}

// ExitError is a task or before-launch step that did not exit 0: the IDE stops the launch.
type ExitError struct {
	Name   string
	Code   int
	Output string
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s terminated with exit code %d:\n%s", e.Name, e.Code, e.Output)
}

// Output is everything the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Wait waits for the process to exit and returns its exit code.
func (p *Process) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), nil
	case <-ctx.Done():
		p.Stop()
		return -1, fmt.Errorf("%s did not exit: %w\n%s", p.Name, ctx.Err(), p.Output())
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the process group as an IDE's stop button does: SIGTERM, then SIGKILL.
func (p *Process) Stop() {
	if p.Exited() {
		return
	}
	signalGroup(p.cmd.Process, false)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		signalGroup(p.cmd.Process, true)
		<-p.done
	}
}

// buildGo builds a Go main package (dir or file) into a temporary binary, as the IDEs do
// before they run or debug it.
func (r *Runner) buildGo(ctx context.Context, pkg, dir string) (string, error) {
	out, err := os.MkdirTemp("", "idetest-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(out, "__debug_bin")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = r.Env
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return bin, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			io.WriteString(p.w, p.prefix+line)
		}
	}
	return len(b), nil
}

var errNotFound = errors.New("not found")

// tick paces polling of a process's output.
func tick() <-chan time.Time { return time.After(20 * time.Millisecond) }
