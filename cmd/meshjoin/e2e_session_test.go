//go:build !windows

package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshjoin/meshjoin/session"
)

// A TTL below the minimum is refused as bad input before the cluster or the CA is asked
// anything: no token, no certificate, nothing left behind (newEnv checks the machine).
func TestCertTTLBelowMinimum(t *testing.T) {
	e := newEnv(t)
	signed := e.tb.CASigned()
	f := e.joinFails(nil, append(e.joinArgs("ratings.bookinfo"), "--cert-ttl", "1s")...)
	f.check(t, exitUsage, []string{"--cert-ttl 1s", "minimum of " + session.MinCertTTL.String()}, []string{"--cert-ttl " + session.MinCertTTL.String()})
	if n := e.tb.CASigned() - signed; n != 0 {
		t.Errorf("the CA signed %d certificates", n)
	}
	for _, step := range []string{session.StepDiscover, session.StepToken, session.StepCertificate} {
		if strings.Contains(f.all, "✓ "+step) {
			t.Errorf("step %s ran:\n%s", step, f.all)
		}
	}
}

// `join --dry-run` prints the plan and changes nothing: no certificate, no token, no
// container or network, the hosts file's bytes as they were, no state directory.
func TestDryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	signed := e.tb.CASigned()
	code, out, errOut := e.run(append(e.joinArgs("ratings.bookinfo", "db.payments"), "--dry-run")...)
	if code != exitOK {
		t.Fatalf("join --dry-run: exit %d\n%s", code, errOut)
	}
	var p session.Preview
	if err := yaml.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("the plan is not YAML: %v\n%s", err, out)
	}
	var keys []string
	for _, js := range p.Services {
		keys = append(keys, js.Key)
		if js.Addr == "" || len(js.Names) == 0 || len(js.Ports) == 0 {
			t.Errorf("%s: incomplete plan %+v", js.Key, js)
		}
		for _, n := range js.Names {
			if !strings.Contains(p.HostsDiff, "+"+js.Addr) || !strings.Contains(p.HostsDiff, n) {
				t.Errorf("hosts diff does not add %s %s:\n%s", js.Addr, n, p.HostsDiff)
			}
		}
	}
	if strings.Join(keys, " ") != "ratings.bookinfo db.payments" {
		t.Errorf("services %v", keys)
	}
	var cfg struct {
		Listeners []struct {
			Name    string `json:"name"`
			Address struct {
				SocketAddress struct {
					Address string `json:"address"`
				} `json:"socket_address"`
			} `json:"address"`
		} `json:"listeners"`
		Clusters []struct {
			Name string `json:"name"`
		} `json:"clusters"`
	}
	if err := json.Unmarshal(p.Envoy, &cfg); err != nil {
		t.Fatalf("envoy config: %v", err)
	}
	var clusters []string
	for _, c := range cfg.Clusters {
		clusters = append(clusters, c.Name)
	}
	// An HTTP port has a second cluster, HTTP/1.1 all the way, for upgrades (websockets).
	if len(cfg.Listeners) != 2 || cfg.Listeners[0].Name != "ratings.bookinfo:9080" || cfg.Listeners[0].Address.SocketAddress.Address != p.Services[0].Addr ||
		strings.Join(clusters, " ") != "ratings.bookinfo:9080 ratings.bookinfo:9080.upgrade db.payments:3306" {
		t.Errorf("envoy config:\n%s", p.Envoy)
	}
	// The user's lines stay: a line the diff takes out comes back (here the last line, which
	// gains the line break it lacked).
	added := map[string]bool{}
	for _, l := range strings.Split(p.HostsDiff, "\n") {
		if strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++") {
			added[l[1:]] = true
		}
	}
	for _, l := range strings.Split(p.HostsDiff, "\n") {
		if strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---") && !added[l[1:]] {
			t.Errorf("the plan removes the user's line %q:\n%s", l, p.HostsDiff)
		}
	}
	if !strings.Contains(out, "hostsDiff: |") || strings.Contains(out, "PRIVATE KEY") {
		t.Errorf("the diff is not a YAML block, or the plan shows a key:\n%s", out)
	}
	if n := e.tb.CASigned() - signed; n != 0 {
		t.Errorf("the CA signed %d certificates", n)
	}
	if _, err := os.Stat(e.stateDir); !os.IsNotExist(err) {
		t.Errorf("state directory %s created: %v", e.stateDir, err)
	}
	// newEnv's cleanup checks the hosts file's bytes, containers and networks.
}

// up and run take --dry-run as join does: the plan is printed, nothing starts (no ready line,
// no background session), run's command does not run, and the CA signs nothing.
func TestBackgroundDryRunChangesNothing(t *testing.T) {
	e := newBackgroundEnv(t)
	signed := e.tb.CASigned()
	ran := t.TempDir() + "/ran"
	for _, args := range [][]string{
		e.bgArgs("up", "ratings.bookinfo", "--dry-run"),
		e.bgArgs("run", "--dry-run", "ratings.bookinfo", "--", "touch", ran),
	} {
		code, out, errOut := e.run(args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		var p session.Preview
		if err := yaml.Unmarshal([]byte(out), &p); err != nil || len(p.Services) != 1 || p.Services[0].Key != "ratings.bookinfo" || p.HostsDiff == "" {
			t.Errorf("%v: not the plan for ratings.bookinfo (%v):\n%s", args, err, out)
		}
		if strings.Contains(out+errOut, "meshjoin: ready") {
			t.Errorf("%v printed the ready line:\n%s%s", args, out, errOut)
		}
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("run --dry-run ran the command")
	}
	if n := e.tb.CASigned() - signed; n != 0 {
		t.Errorf("the CA signed %d certificates", n)
	}
	if _, err := os.Stat(e.stateDir); !os.IsNotExist(err) {
		t.Errorf("state directory %s created: %v", e.stateDir, err)
	}
	// newEnv's cleanup checks the hosts file's bytes, containers and networks.
}
