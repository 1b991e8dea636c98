package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
)

// Run shows the TUI until the user leaves. Whatever happens (a panic in the model, a signal),
// the session is left before it returns, and Bubble Tea restores the terminal.
func Run(ctx context.Context, o Options) (err error) {
	applyEnv(&o)
	m := New(o)
	p := tea.NewProgram(m, append([]tea.ProgramOption{tea.WithContext(ctx)}, o.programOptions...)...)
	_, runErr := p.Run()
	// The model leaves on q, ctrl+c and SIGINT; after a panic or a killed context it could not:
	// leave here so the hosts file and Docker are never left behind.
	leaveCtx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if lerr := o.Backend.Leave(leaveCtx); lerr != nil {
		err = errors.Join(err, fmt.Errorf("leave: %w (run `meshjoin leave` to finish cleaning up)", lerr))
	}
	// A signal or a cancelled context is a normal way out; a panic is not.
	if runErr != nil && (errors.Is(runErr, tea.ErrProgramPanic) || !errors.Is(runErr, tea.ErrProgramKilled) && !errors.Is(runErr, tea.ErrInterrupted)) {
		err = errors.Join(runErr, err)
	}
	return errors.Join(err, m.Err())
}

// applyEnv turns colour off for NO_COLOR (https://no-color.org).
func applyEnv(o *Options) {
	if os.Getenv("NO_COLOR") != "" {
		o.Color = false
	}
}

// LogRing keeps the latest log lines for the log pane; it is an io.Writer to tee logs into.
type LogRing struct {
	mu    sync.Mutex
	lines []string
	max   int
	part  string
}

// NewLogRing keeps n lines.
func NewLogRing(n int) *LogRing { return &LogRing{max: n} }

func (r *LogRing) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.part + string(p)
	parts := strings.Split(s, "\n")
	r.part = parts[len(parts)-1]
	for _, l := range parts[:len(parts)-1] {
		r.lines = append(r.lines, strings.ReplaceAll(l, "\t", " "))
	}
	if over := len(r.lines) - r.max; over > 0 {
		r.lines = append(r.lines[:0:0], r.lines[over:]...)
	}
	return len(p), nil
}

// Lines returns a copy of the kept lines.
func (r *LogRing) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}
