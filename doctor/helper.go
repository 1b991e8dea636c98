package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/meshjoin/meshjoin/helper"
	"github.com/meshjoin/meshjoin/hosts"
)

// checkHelper says whether the privileged helper writes the system hosts file for this user:
// installed or not, answering, allowing this uid, and for the addresses a join would use.
func checkHelper(ctx context.Context, s *state) Result {
	if s.env.ProxyPort > 0 {
		return pass("not used: proxy mode writes no hosts file")
	}
	if !isSystemHosts(s.env.HostsFile) {
		return pass("not used: the hosts file is not the system's")
	}
	st := helper.CheckStatus(ctx, helper.NewClient(""))
	var he *helper.Error
	switch {
	case st.Usable():
		if r := s.env.AddressRange; r.IsValid() && !(st.Hello.Range.Contains(r.Addr()) && st.Hello.Range.Bits() <= r.Bits()) {
			return fail(KindConflict, fmt.Sprintf("the helper on %s serves you (uid %d) but only for %s, and --address-range is %s", st.Socket, st.Hello.UID, st.Hello.Range, r),
				"use --address-range "+st.Hello.Range.String()+", or reinstall the helper with --range "+r.String())
		}
		return pass(fmt.Sprintf("the helper on %s serves you (uid %d) for %s: no sudo needed", st.Socket, st.Hello.UID, st.Hello.Range))
	case !st.Installed():
		return Result{Verdict: Warn, Detail: "not installed: a user who may not write the hosts file goes through sudo",
			Fix: "`sudo meshjoin helper install` once, and join never asks for sudo again"}
	case errors.As(st.Err, &he) && he.Kind == helper.KindPermission:
		return fail(KindPermission, he.Message, he.Next)
	case errors.As(st.Err, &he):
		return fail(KindUnreachable, he.Message, he.Next)
	}
	return fail(KindUnreachable, fmt.Sprintf("the helper on %s: %v", st.Socket, st.Err), "`meshjoin helper status` says more")
}

// checkRangeOverlap fails when a non-loopback interface has an address in the range: names
// would lead to that network instead of the local Envoy.
func checkRangeOverlap(prefix netip.Prefix) *Result {
	addrs, err := helper.NonLoopbackAddrs()
	if err != nil {
		return nil // nothing to compare with; the listen checks still run
	}
	if why := helper.RangeOverlap(prefix, addrs); why != "" {
		r := fail(KindConflict, why, "choose a range no interface uses with --address-range (inside 127.0.0.0/8), or remove that address from the interface")
		return &r
	}
	return nil
}

func isSystemHosts(path string) bool {
	if path == "" {
		return true
	}
	a, err1 := filepath.EvalSymlinks(path)
	b, err2 := filepath.EvalSymlinks(hosts.SystemPath())
	return err1 == nil && err2 == nil && a == b
}

// helperServes tells whether the helper writes path for this user.
func helperServes(ctx context.Context, path string) bool {
	if !isSystemHosts(path) {
		return false
	}
	c := helper.NewClient("")
	if !c.Installed() {
		return false
	}
	_, err := c.Hello(ctx)
	return err == nil
}
