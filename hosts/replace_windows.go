package hosts

import "github.com/meshjoin/meshjoin/internal/atomicfile"

// replaceAtomic replaces path, which exists and keeps its permissions, with data through a
// synced temporary file renamed over it (renameio does not build on Windows).
func replaceAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644)
}
