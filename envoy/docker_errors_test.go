package envoy

import (
	"errors"
	"strings"
	"testing"
)

// The next step of an unreachable engine follows what chose it: DOCKER_HOST, the built-in
// default, or a named docker context.
func TestEngineErrorNext(t *testing.T) {
	for _, c := range []struct {
		ep   DockerEndpoint
		want []string
	}{
		{DockerEndpoint{Context: "default", Source: "DOCKER_HOST", Host: "tcp://10.0.0.1:2375"}, []string{"tcp://10.0.0.1:2375", "unset DOCKER_HOST", "--runtime native"}},
		{DockerEndpoint{Context: "default", Source: "default", Host: "unix:///var/run/docker.sock"}, []string{"start Docker", "docker context use", "--runtime native"}},
		{DockerEndpoint{Context: "colima", Source: "DOCKER_CONTEXT", Host: "unix:///Users/x/.colima/docker.sock"}, []string{`docker context "colima" points at`, "docker context inspect colima", "docker context use default", "--runtime native"}},
	} {
		err := error(&EngineError{Endpoint: c.ep, Reason: "no socket at /x"})
		if !errors.Is(err, ErrDockerUnreachable) || !strings.Contains(err.Error(), c.ep.Host) || !strings.Contains(err.Error(), `docker context "`+c.ep.Context+`"`) {
			t.Errorf("%+v: error %q does not name the endpoint and context", c.ep, err)
		}
		next := err.(*EngineError).Next()
		for _, w := range c.want {
			if !strings.Contains(next, w) {
				t.Errorf("%+v: next step %q lacks %q", c.ep, next, w)
			}
		}
	}
}
