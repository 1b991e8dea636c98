//go:build !windows

package main

import (
	"encoding/json"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meshjoin/meshjoin/doctor"
	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/testbed"
)

// doctorRange keeps doctor's address checks away from other tests' sessions.
const doctorRange = "127.80.0.0/16"

// doctorArgs are a healthy doctor run against the testbed, with extra flags.
func (e *env) doctorArgs(extra ...string) []string {
	return e.args(append([]string{"doctor", "-o", "json", "--identity", "dev/alice", "--envoy-image", testbed.EnvoyImage,
		"--hosts-file", e.hostsFile, "--sudo", "never", "--address-range", doctorRange}, extra...)...)
}

// runDoctor runs doctor and decodes its report.
func (e *env) runDoctor(args ...string) (int, doctor.Report, string) {
	e.t.Helper()
	code, stdout, stderr := e.run(args...)
	var rep doctor.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		e.t.Fatalf("doctor -o json printed no report (%v), exit %d:\n%s\n%s", err, code, stdout, stderr)
	}
	return code, rep, stderr
}

func verdicts(rep doctor.Report) map[string]doctor.Result {
	m := map[string]doctor.Result{}
	for _, r := range rep.Checks {
		m[r.Name] = r
	}
	return m
}

func TestDoctorOnAHealthyMesh(t *testing.T) {
	e := newEnv(t)
	e.extraEnv = []string{"MESHJOIN_CONFIG=", "MESHJOIN_IDENTITY="}
	code, rep, stderr := e.runDoctor(e.doctorArgs("ratings.bookinfo", "productpage.bookinfo")...)
	if code != 0 || !rep.OK {
		t.Errorf("exit %d on a healthy mesh:\n%+v\n%s", code, rep, stderr)
	}
	want := []string{"kube credentials", "clock", "mesh settings", "identity", "services", "gateway", "gateway TLS", "mesh CA", "envoy runtime", "hosts file", "helper", "addresses"}
	if len(rep.Checks) != len(want) {
		t.Fatalf("checks %+v, want %v", rep.Checks, want)
	}
	for i, r := range rep.Checks {
		if r.Name != want[i] || r.Verdict != doctor.Pass {
			t.Errorf("check %d: %+v, want %s passing", i, r, want[i])
		}
	}
	v := verdicts(rep)
	if !strings.Contains(v["gateway TLS"].Detail, "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-ratings") {
		t.Errorf("the gateway probe did not reach ratings' sidecar: %s", v["gateway TLS"].Detail)
	}
	if !strings.Contains(v["kube credentials"].Detail, "authenticated as") {
		t.Errorf("credentials: %s", v["kube credentials"].Detail)
	}
	// The human form says the same.
	code, stdout, _ := e.run(e.args("doctor", "--identity", "dev/alice", "--envoy-image", testbed.EnvoyImage, "--hosts-file", e.hostsFile, "--sudo", "never", "--address-range", doctorRange)...)
	if code != 0 || strings.Count(stdout, "✓ ") != len(want) {
		t.Errorf("exit %d, table:\n%s", code, stdout)
	}
}

