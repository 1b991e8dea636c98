package envoy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
)

// detectNetwork picks the mode for NetworkAuto. Docker Desktop runs containers in a VM whose
// "host" network is the VM's own, so listeners there would not be on the workstation.
func (d *DockerRuntime) detectNetwork(ctx context.Context) (NetworkMode, error) {
	if runtime.GOOS != "linux" {
		return NetworkPublished, nil
	}
	info, err := d.cli.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("docker info: %w", d.engineError(err))
	}
	if strings.Contains(info.OperatingSystem, "Docker Desktop") {
		return NetworkPublished, nil
	}
	if slices.Contains(info.SecurityOptions, "name=rootless") {
		// Its "host" network is rootlesskit's namespace, not this machine's, and its
		// host-gateway does not lead to this machine's loopback: neither mode works.
		return "", ErrRootlessDocker
	}
	return NetworkHost, nil
}

// ErrRootlessDocker marks a rootless Docker Engine, whose containers can neither share this
// machine's network nor reach its loopback.
var ErrRootlessDocker = errors.New("rootless Docker cannot put Envoy on this machine's loopback: its host network is a namespace of its own; run Envoy without Docker with --runtime native")

func networkName(sessionID string) string {
	return "meshjoin-" + unsafeName.ReplaceAllString(sessionID, "-")
}

// createNetwork gives the session a bridge network of its own, so no other container can
// reach Envoy's listeners or admin interface; only the published ports lead in. A network
// left by an earlier run of the same session is reused.
func (d *DockerRuntime) createNetwork(ctx context.Context, sessionID string) (string, error) {
	name := networkName(sessionID)
	created, err := d.cli.NetworkCreate(ctx, name, network.CreateOptions{
		Driver: "bridge",
		Labels: map[string]string{LabelManaged: "true", LabelSession: sessionID},
	})
	if err == nil {
		return created.ID, nil
	}
	if cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "already exists") {
		existing, ierr := d.cli.NetworkInspect(ctx, name, network.InspectOptions{})
		if ierr == nil && existing.Labels[LabelSession] == sessionID {
			return existing.ID, nil
		}
	}
	return "", fmt.Errorf("create network %s for envoy: %w", name, d.engineError(err))
}

func (d *DockerRuntime) removeNetwork(ctx context.Context, id string) error {
	err := d.cli.NetworkRemove(ctx, id)
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("remove envoy network %.12s: %w", id, d.engineError(err))
}

// removeNetworks removes the meshjoin networks whose session matches.
func (d *DockerRuntime) removeNetworks(ctx context.Context, match func(sessionID string) bool) error {
	list, err := d.cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))})
	if err != nil {
		return fmt.Errorf("list meshjoin networks: %w", d.engineError(err))
	}
	var errs []error
	for _, n := range list {
		if match(n.Labels[LabelSession]) {
			errs = append(errs, d.removeNetwork(ctx, n.ID))
		}
	}
	return errors.Join(errs...)
}

// publish puts the container on its session's network, publishes the admin port on
// 127.0.0.1 and each listener on its service's loopback address, and names the workstation
// HostAlias (Docker Desktop knows the name already; a Linux engine needs host-gateway).
func publish(cfg *container.Config, hostCfg *container.HostConfig, netName string, spec ProxySpec) {
	hostCfg.NetworkMode = container.NetworkMode(netName)
	hostCfg.ExtraHosts = []string{HostAlias + ":host-gateway"}
	cfg.ExposedPorts = nat.PortSet{}
	hostCfg.PortBindings = nat.PortMap{}
	bind := func(hostIP string, hostPort, containerPort uint32) {
		p := nat.Port(strconv.Itoa(int(containerPort)) + "/tcp")
		cfg.ExposedPorts[p] = struct{}{}
		hostCfg.PortBindings[p] = []nat.PortBinding{{HostIP: hostIP, HostPort: strconv.Itoa(int(hostPort))}}
	}
	bind("127.0.0.1", uint32(spec.AdminPort), uint32(spec.AdminPort))
	for _, p := range spec.Published {
		bind(p.HostIP.String(), p.HostPort, p.ContainerPort)
	}
}

// publishFailure matches Docker's ways of saying a published address cannot be bound: taken
// by another program ("listen tcp4 127.77.0.5:9080: bind: address already in use") or by
// another container ("Bind for 127.77.0.5:9080 failed: port is already allocated"), or not an
// address of this machine ("bind: can't assign requested address": macOS has only 127.0.0.1
// on lo0 until more are aliased).
var publishFailure = regexp.MustCompile(`(?:listen tcp4? |Bind for )([0-9.]+:[0-9]+)(?:: bind: (address already in use|can't assign requested address|cannot assign requested address)| failed: (port is already allocated))`)

// publishError turns a start failure on a published address into an *AddressInUseError or
// an *AddressUnavailableError naming the listener, or returns nil.
func publishError(err error, ports []PublishedPort) error {
	m := publishFailure.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	listener := "admin"
	for _, p := range ports {
		if p.addr() == m[1] {
			listener = p.Listener
		}
	}
	if strings.Contains(m[2], "assign requested address") {
		return &AddressUnavailableError{Listener: listener, Address: m[1]}
	}
	return &AddressInUseError{Listener: listener, Address: m[1]}
}

// ErrAddressUnavailable marks a listener address that does not exist on this machine.
var ErrAddressUnavailable = errors.New("address not available")

// AddressUnavailableError is a published address Docker could not bind because this machine
// does not have it.
type AddressUnavailableError struct {
	Listener string
	Address  string // host:port
}

func (e *AddressUnavailableError) Error() string {
	return fmt.Sprintf("listener %s: address %s is not an address of this machine (macOS has only 127.0.0.1 on its loopback interface until others are aliased)", e.Listener, e.Address)
}

// Is makes errors.Is(err, ErrAddressUnavailable) true.
func (e *AddressUnavailableError) Is(target error) bool { return target == ErrAddressUnavailable }
