package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/meshjoin/meshjoin/certs"
	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/helper"
	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/ide"
	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

// Exit codes: scripts and IDE launch configurations can tell the kinds of failure apart.
const (
	exitOK          = 0
	exitFailure     = 1 // anything not classified below
	exitUsage       = 2 // bad flags or arguments, unknown service
	exitPermission  = 3 // RBAC forbids something, or the CA refused the identity
	exitUnreachable = 4 // gateway, CA, Docker or cluster cannot be reached
	exitConflict    = 5 // another session, an address in use, a hosts file we must not touch
	exitEnvironment = 6 // missing image, unwritable hosts file, a kubeconfig problem
)

// classify maps an error to an exit code and the next step for the user.
func classify(err error) (int, string) {
	var (
		forbidden *mesh.ErrForbidden
		noGateway *mesh.ErrNoGateway
		unknown   *mesh.ErrUnknownService
		ambiguous *mesh.ErrAmbiguousService
		usage     *session.UsageError
		already   *session.AlreadyJoinedError
		strange   *hosts.StrangeFileError
		inUse     *envoy.AddressInUseError
		missing   *envoy.AddressUnavailableError
		cfgErr    *configError
		hostsErr  *session.HostsFileError
		flagErr   *FlagError
		ideFile   *ide.InvalidFileError
		ideConfig *ide.UnknownConfigurationError
		engine    *envoy.EngineError
		denied    *envoy.AddressPermissionError
	)
	var coded exitCoder
	var helperErr *helper.Error
	switch {
	case errors.As(err, &flagErr):
		return exitUsage, flagErr.Hint()
	case errors.As(err, &helperErr):
		return helperExit(helperErr)
	case errors.As(err, &coded):
		return coded.ExitCode(), cmp.Or(coded.NextStep(), hintUnknown)
	case errors.As(err, &usage):
		return exitUsage, cmp.Or(usage.Hint, hintUnknown)
	case errors.As(err, &unknown), errors.As(err, &ambiguous):
		return exitUsage, "`meshjoin services` lists what can be joined"
	case errors.Is(err, certs.ErrInvalidIdentity):
		return exitUsage, "give the identity as <namespace>/<serviceaccount>, e.g. --identity dev/alice"
	case errors.As(err, &forbidden):
		return exitPermission, "check with: " + forbidden.CanI() + "\nand ask your cluster admin for the RBAC in docs/rbac.yaml"
	case errors.Is(err, certs.ErrForbidden), errors.Is(err, certs.ErrServiceAccountNotFound):
		return exitPermission, "ask your cluster admin for the RBAC in docs/rbac.yaml, or choose another --identity"
	case errors.Is(err, certs.ErrCARefused), errors.Is(err, certs.ErrCAInvalidRequest):
		return exitPermission, caHint(err, "the mesh CA said no: see its message above (a lower --cert-ttl helps when the TTL is too long)")
	case errors.As(err, &noGateway):
		return exitEnvironment, "expose an east-west gateway (AUTO_PASSTHROUGH on 15443; see the README), or pass --gateway host:port"
	case errors.Is(err, mesh.ErrStale):
		return exitUnreachable, "the services already joined keep working; retry once the cluster API answers (`kubectl get --raw /version`); `meshjoin status` says when the catalogue is fresh again"
	case errors.Is(err, session.ErrGatewayUnreachable):
		return exitUnreachable, "check the address (--gateway overrides it) and that this machine can reach it (VPN, firewall)"
	case errors.Is(err, certs.ErrCAUnreachable), errors.Is(err, certs.ErrCAUntrusted):
		return exitUnreachable, caHint(err, "the CA is reached through the gateway's port 15012 (Istio's expose-istiod sample); --ca-address overrides it")
	case errors.Is(err, envoy.ErrDockerContext):
		return exitEnvironment, envoy.DockerContextNext
	case errors.As(err, &engine):
		return exitUnreachable, engine.Next()
	case errors.Is(err, envoy.ErrDockerUnreachable):
		return exitUnreachable, "start Docker or point the docker CLI at a running engine (`docker context ls`, DOCKER_CONTEXT, DOCKER_HOST), or run Envoy without it: --runtime native (needs `envoy` on PATH)"
	case errors.Is(err, session.ErrNoConfigContact):
		return exitUnreachable, "with --envoy-network published the container must reach this machine as host.docker.internal (Docker Desktop does this); on a Linux engine use --envoy-network host"
	case errors.Is(err, envoy.ErrRootlessDocker):
		return exitEnvironment, "run Envoy as a process of yours: --runtime native (needs `envoy` on PATH, or --envoy-path)"
	case errors.Is(err, envoy.ErrImageUnavailable):
		return exitEnvironment, "pull or load the image (`docker pull envoyproxy/envoy:v1.40.0`), or name another with --envoy-image"
	case errors.As(err, &inUse) && inUse.Listener == envoy.ProxyListenerName:
		return exitConflict, "something else listens there: stop it, or give the proxy another port with --proxy-port"
	case errors.As(err, &inUse), errors.Is(err, envoy.ErrAddressInUse):
		return exitConflict, "something else listens there: stop it, or choose other addresses with --address-range"
	case errors.As(err, &denied) && denied.ByEnvoy:
		return exitPermission, "the native runtime's Envoy runs as you: use the Docker runtime (--runtime docker, whose Envoy binds as the container's root), run meshjoin as root, or join services on ports from 1024 up"
	case errors.Is(err, envoy.ErrAddressPermission):
		return exitPermission, "with --envoy-network published meshjoin itself listens on the services' addresses: install the privileged helper once (`sudo meshjoin helper install`), which opens ports below 1024 for it; or run meshjoin as root, or join services on ports from 1024 up"
	case errors.As(err, &missing):
		host, _, _ := strings.Cut(missing.Address, ":")
		return exitEnvironment, helper.MissingAliasHint(host)
	case errors.As(err, &already):
		return exitConflict, "leave it first (`meshjoin leave`), or use another --state-dir"
	case errors.As(err, &strange):
		return exitConflict, "fix the hosts file by hand (meshjoin changes nothing in it until then), or use --hosts-file"
	case errors.As(err, &hostsErr):
		return exitEnvironment, "give --hosts-file an existing regular file you may write (the system's is written through the helper, `sudo meshjoin helper install` once, or through sudo: --sudo auto)"
	case errors.As(err, &cfgErr):
		return exitEnvironment, "check --kubeconfig / $KUBECONFIG and --context (`kubectl config get-contexts`)"
	case errors.As(err, &ideFile):
		return exitEnvironment, "fix that file (nothing was written), or move it aside and run this again"
	case errors.As(err, &ideConfig):
		return exitUsage, "give one of the names listed with --configuration, or none to copy them all"
	case errors.Is(err, hosts.ErrNotWritable):
		return exitEnvironment, "install the privileged helper once (`sudo meshjoin helper install`), or run as a user who may sudo (--sudo auto), or give --hosts-file a file you may write"
	}
	return exitFailure, hintUnknown
}

// hintUnknown is the next step for an error no case above knows: every error prints one.
const hintUnknown = "run again with --verbose for every step; docs/troubleshooting.md lists the known failures"

// exitCoder is an error that knows its exit code and next step: the daemon's replies, and the
// background commands' own.
type exitCoder interface {
	error
	ExitCode() int
	NextStep() string
}

// caHint is the next step the mesh CA error worked out for itself, else general.
func caHint(err error, general string) string {
	var caErr *certs.CAError
	if errors.As(err, &caErr) && caErr.Hint != "" {
		return caErr.Hint
	}
	return general
}

// reportError prints err with its next step and returns the exit code.
func reportError(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	code, hint := classify(err)
	if err.Error() == "" { // a status passed on (run's command), already explained
		return code
	}
	fmt.Fprintf(w, "Error: %v\nNext: %s\n", err, hint)
	return code
}
