package envoy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// EngineError is a Docker engine that does not answer. It names the endpoint and the docker
// context that led there (a user with several engines, or Colima stopped, must see which one
// was tried), and Next says what to do about it. It matches ErrDockerUnreachable.
type EngineError struct {
	Endpoint DockerEndpoint
	Reason   string // what is wrong at the endpoint, e.g. "no socket at /path"
}

func (e *EngineError) Error() string {
	return fmt.Sprintf("%s: %s: %s", ErrDockerUnreachable, e.Endpoint, e.Reason)
}

// Is makes errors.Is(err, ErrDockerUnreachable) hold.
func (e *EngineError) Is(target error) bool { return target == ErrDockerUnreachable }

// withoutDocker is the way around any engine problem.
const withoutDocker = "or run Envoy without Docker: --runtime native (needs `envoy` on PATH)"

// DockerContextNext is what to do about a docker context that cannot be used (ErrDockerContext).
const DockerContextNext = "check the context with `docker context inspect`, choose another (`docker context ls`, then `docker context use default` or DOCKER_CONTEXT=<name>) or set DOCKER_HOST; " + withoutDocker

// Next is the step that fixes the problem, by what chose the endpoint.
func (e *EngineError) Next() string {
	ep := e.Endpoint
	switch {
	case ep.Source == "DOCKER_HOST":
		return fmt.Sprintf("start Docker (the engine at %s), or unset DOCKER_HOST to use the docker CLI's current context (`docker context ls`); %s", ep.Host, withoutDocker)
	case ep.Context == defaultContextName:
		return "start Docker (`sudo systemctl start docker`, Docker Desktop, Colima, OrbStack...), or point the docker CLI at a running engine (`docker context ls`, `docker context use <name>`); " + withoutDocker
	default:
		return fmt.Sprintf("start the engine docker context %q points at (`docker context inspect %s`), or switch to one that runs (`docker context use default`, or DOCKER_CONTEXT=<name>); %s", ep.Context, ep.Context, withoutDocker)
	}
}

// unreachableReason says what is at host, which did not answer with err. The docker client
// reports every failed connection as "Cannot connect to the Docker daemon"; for a unix socket
// the file itself tells more.
func unreachableReason(host string, err error) string {
	if strings.Contains(err.Error(), "permission denied") {
		return "permission denied on the engine's socket: join the group that may use it (often `docker`), or use a context you may use"
	}
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return err.Error()
	}
	fi, serr := os.Stat(path)
	switch {
	case errors.Is(serr, fs.ErrNotExist):
		return fmt.Sprintf("no socket at %s: the engine is not running there", path)
	case serr == nil && fi.Mode()&fs.ModeSocket == 0:
		return fmt.Sprintf("%s is not a socket", path)
	case serr == nil:
		return fmt.Sprintf("nothing answers on the socket %s (connection refused: the engine stopped or crashed)", path)
	default:
		return err.Error()
	}
}
