package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"
)

// Commands. They do I/O and return messages; they never touch the model's fields.

// opContext is the context of a connection, a join or an apply: quitting cancels it.
func (m *Model) opContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	m.cancelOp = cancel
	return ctx, cancel
}

func (m *Model) open(identity string) tea.Cmd {
	b := m.opts.Backend
	ctx, cancel := m.opContext(3 * time.Minute)
	return func() tea.Msg {
		defer cancel()
		info, err := b.Open(ctx, identity)
		if err != nil {
			return openedMsg{err: err}
		}
		return openedMsg{info: info, services: b.Services()}
	}
}

func (m *Model) loadAccounts() tea.Cmd {
	b := m.opts.Backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		a, err := b.ServiceAccounts(ctx, 20)
		return accountsMsg{accounts: a, err: err}
	}
}

func (m *Model) listenCatalog() tea.Cmd {
	b := m.opts.Backend
	ch := b.Changes()
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		<-ch
		return catalogMsg{services: b.Services()}
	}
}

func (m *Model) listenProgress() tea.Cmd {
	ch := m.opts.Backend.Progress()
	if ch == nil {
		return nil
	}
	return func() tea.Msg { return progressMsg(<-ch) }
}

func (m *Model) listenProxy() tea.Cmd {
	ch := m.opts.Backend.ProxyDone()
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		<-ch
		return proxyDoneMsg{}
	}
}

func (m *Model) start(keys []string) tea.Cmd {
	b := m.opts.Backend
	ctx, cancel := m.opContext(5 * time.Minute)
	return func() tea.Msg {
		defer cancel()
		return startedMsg{err: b.Start(ctx, keys)}
	}
}

func (m *Model) apply(keys []string) tea.Cmd {
	b := m.opts.Backend
	ctx, cancel := m.opContext(2 * time.Minute)
	return func() tea.Msg {
		defer cancel()
		return appliedMsg{err: b.SetServices(ctx, keys)}
	}
}

func (m *Model) readStatus() tea.Cmd {
	b, now, logs := m.opts.Backend, m.opts.Now, m.opts.Logs
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		st, err := b.Status(ctx)
		msg := statusMsg{st: st, err: err, now: now()}
		if logs != nil {
			return tea.BatchMsg{func() tea.Msg { return msg }, func() tea.Msg { return logsMsg{lines: logs()} }}
		}
		return msg
	}
}

func statusTick() tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return statusTickMsg{} })
}

func spinTick() tea.Cmd {
	return tea.Tick(120*time.Millisecond, func(time.Time) tea.Msg { return spinMsg{} })
}

func (m *Model) leave(joined bool) tea.Cmd {
	b := m.opts.Backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		if joined {
			return leftMsg{err: b.Leave(ctx)}
		}
		return leftMsg{err: b.Close()}
	}
}
