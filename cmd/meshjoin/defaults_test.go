package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshjoin/meshjoin/session"
)

// Each default is defined once, in package session: join's flags show exactly those values,
// and so do the README's flag table and how-it-works.
func TestDefaultsAreTheSessionsEverywhere(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	table := map[string]string{} // flag → its "default" cell
	for _, line := range strings.Split(string(readme), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) > 3 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`--") {
			table[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.Trim(strings.TrimSpace(cells[2]), "`")
		}
	}
	flags := newJoinCmd(&globals{}).Flags()
	same := func(a, b string) bool { return a == b }
	sameDuration := func(a, b string) bool {
		da, errA := time.ParseDuration(a)
		db, errB := time.ParseDuration(b)
		return errA == nil && errB == nil && da == db
	}
	for _, c := range []struct {
		flag, want string
		eq         func(a, b string) bool
		inFlag     bool // the flag's own default (some are "" and resolved later)
	}{
		{"--cert-ttl", session.DefaultCertTTL.String(), sameDuration, true},
		{"--envoy-image", session.DefaultEnvoyImage, same, true},
		{"--runtime", session.DefaultRuntime, same, true},
		{"--envoy-network", session.DefaultEnvoyNetwork, same, true},
		{"--address-range", session.DefaultAddressRange.String(), same, true},
		{"--ca-address", "gateway:" + strconv.Itoa(session.DefaultCAPort), same, false},
	} {
		if got, ok := table[c.flag]; !ok || !c.eq(got, c.want) {
			t.Errorf("README's flag table says %s defaults to %q, the code %q", c.flag, got, c.want)
		}
		if f := flags.Lookup(strings.TrimPrefix(c.flag, "--")); f == nil || (c.inFlag && !c.eq(f.DefValue, c.want)) {
			t.Errorf("join %s: flag default %v, want %q", c.flag, f, c.want)
		}
	}
	how, err := os.ReadFile("../../docs/how-it-works.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{session.DefaultCAServerName(""), "at least " + session.MinCertTTL.String()} {
		if !strings.Contains(string(how), want) {
			t.Errorf("docs/how-it-works.md does not say %q", want)
		}
	}
}
