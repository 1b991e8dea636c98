//go:build !windows

package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/testbed"
)

// A ServiceEntry that anyone in a mesh namespace may create claims localhost, another
// service's FQDN, one of the user's own hosts-file names and a name an older entry has: none
// of it reaches the hosts file, whatever order the services are joined in, and `status` and
// `services` say who got each name and why.
func TestHostileNamesAndConflicts(t *testing.T) {
	tb := testbed.Shared(t)
	// "hijack" is older than, or the same age and first by name as, "hijack-younger": it owns
	// shared.mesh.internal either way, as in Istio.
	createServiceEntry(t, tb, newServiceEntry("hijack", []string{
		"localhost", "ip6-allnodes", "ratings.bookinfo.svc.cluster.local", "build-box", "shared.mesh.internal",
	}))
	createServiceEntry(t, tb, newServiceEntry("hijack-younger", []string{"shared.mesh.internal", "younger.mesh.internal"}))

	e := newEnv(t)
	// The loser is joined first: join order decides nothing.
	r := e.startJoin(e.faultJoinArgs("hijack-younger.payments", "hijack.payments", "ratings.bookinfo")...)
	content, err := os.ReadFile(e.hostsFile)
	if err != nil {
		t.Fatal(err)
	}
	block, before, after, found, err := hosts.ParseBlock(content)
	if err != nil || !found {
		t.Fatalf("no meshjoin block (%v):\n%s", err, content)
	}
	if got := string(before) + string(after); got != initialHosts {
		t.Errorf("bytes outside the block changed:\n%q\nwant\n%q", got, initialHosts)
	}
	byAddr := map[string][]string{}
	for _, en := range block.Entries {
		byAddr[en.IP.String()] = en.Names
	}
	want := map[string][]string{
		e.addr("ratings.bookinfo"):        {"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc", "ratings.bookinfo"},
		e.addr("hijack.payments"):         {"shared.mesh.internal"},
		e.addr("hijack-younger.payments"): {"younger.mesh.internal"},
	}
	for addr, names := range want {
		if !slices.Equal(byAddr[addr], names) {
			t.Errorf("%s maps %v, want %v\n%s", addr, byAddr[addr], names, content)
		}
	}
	if len(byAddr) != len(want) {
		t.Errorf("block has %d addresses, want %d:\n%s", len(byAddr), len(want), content)
	}

	code, out, errOut := e.run(e.args("status")...)
	if code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	for _, w := range []string{
		"hijack.payments: host ratings.bookinfo.svc.cluster.local goes to bookinfo/ratings (Service): a Kubernetes Service's own name wins",
		"hijack.payments: name build-box not written: already resolves through line 5 of " + e.hostsFile,
		"hijack-younger.payments: host shared.mesh.internal goes to payments/hijack (ServiceEntry)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("status does not say %q:\n%s", w, out)
		}
	}
	code, out, errOut = e.run(e.args("services", "-A")...)
	if code != 0 || !strings.Contains(out, "hijack-younger.payments: host shared.mesh.internal goes to payments/hijack (ServiceEntry)") {
		t.Errorf("services -A: %d\n%s\n%s", code, out, errOut)
	}
	if joinOut := r.stderr.String(); !strings.Contains(joinOut, `\"localhost\" dropped: is reserved`) || !strings.Contains(joinOut, `\"ip6-allnodes\" dropped: is reserved`) {
		t.Errorf("join does not warn about the reserved names:\n%s", joinOut)
	}
	r.interrupt(t)
}
