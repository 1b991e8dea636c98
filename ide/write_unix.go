//go:build !windows

package ide

import (
	"os"

	"github.com/google/renameio/v2"
)

// writeFileAtomic replaces path so that a reader sees the old file or the new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return renameio.WriteFile(path, data, perm)
}
