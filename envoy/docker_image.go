package envoy

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
)

// HasImage reports whether the image ref is on the engine already (a join pulls it otherwise).
func (d *DockerRuntime) HasImage(ctx context.Context, ref string) (bool, error) {
	_, err := d.cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("inspect envoy image %s: %w", ref, d.engineError(err))
}
