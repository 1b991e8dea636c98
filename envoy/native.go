package envoy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// NativeRuntime runs Envoy as a child process of meshjoin.
//
// The bootstrap (which holds the ADS secret) is written to a 0600 file in a 0700 temp
// directory and removed as soon as Envoy has read it. On Linux the child gets SIGKILL when
// meshjoin dies (Pdeathsig), so a crash does not leave an Envoy holding the ports. Envoy runs
// in its own process group, so a Ctrl-C in the terminal reaches meshjoin, which then stops
// Envoy in order.
type NativeRuntime struct {
	envoyPath string
	tmpRoot   string // where the bootstrap's temp directory goes; "" is os.TempDir()
}

// NewNativeRuntime runs the Envoy binary at envoyPath.
func NewNativeRuntime(envoyPath string) *NativeRuntime {
	return &NativeRuntime{envoyPath: envoyPath}
}

// Start implements Runtime.
func (r *NativeRuntime) Start(ctx context.Context, spec ProxySpec) (Proxy, error) {
	if err := validateSpec(spec); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(r.tmpRoot, "meshjoin-envoy-")
	if err != nil {
		return nil, fmt.Errorf("start envoy: %w", err)
	}
	defer os.RemoveAll(dir) // Envoy has read the bootstrap once Start returns
	path := filepath.Join(dir, "bootstrap.json")
	if err := os.WriteFile(path, spec.Bootstrap, 0o600); err != nil {
		return nil, fmt.Errorf("start envoy: write bootstrap: %w", err)
	}

	tail := newTailBuffer()
	out := logWriter(tail, spec.Logs)
	cmd := exec.Command(r.envoyPath, envoyArgs(path, spec.LogLevel)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start envoy %s: %w (pass --envoy-path, or use --runtime docker)", r.envoyPath, err)
	}
	if spec.Started != nil {
		spec.Started()
	}
	p := &nativeProxy{cmd: cmd, admin: adminEndpoint(spec), done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := waitAdmin(ctx, p.admin, bootstrapNodeID(spec.Bootstrap), p.done, tail); err != nil {
		_ = p.Stop(context.Background())
		return nil, fmt.Errorf("start envoy: %w", err)
	}
	return p, nil
}

type nativeProxy struct {
	cmd      *exec.Cmd
	admin    AdminEndpoint
	done     chan struct{}
	waitErr  error // set before done is closed
	stopOnce sync.Once
}

func (p *nativeProxy) ID() string            { return "pid " + strconv.Itoa(p.cmd.Process.Pid) }
func (p *nativeProxy) Admin() AdminEndpoint  { return p.admin }
func (p *nativeProxy) Done() <-chan struct{} { return p.done }

// PID is the Envoy process id.
func (p *nativeProxy) PID() int { return p.cmd.Process.Pid }

func (p *nativeProxy) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() { _ = p.cmd.Process.Signal(syscall.SIGTERM) })
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	case <-grace.C:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop envoy (%s): %w", p.ID(), err)
	}
	<-p.done
	return nil
}
