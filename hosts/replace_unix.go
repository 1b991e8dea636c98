//go:build !windows

package hosts

import (
	"os"
	"path/filepath"
	"syscall"

	"github.com/google/renameio/v2"
)

// replaceAtomic writes a temporary file next to path with the same mode (and owner, when root),
// syncs it and renames it over path, so a reader sees the old file or the new one, never a part.
func replaceAtomic(path string, data []byte) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	pf, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)), renameio.WithExistingPermissions())
	if err != nil {
		return err
	}
	defer pf.Cleanup()
	if _, err := pf.Write(data); err != nil {
		return err
	}
	if err := chownLike(pf.File, fi); err != nil {
		return err
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return err
	}
	// Make the rename itself durable; failing to is no reason to report the edit as failed.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// chownLike gives the new file the old one's owner and group, so that /etc/hosts stays
// root:root (or root:wheel) rather than becoming the property of whoever ran meshjoin. Only root
// may give a file away; anyone else who can replace the file ends up owning the new one.
func chownLike(f *os.File, old os.FileInfo) error {
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return nil
	}
	return f.Chown(int(st.Uid), int(st.Gid))
}
