package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// process is a child of the testbed. It dies with the test binary (Pdeathsig), so a crashed
// or killed test leaks nothing, and its output goes to a log file named after it.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startProcess(dir, name, bin string, args ...string) (*process, error) {
	return startProcessIn(dir, name, nil, bin, args...)
}

// startProcessIn starts a child with extra environment variables, in dir as its working
// directory. A restarted child appends to the same log.
func startProcessIn(dir, name string, env []string, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports an early exit, with the tail of the log to say why.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); last log lines:\n%s", p.name, p.err, tail(p.log, 15))
	default:
		return nil
	}
}

// stop sends SIGTERM, then SIGKILL after a grace period, and waits.
func (p *process) stop() {
	if p == nil {
		return
	}
	signalGroup(p.cmd.Process, false)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		signalGroup(p.cmd.Process, true)
		<-p.done
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls check until it succeeds, the process dies or ctx ends.
func waitFor(ctx context.Context, p *process, what string, check func() error) error {
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		if p != nil {
			if err := p.exited(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %v (last check: %v)", what, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort returns a port on ip that nothing listens on right now.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

var errNotYet = errors.New("not yet")
