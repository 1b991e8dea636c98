package session

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"

	"github.com/meshjoin/meshjoin/helper"
	"github.com/meshjoin/meshjoin/hosts"
)

// aliasOS is the OS whose alias rules apply; tests set "darwin" to check the plan on Linux.
var aliasOS = runtime.GOOS

// aliasRunner carries an alias plan out: through the helper when it serves this user, else
// directly as root, else through sudo. Tests record instead.
var aliasRunner = runAliasPlan

// syncAliases makes the session's loopback aliases those of its services' addresses (macOS;
// nothing elsewhere). The state records every alias before it is made, so that a crash in
// between still has it removed by `meshjoin leave`.
func (s *Session) syncAliases(services []JoinedService) error {
	s.mu.Lock()
	have := parseAddrs(s.state.Aliases)
	s.mu.Unlock()
	want := serviceAddrs(services)
	plan := hosts.PlanAliases(aliasOS, have, want)
	if len(plan.Add) == 0 && len(plan.Remove) == 0 {
		return nil
	}
	s.setAliases(union(have, plan.Add))
	if err := aliasRunner(s.cfg.HostsFile, s.cfg.ElevateHosts, plan); err != nil {
		return fmt.Errorf("loopback aliases: %w", err)
	}
	s.setAliases(hosts.PlanAliases(aliasOS, nil, want).Add)
	return nil
}

func (s *Session) setAliases(addrs []netip.Addr) {
	s.mu.Lock()
	s.state.Aliases = formatAddrs(addrs)
	s.mu.Unlock()
	s.save()
}

// removeAliases is the clean-up of a dead session's aliases, from its state file.
func removeAliases(prev *State) error {
	plan := hosts.PlanAliases(aliasOS, parseAddrs(prev.Aliases), nil)
	if len(plan.Remove) == 0 {
		return nil
	}
	return aliasRunner(prev.HostsFile, true, plan)
}

func runAliasPlan(hostsFile string, elevate bool, plan hosts.AliasPlan) error {
	c, err := systemHelper(hostsFile, true)
	if c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
		defer cancel()
		_, err := c.Aliases(ctx, helper.AliasRequest{Add: plan.Add, Remove: plan.Remove})
		return err
	}
	if err != nil && os.Geteuid() != 0 {
		return err
	}
	for _, argv := range plan.Commands() {
		if os.Geteuid() != 0 {
			if !hasSudo() {
				return fmt.Errorf("%s needs root and there is no sudo on PATH: install the privileged helper once (`sudo meshjoin helper install`)", strings.Join(argv, " "))
			}
			argv = append([]string{"sudo"}, argv...)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr // sudo's password prompt
		if out, err := cmd.Output(); err != nil {
			return fmt.Errorf("%s: %w %s", strings.Join(argv, " "), err, out)
		}
	}
	return nil
}

func serviceAddrs(services []JoinedService) []netip.Addr {
	var out []netip.Addr
	for _, js := range services {
		if a, err := netip.ParseAddr(js.Addr); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func parseAddrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func formatAddrs(addrs []netip.Addr) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}

func union(a, b []netip.Addr) []netip.Addr {
	out := slices.Concat(a, b)
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}
