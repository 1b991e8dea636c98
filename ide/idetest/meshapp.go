package idetest

import (
	_ "embed"
	"os"
	"path/filepath"
)

//go:embed testdata/meshapp/main.go
var meshAppMain []byte

// WriteMeshApp writes the test program (a module of its own, standard library only) into dir:
// a service that prints its *_SERVICE_HOST variables and calls $MESHAPP_URL.
func WriteMeshApp(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/meshapp\n\ngo 1.26\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "main.go"), meshAppMain, 0o644)
}
