package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/helper"
	"github.com/meshjoin/meshjoin/hosts"
)

// checkRuntime checks what runs Envoy: the Docker engine and the image, or the native binary.
func checkRuntime(ctx context.Context, s *state) Result {
	if s.env.Runtime == "native" {
		return checkNativeEnvoy(ctx, s.env.EnvoyPath)
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout*2)
	defer cancel()
	rt, err := envoy.NewDockerRuntime(ctx, envoy.DockerOptions{Network: envoy.NetworkMode(s.env.EnvoyNetwork)})
	var engine *envoy.EngineError
	switch {
	case errors.As(err, &engine):
		return fail(KindUnreachable, err.Error(), engine.Next())
	case errors.Is(err, envoy.ErrDockerContext):
		return fail(KindEnvironment, err.Error(), envoy.DockerContextNext)
	case errors.Is(err, envoy.ErrDockerUnreachable):
		return fail(KindUnreachable, err.Error(), "start Docker (`sudo systemctl start docker`; check DOCKER_HOST), or run Envoy without it: --runtime native (needs `envoy` on PATH)")
	case errors.Is(err, envoy.ErrRootlessDocker):
		return fail(KindEnvironment, err.Error(), "run Envoy as a process of yours: --runtime native (needs `envoy` on PATH, or --envoy-path)")
	case err != nil:
		return fail(KindEnvironment, err.Error(), "check the Docker engine (`docker info`), or --runtime native")
	}
	defer rt.Close()
	ok, err := rt.HasImage(ctx, s.env.EnvoyImage)
	if err != nil {
		return fail(KindUnreachable, err.Error(), "check the Docker engine (`docker info`)")
	}
	if !ok {
		return Result{Verdict: Warn, Detail: fmt.Sprintf("Docker answers through %s (%s network); image %s is not on this machine: the first join pulls it", rt.Endpoint(), rt.Network(), s.env.EnvoyImage),
			Fix: "pull it now (`docker pull " + s.env.EnvoyImage + "`), or name one that is present with --envoy-image"}
	}
	return pass(fmt.Sprintf("Docker answers through %s (%s network), image %s is present", rt.Endpoint(), rt.Network(), s.env.EnvoyImage))
}

func checkNativeEnvoy(ctx context.Context, path string) Result {
	bin, err := exec.LookPath(path)
	if err != nil {
		return fail(KindEnvironment, fmt.Sprintf("no Envoy binary %q: %v", path, err), "install Envoy (https://www.envoyproxy.io/docs/envoy/latest/start/install) and put it on PATH, give --envoy-path, or use --runtime docker")
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout*2)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return fail(KindEnvironment, fmt.Sprintf("%s --version failed: %v: %s", bin, err, bytes.TrimSpace(out)), "reinstall Envoy, or use --runtime docker")
	}
	version := strings.TrimSpace(string(out))
	if i := strings.LastIndex(version, "version: "); i >= 0 {
		version = strings.TrimSpace(version[i+len("version: "):])
	}
	return pass(fmt.Sprintf("%s (%s)", bin, version))
}

// checkHostsFile checks the hosts file can be written: by this user, or through sudo.
func checkHostsFile(ctx context.Context, s *state) Result {
	path := s.env.HostsFile
	if path == "" {
		path = hosts.SystemPath()
	}
	st, err := os.Stat(path)
	if err != nil {
		return fail(KindEnvironment, fmt.Sprintf("hosts file %s: %v", path, err), "give --hosts-file an existing regular file")
	}
	if !st.Mode().IsRegular() {
		return fail(KindEnvironment, fmt.Sprintf("hosts file %s is not a regular file", path), "give --hosts-file an existing regular file")
	}
	werr := checkWritable(path)
	if werr == nil {
		return pass(path + " is writable by you")
	}
	notWritable := fmt.Sprintf("%s is not writable by you (%v)", path, werr)
	if helperServes(ctx, path) {
		return pass(notWritable + "; written through the privileged helper")
	}
	if errors.Is(werr, syscall.EROFS) {
		return fail(KindEnvironment, notWritable+": the file system is read-only", "give --hosts-file a file on a writable file system")
	}
	if os.Geteuid() == 0 {
		return fail(KindEnvironment, notWritable+", even as root (immutable? `lsattr "+path+"`)", "make it writable (`chattr -i "+path+"`), or give --hosts-file a file you may write")
	}
	if s.env.Sudo == "never" {
		return fail(KindEnvironment, notWritable+", and --sudo never", "run as a user who may write it, let meshjoin use sudo (--sudo auto), or give --hosts-file a file you may write")
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		return fail(KindEnvironment, notWritable+", and there is no sudo", "run as root, or give --hosts-file a file you may write")
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sudo", "-n", "true").CombinedOutput()
	if err == nil {
		return pass(notWritable + "; written through sudo, which needs no password now")
	}
	if strings.Contains(string(out), "password is required") {
		return Result{Verdict: Warn, Detail: notWritable + "; written through sudo, which will ask for your password",
			Fix: "nothing, or run `sudo -v` first; --hosts-file with a file you may write avoids sudo"}
	}
	return fail(KindPermission, fmt.Sprintf("%s, and sudo refuses: %s", notWritable, strings.TrimSpace(string(out))),
		"ask for sudo rights, or give --hosts-file a file you may write")
}

// checkAddresses checks the loopback range and that the addresses of the services to join are
// free (or held by this user's running session).
func checkAddresses(_ context.Context, s *state) Result {
	prefix := s.env.AddressRange
	first, err := hosts.Allocator{Prefix: prefix}.AddressFor("", nil)
	if err != nil {
		return fail(KindUsage, err.Error(), "give --address-range a CIDR inside 127.0.0.0/8, e.g. 127.77.0.0/16")
	}
	if r := checkRangeOverlap(prefix.Masked()); r != nil {
		return *r
	}
	if len(s.planned) == 0 {
		// No services known: can this machine listen in the range at all (macOS needs aliases)?
		l, err := net.Listen("tcp", netip.AddrPortFrom(first, 0).String())
		if err != nil {
			return fail(KindEnvironment, fmt.Sprintf("cannot listen on %s in %s: %v", first, prefix, err),
				helper.MissingAliasHint(first.String()))
		}
		l.Close()
		return pass(fmt.Sprintf("%s: this machine can listen there", prefix))
	}
	ours := 0
	for _, ap := range s.planned {
		if s.env.Ours[ap] {
			ours++
			continue
		}
		l, err := net.Listen("tcp", ap.String())
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fail(KindConflict, fmt.Sprintf("%s, needed for your services, is in use by another program", ap),
					"stop it (`ss -ltnp | grep "+ap.Addr().String()+"` names it), or choose other addresses with --address-range")
			}
			return fail(KindEnvironment, fmt.Sprintf("cannot listen on %s: %v", ap, err),
				helper.MissingAliasHint(ap.Addr().String()))
		}
		l.Close()
	}
	what := fmt.Sprintf("the %d addresses your services need are", len(s.planned))
	if len(s.planned) == 1 {
		what = "the address your service needs is"
	}
	detail := fmt.Sprintf("%s: %s free", prefix, what)
	if ours > 0 {
		detail += " or held by your running session"
	}
	return pass(detail)
}
