//go:build !windows

package atomicfile

import (
	"os"

	"github.com/google/renameio/v2"
)

// WriteFile replaces path with data. A new file gets perm; an existing one keeps its
// permissions (renameio.WriteFile's rule).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return renameio.WriteFile(path, data, perm)
}
