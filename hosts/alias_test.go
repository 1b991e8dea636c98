package hosts

import (
	"net/netip"
	"reflect"
	"testing"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// TestAliasPlanCommands pins the exact ifconfig commands of a session's life on macOS: aliases
// added on join, changed with the services, removed on leave and, from the state file, by the
// leave that cleans up after a kill -9; and nothing at all on Linux.
func TestAliasPlanCommands(t *testing.T) {
	tests := []struct {
		name       string
		goos       string
		have, want []netip.Addr
		cmds       [][]string
	}{{
		name: "join adds each address, sorted, once",
		goos: "darwin",
		want: addrs("127.77.3.4", "127.77.1.2", "127.77.3.4"),
		cmds: [][]string{
			{"ifconfig", "lo0", "alias", "127.77.1.2/32", "up"},
			{"ifconfig", "lo0", "alias", "127.77.3.4/32", "up"},
		},
	}, {
		name: "a change of services removes first, then adds",
		goos: "darwin",
		have: addrs("127.77.1.2", "127.77.3.4"),
		want: addrs("127.77.3.4", "127.77.5.6"),
		cmds: [][]string{
			{"ifconfig", "lo0", "-alias", "127.77.1.2"},
			{"ifconfig", "lo0", "alias", "127.77.5.6/32", "up"},
		},
	}, {
		name: "leave removes every alias",
		goos: "darwin",
		have: addrs("127.77.1.2", "127.77.3.4"),
		cmds: [][]string{
			{"ifconfig", "lo0", "-alias", "127.77.1.2"},
			{"ifconfig", "lo0", "-alias", "127.77.3.4"},
		},
	}, {
		name: "nothing changes, nothing runs",
		goos: "darwin",
		have: addrs("127.77.1.2"),
		want: addrs("127.77.1.2"),
	}, {
		name: "127.0.0.1, IPv6 and non-loopback addresses are never aliased",
		goos: "darwin",
		want: addrs("127.0.0.1", "::1", "10.0.0.1", "::ffff:127.77.9.9"),
		cmds: [][]string{{"ifconfig", "lo0", "alias", "127.77.9.9/32", "up"}},
	}, {
		name: "linux: all of 127/8 is local, no alias is added",
		goos: "linux",
		want: addrs("127.77.1.2"),
	}, {
		name: "linux: nothing to remove either",
		goos: "linux",
		have: addrs("127.77.1.2"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PlanAliases(tt.goos, tt.have, tt.want).Commands()
			if !reflect.DeepEqual(got, tt.cmds) {
				t.Errorf("commands\n got %q\nwant %q", got, tt.cmds)
			}
		})
	}
}

// TestAliasAfterKill: the state file written on join is all a leave after kill -9 has; the
// plan from it with nothing wanted undoes exactly what join did.
func TestAliasAfterKill(t *testing.T) {
	want := addrs("127.77.8.1", "127.77.2.9")
	join := PlanAliases("darwin", nil, want)
	recorded := join.Add // what the session saves in its state file
	leave := PlanAliases("darwin", recorded, nil)
	if !reflect.DeepEqual(leave.Remove, join.Add) || len(leave.Add) != 0 {
		t.Fatalf("leave after kill %+v does not undo join %+v", leave, join)
	}
}
