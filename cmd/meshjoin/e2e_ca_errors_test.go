//go:build !windows

package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/testbed"
)

// TestJoinCAErrorsAgainstIstiod: the failures the real istiod gives, each with its exit code
// and a message and hint that name the real cause, although istiod itself answers most of them
// with only "request authenticate failure". (A forbidden token request and a TTL above the
// maximum are in TestJoinErrors, against the same istiod.)
func TestJoinCAErrorsAgainstIstiod(t *testing.T) {
	t.Run("wrong --cluster-id", func(t *testing.T) {
		e := newEnv(t)
		signed := e.tb.CASigned()
		f := e.joinFails(nil, append(e.joinArgs("ratings.bookinfo"), "--cluster-id", "cluster-west")...)
		f.check(t, exitPermission,
			[]string{"request authenticate failure", `cluster ID "cluster-west"`, `knows this cluster as "` + testbed.DefaultClusterID + `"`},
			[]string{"--cluster-id " + testbed.DefaultClusterID})
		if n := e.tb.CASigned() - signed; n != 0 {
			t.Errorf("istiod signed %d certificates", n)
		}
		istiodLogSays(t, e.tb, `client claims to be in cluster "cluster-west"`)
	})

	t.Run("istiod expects another token audience", func(t *testing.T) {
		tb := testbed.Shared(t)
		// istiod's TOKEN_AUDIENCES is what a mesh admin changes; meshjoin asks for istio-ca.
		restartIstiod(t, tb, "TOKEN_AUDIENCES=mesh.example.com")
		e := newEnv(t)
		f := e.joinFails(nil, e.joinArgs("ratings.bookinfo")...)
		f.check(t, exitPermission,
			[]string{"request authenticate failure", "another token audience", "TOKEN_AUDIENCES"},
			[]string{"token audience", "TOKEN_AUDIENCES"})
		istiodLogSays(t, tb, "Failed to authenticate client")
	})

	t.Run("CA server name istiod does not serve", func(t *testing.T) {
		e := newEnv(t)
		f := e.joinFails(nil, append(e.joinArgs("ratings.bookinfo"), "--ca-server-name", "istiod-blue.istio-system.svc")...)
		f.check(t, exitUnreachable,
			[]string{"istiod-blue.istio-system.svc", "is not trusted", "istiod.istio-system.svc", "istiod-<revision>.istio-system.svc"},
			[]string{"--ca-server-name", "--revision"})
	})

	t.Run("istiod stopped", func(t *testing.T) {
		tb := testbed.Shared(t)
		if err := tb.StopIstiod(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := tb.StartIstiod(context.Background()); err != nil {
				t.Errorf("start istiod again: %v", err)
			}
		})
		e := newEnv(t)
		f := e.joinFails(nil, e.joinArgs("ratings.bookinfo")...)
		f.check(t, exitUnreachable,
			[]string{"cannot reach the mesh CA", e.tb.CAAddr(), "istiod behind it is not answering"},
			[]string{"istiod", "retry"})
	})
}

// restartIstiod runs the shared istiod with extra environment for the rest of the test and
// restores it afterwards.
func restartIstiod(t *testing.T, tb *testbed.Testbed, env ...string) {
	t.Helper()
	if err := tb.RestartIstiod(context.Background(), env...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.RestartIstiod(context.Background()); err != nil {
			t.Errorf("restore istiod: %v", err)
		}
	})
}

// istiodLogSays checks that istiod logged the real reason meshjoin worked out.
func istiodLogSays(t *testing.T, tb *testbed.Testbed, what string) {
	t.Helper()
	b, err := os.ReadFile(tb.LogFile("istiod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), what) {
		t.Errorf("istiod's log does not say %q", what)
	}
}

// A service whose host the east-west Gateway does not route is not joinable, and join and
// services say why, naming the Gateway; widening the hosts makes it joinable again.
func TestJoinServiceOutsideGatewayHosts(t *testing.T) {
	tb := testbed.Shared(t)
	ctx := context.Background()
	if err := tb.SetGatewayHosts(ctx, "*.local"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.SetGatewayHosts(ctx, testbed.GatewayHosts...); err != nil {
			t.Errorf("restore the Gateway's hosts: %v", err)
		}
	})
	e := newEnv(t)
	f := e.joinFails(nil, e.joinArgs("inventory.payments")...)
	f.check(t, exitUsage,
		[]string{"inventory.payments is not reachable", `host "inventory.mesh.internal" matches no host`, `Gateway "istio-system/` + testbed.EastWestGatewayName + `"`, `"*.local"`},
		[]string{"meshjoin services"})
	code, out, _ := e.run(e.args("services", "-A", "-o", "json")...)
	if code != 0 || !strings.Contains(out, testbed.EastWestGatewayName) {
		t.Errorf("services -o json (exit %d) does not give the reason:\n%.2000s", code, out)
	}
}
