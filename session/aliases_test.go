package session

import (
	"context"
	"log/slog"
	"reflect"
	"testing"

	"github.com/meshjoin/meshjoin/hosts"
)

// recordAliases makes the session plan aliases as on macOS and records the commands the plan
// would run, instead of running them.
func recordAliases(t *testing.T) *[][]string {
	var ran [][]string
	oldOS, oldRun := aliasOS, aliasRunner
	aliasOS = "darwin"
	aliasRunner = func(_ string, _ bool, plan hosts.AliasPlan) error {
		ran = append(ran, plan.Commands()...)
		return nil
	}
	t.Cleanup(func() { aliasOS, aliasRunner = oldOS, oldRun })
	return &ran
}

// TestAliasesLifeOnDarwin follows a session's aliases through join, a change of services,
// a kill -9 (the state file is all that is left) and the leave that cleans up after it.
func TestAliasesLifeOnDarwin(t *testing.T) {
	ran := recordAliases(t)
	st, err := newStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{store: st, log: slog.New(slog.DiscardHandler), state: State{ID: "0123456789ab"}}
	svc := func(addrs ...string) []JoinedService {
		var out []JoinedService
		for _, a := range addrs {
			out = append(out, JoinedService{Key: "svc-" + a, Addr: a})
		}
		return out
	}
	expect := func(step string, want [][]string, aliases []string) {
		t.Helper()
		if !reflect.DeepEqual(*ran, want) {
			t.Fatalf("%s ran\n%q\nwant\n%q", step, *ran, want)
		}
		saved, err := st.read()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(saved.Aliases, aliases) {
			t.Fatalf("%s: state file records %q, want %q", step, saved.Aliases, aliases)
		}
		*ran = nil
	}

	if err := s.syncAliases(svc("127.77.3.4", "127.77.1.2")); err != nil {
		t.Fatal(err)
	}
	expect("join", [][]string{
		{"ifconfig", "lo0", "alias", "127.77.1.2/32", "up"},
		{"ifconfig", "lo0", "alias", "127.77.3.4/32", "up"},
	}, []string{"127.77.1.2", "127.77.3.4"})

	if err := s.syncAliases(svc("127.77.3.4", "127.77.5.6")); err != nil {
		t.Fatal(err)
	}
	expect("change of services", [][]string{
		{"ifconfig", "lo0", "-alias", "127.77.1.2"},
		{"ifconfig", "lo0", "alias", "127.77.5.6/32", "up"},
	}, []string{"127.77.3.4", "127.77.5.6"})

	// kill -9: the process is gone, the state file stays; leave cleans up from it.
	prev, err := st.read()
	if err != nil {
		t.Fatal(err)
	}
	if err := cleanupWith(context.Background(), st, prev, slog.New(slog.DiscardHandler), false); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*ran, [][]string{
		{"ifconfig", "lo0", "-alias", "127.77.3.4"},
		{"ifconfig", "lo0", "-alias", "127.77.5.6"},
	}) {
		t.Fatalf("leave after kill -9 ran %q", *ran)
	}
	if after, _ := st.read(); after != nil {
		t.Fatalf("the state file is still there: %+v", after)
	}
}

// A clean leave removes them too (teardown's syncAliases(nil)), and Linux plans nothing.
func TestAliasesLeaveAndLinux(t *testing.T) {
	ran := recordAliases(t)
	st, err := newStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{store: st, log: slog.New(slog.DiscardHandler), state: State{ID: "0123456789ab", Aliases: []string{"127.77.1.2"}}}
	if err := s.syncAliases(nil); err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"ifconfig", "lo0", "-alias", "127.77.1.2"}}; !reflect.DeepEqual(*ran, want) {
		t.Fatalf("leave ran %q, want %q", *ran, want)
	}
	*ran = nil
	aliasOS = "linux"
	if err := s.syncAliases([]JoinedService{{Addr: "127.77.1.2"}}); err != nil || len(*ran) != 0 {
		t.Fatalf("linux ran %q (%v)", *ran, err)
	}
}
