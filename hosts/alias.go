package hosts

import (
	"net/netip"
	"slices"
)

// loopbackInterface is macOS's loopback interface. Only 127.0.0.1 is on it at boot: every other
// address in 127.0.0.0/8 must be aliased before Envoy can bind it. Linux routes all of
// 127.0.0.0/8 to lo, so nothing is needed there.
const loopbackInterface = "lo0"

// NeedsAliases tells whether goos needs loopback aliases for addresses other than 127.0.0.1.
func NeedsAliases(goos string) bool { return goos == "darwin" }

// AliasPlan is what it takes to go from the aliases a session has to the ones it wants.
type AliasPlan struct {
	Add    []netip.Addr
	Remove []netip.Addr
}

// PlanAliases compares the aliases a session has made (have, from its state file) with the
// addresses it wants now, for goos. Addresses outside 127.0.0.0/8, IPv6 ones and 127.0.0.1
// (always there) are never aliased. Both lists come out sorted and without duplicates, so the
// same change always runs the same commands. On a goos without aliases the plan is empty.
func PlanAliases(goos string, have, want []netip.Addr) AliasPlan {
	var p AliasPlan
	if !NeedsAliases(goos) {
		return p
	}
	h, w := aliasSet(have), aliasSet(want)
	for _, a := range w {
		if !slices.Contains(h, a) {
			p.Add = append(p.Add, a)
		}
	}
	for _, a := range h {
		if !slices.Contains(w, a) {
			p.Remove = append(p.Remove, a)
		}
	}
	return p
}

// Commands are the ifconfig invocations (argv, run as root) that carry the plan out: removals
// first, so that an address moving between sessions is never briefly on lo0 twice.
func (p AliasPlan) Commands() [][]string {
	var cmds [][]string
	for _, a := range p.Remove {
		cmds = append(cmds, AliasRemoveCommand(a))
	}
	for _, a := range p.Add {
		cmds = append(cmds, AliasAddCommand(a))
	}
	return cmds
}

// AliasAddCommand puts a on macOS's loopback interface as a host address.
func AliasAddCommand(a netip.Addr) []string {
	return []string{"ifconfig", loopbackInterface, "alias", a.String() + "/32", "up"}
}

// AliasRemoveCommand takes a off macOS's loopback interface again.
func AliasRemoveCommand(a netip.Addr) []string {
	return []string{"ifconfig", loopbackInterface, "-alias", a.String()}
}

// Aliasable tells whether a is an address aliases are made for.
func Aliasable(a netip.Addr) bool {
	return a.Is4() && loopbackV4.Contains(a) && a != localhostV4
}

var (
	loopbackV4  = netip.MustParsePrefix("127.0.0.0/8")
	localhostV4 = netip.MustParseAddr("127.0.0.1")
)

func aliasSet(addrs []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if Aliasable(a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}
