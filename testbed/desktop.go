package testbed

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// DockerNetworkRange holds every network of the test Docker Engine: hack/start-docker.sh
// starts dockerd with its bridge and address pool there (RFC 2544's benchmarking range), so
// no test traffic goes to a private range that real networks use.
var DockerNetworkRange = netip.MustParsePrefix("198.18.0.0/15")

// EmulateDockerDesktop makes this Linux engine's containers reach the workstation the way
// Docker Desktop's do, for tests of envoy.NetworkPublished: a connection from a container to
// host.docker.internal (host-gateway, the engine's bridge address) lands on the
// workstation's loopback, where meshjoin's ADS server listens. Connections to the gateway's
// port go to the testbed's gateway instead, as they would reach a port-forwarded east-west
// gateway on Docker Desktop. Implemented as the DNAT rules Desktop's proxy amounts to, plus
// route_localnet; both are undone when t ends. Needs root.
func (tb *Testbed) EmulateDockerDesktop(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("emulating Docker Desktop's host.docker.internal needs root (iptables, sysctl); CI runs as root")
	}
	hostGateway := CheckDockerNetworks(t)

	const sysctl = "/proc/sys/net/ipv4/conf/all/route_localnet"
	old, err := os.ReadFile(sysctl)
	if err != nil {
		t.Fatal(err)
	}
	// Without route_localnet the kernel drops packets from a bridge rewritten to 127.0.0.0/8.
	if err := os.WriteFile(sysctl, []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(sysctl, old, 0o644) })

	gw := netip.MustParseAddrPort(tb.GatewayAddr())
	rules := [][]string{
		{"-d", hostGateway.String(), "-p", "tcp", "--dport", fmt.Sprint(gw.Port()), "-j", "DNAT", "--to-destination", gw.String()},
		{"-d", hostGateway.String(), "-p", "tcp", "-j", "DNAT", "--to-destination", "127.0.0.1"},
	}
	for i := len(rules) - 1; i >= 0; i-- { // inserted at the top: the gateway rule ends first
		rule := append(rules[i], "-m", "comment", "--comment", "meshjoin-test-docker-desktop")
		iptables(t, append([]string{"-I", "PREROUTING"}, rule...)...)
		t.Cleanup(func() { iptables(t, append([]string{"-D", "PREROUTING"}, rule...)...) })
	}
}

// CheckDockerNetworks fails t unless the engine's bridge and the networks it creates are in
// DockerNetworkRange, and returns the bridge's address (what host-gateway resolves to). Call
// it before a test sends traffic to a container's network.
func CheckDockerNetworks(t testing.TB) netip.Addr {
	t.Helper()
	addr := dockerBridgeGateway(t)
	checkDockerAddressPool(t)
	return addr
}

func dockerBridgeGateway(t testing.TB) netip.Addr {
	t.Helper()
	out := docker(t, "network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Gateway}} {{.Subnet}}{{end}}")
	fields := strings.Fields(out)
	if len(fields) == 0 {
		t.Fatalf("docker's bridge network has no gateway address: %q", out)
	}
	addr, err := netip.ParseAddr(fields[0])
	if err != nil || !DockerNetworkRange.Contains(addr) {
		t.Fatalf("docker's bridge is at %q, outside %s: restart dockerd with hack/start-docker.sh's flags so test traffic stays off private ranges", out, DockerNetworkRange)
	}
	return addr
}

// checkDockerAddressPool creates and removes a network to see where the engine puts the
// networks meshjoin creates.
func checkDockerAddressPool(t testing.TB) {
	t.Helper()
	name := fmt.Sprintf("meshjoin-test-pool-%d", os.Getpid())
	docker(t, "network", "create", "--label", "io.meshjoin.test=true", name)
	defer docker(t, "network", "rm", name)
	out := docker(t, "network", "inspect", name, "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}")
	p, err := netip.ParsePrefix(strings.TrimSpace(out))
	if err != nil || !DockerNetworkRange.Overlaps(p) || p.Bits() < DockerNetworkRange.Bits() {
		t.Fatalf("docker puts new networks in %q, outside %s: restart dockerd with hack/start-docker.sh's flags (--default-address-pool)", out, DockerNetworkRange)
	}
}

func docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func iptables(t testing.TB, args ...string) {
	t.Helper()
	full := append([]string{"-w", "-t", "nat"}, args...)
	if out, err := exec.Command("iptables", full...).CombinedOutput(); err != nil {
		t.Errorf("iptables %s: %v\n%s", strings.Join(full, " "), err, out)
	}
}
