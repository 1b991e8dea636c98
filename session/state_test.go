package session

import (
	"os"
	"path/filepath"
	"testing"
)

// A meshjoin killed while writing the state file leaves the writer's temporary file; removing
// the state takes it too, so the state directory ends as it began.
func TestStoreRemoveTakesPartialWrites(t *testing.T) {
	dir := t.TempDir()
	st, err := newStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.write(&State{ID: "0123456789ab"}); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(dir, ".state.json2658940719")
	if err := os.WriteFile(partial, []byte(`{"id":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := st.remove(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{st.path(), partial} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", p, err)
		}
	}
}