func TestDoctorNamesWhatIsBroken(t *testing.T) {
	closedPort := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, e *env) []string // extra args
		check string
		code  int
		words []string // in the detail
		fix   string
		also  []string // other checks that fail with it
	}{
		{"no Docker", func(t *testing.T, e *env) []string {
			e.extraEnv = append(e.extraEnv, "DOCKER_HOST=unix://"+filepath.Join(t.TempDir(), "docker.sock"))
			return nil
		}, "envoy runtime", exitUnreachable, []string{"docker engine unreachable"}, "start Docker", nil},
		{"gateway unreachable", func(t *testing.T, e *env) []string {
			return []string{"--gateway", closedPort(t)}
		}, "gateway", exitUnreachable, []string{"cannot connect to the east-west gateway"}, "--gateway", nil},
		{"something else on the gateway's address", func(t *testing.T, e *env) []string {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close() // accepts, speaks no TLS
				}
			}()
			return []string{"--gateway", l.Addr().String()}
		}, "gateway TLS", exitUnreachable, []string{"TLS through the gateway", "ratings.bookinfo"}, "AUTO_PASSTHROUGH",
			[]string{"mesh CA"}}, // looked for on the same host, port 15012
		{"identity forbidden", func(t *testing.T, e *env) []string {
			return []string{"--identity", "dev/bob"}
		}, "identity", exitPermission, []string{"you may not create tokens for service account bob in dev"}, "kubectl auth can-i create serviceaccounts/bob --subresource=token -n dev", nil},
		{"hosts file read-only", func(t *testing.T, e *env) []string {
			if out, err := exec.Command("chattr", "+i", e.hostsFile).CombinedOutput(); err != nil {
				t.Fatalf("chattr +i: %v %s", err, out)
			}
			t.Cleanup(func() { exec.Command("chattr", "-i", e.hostsFile).Run() })
			return nil
		}, "hosts file", exitEnvironment, []string{"is not writable by you"}, "--hosts-file", nil},
		{"skewed clock", func(t *testing.T, e *env) []string {
			return []string{"--test-clock-skew", "-10m"}
		}, "clock", exitEnvironment, []string{"behind the API server's", "would look not yet valid"}, "synchronise the clock", nil},
		{"credential plugin fails", func(t *testing.T, e *env) []string {
			cfg, err := clientcmd.LoadFromFile(e.kubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			user := cfg.Contexts[cfg.CurrentContext].AuthInfo
			cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
				Command: "sh", Args: []string{"-c", "echo 'session expired: log in again' >&2; exit 1"},
				APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
			}}
			e.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
			if err := clientcmd.WriteToFile(*cfg, e.kubeconfig); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "kube credentials", exitEnvironment, []string{"credential plugin failed"}, "login", nil},
		{"unknown service", func(t *testing.T, e *env) []string {
			return []string{"ratngs.bookinfo"}
		}, "services", exitUsage, []string{"did you mean ratings.bookinfo"}, "meshjoin services", nil},
		{"address in use", func(t *testing.T, e *env) []string {
			addr, err := hosts.Allocator{Prefix: netip.MustParsePrefix(doctorRange)}.AddressFor("ratings.bookinfo", nil)
			if err != nil {
				t.Fatal(err)
			}
			l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 9080).String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return nil
		}, "addresses", exitConflict, []string{"9080, needed for your services, is in use by another program"}, "--address-range", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.extraEnv = []string{"MESHJOIN_CONFIG=", "MESHJOIN_IDENTITY="}
			extra := c.setup(t, e)
			args := append(extra, "ratings.bookinfo")
			code, rep, stderr := e.runDoctor(e.doctorArgs(args...)...)
			if rep.OK || code != c.code {
				t.Errorf("exit %d (want %d), ok %v:\n%s", code, c.code, rep.OK, stderr)
			}
			if !strings.Contains(stderr, "Next: fix what is marked") {
				t.Errorf("no Next: hint:\n%s", stderr)
			}
			var failed []string
			for _, r := range rep.Checks {
				if r.Verdict == doctor.Fail {
					failed = append(failed, r.Name)
				}
			}
			r := verdicts(rep)[c.check]
			if r.Verdict != doctor.Fail || !slices.Equal(failed, append([]string{c.check}, c.also...)) {
				t.Fatalf("check %q: %+v; failed: %v (want it and %v)", c.check, r, failed, c.also)
			}
			for _, w := range c.words {
				if !strings.Contains(r.Detail, w) {
					t.Errorf("%s: detail %q does not say %q", c.check, r.Detail, w)
				}
			}
			if !strings.Contains(r.Fix, c.fix) {
				t.Errorf("%s: fix %q does not say %q", c.check, r.Fix, c.fix)
			}
		})
	}
}

// The project file gives doctor its identity and services, like join.
func TestDoctorReadsTheProjectFile(t *testing.T) {
	e := newEnv(t)
	e.writeProject("identity: dev/bob\nservices: [reviews.bookinfo]\n", "")
	code, rep, _ := e.runDoctor(e.args("doctor", "-o", "json", "--envoy-image", testbed.EnvoyImage, "--hosts-file", e.hostsFile, "--sudo", "never", "--address-range", doctorRange)...)
	v := verdicts(rep)
	if code != exitPermission || v["identity"].Verdict != doctor.Fail || !strings.Contains(v["services"].Detail, "reviews.bookinfo") {
		t.Errorf("exit %d, %+v", code, rep)
	}
}
