package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/internal/atomicfile"
	"github.com/meshjoin/meshjoin/mesh"
)

// State is what a running session has created, written after every step so that `leave` or
// the next `join` can undo it when the process died.
type State struct {
	ID          string    `json:"id"`
	PID         int       `json:"pid"`
	Started     time.Time `json:"started"`
	Context     string    `json:"context,omitempty"`
	Identity    string    `json:"identity,omitempty"`
	Gateway     string    `json:"gateway,omitempty"`
	Runtime     string    `json:"runtime,omitempty"`
	Mode        string    `json:"mode,omitempty"`      // hosts or proxy
	ProxyAddr   string    `json:"proxyAddr,omitempty"` // proxy mode: the forward proxy's 127.0.0.1:port
	Network     string    `json:"network,omitempty"`   // docker runtime: host or published
	ContainerID string    `json:"containerID,omitempty"`
	EnvoyPID    int       `json:"envoyPID,omitempty"`
	AdminAddr   string    `json:"adminAddr,omitempty"`
	// AdminToken opens the local Envoy's admin listener (for `meshjoin status`); this file
	// is 0600 in a 0700 directory. It is not the ADS secret, which never leaves memory.
	AdminToken   string `json:"adminToken,omitempty"`
	HostsFile    string `json:"hostsFile,omitempty"`
	HostsWritten bool   `json:"hostsWritten,omitempty"`
	// Aliases are the loopback aliases made for the services (macOS), removed on leave.
	Aliases      []string        `json:"aliases,omitempty"`
	Services     []JoinedService `json:"services,omitempty"`
	CertNotAfter time.Time       `json:"certNotAfter,omitzero"`
	Renewals     int             `json:"renewals,omitempty"`
	LastError    string          `json:"lastError,omitempty"`
	// RenewalTrouble is set while renewing the certificate fails (rotation.go).
	RenewalTrouble *RenewalTrouble `json:"renewalTrouble,omitempty"`
	// CatalogueStale is set while the cluster API does not answer (catalogue.go).
	CatalogueStale *CatalogueStale `json:"catalogueStale,omitempty"`
	Phase          string          `json:"phase"`
	Health                         // what the background work ran into (heal.go)
}

// JoinedService is one service reachable from this machine.
type JoinedService struct {
	Key   string   `json:"key"`   // name.namespace
	Names []string `json:"names"` // what resolves to Addr through the hosts file
	Addr  string   `json:"addr"`  // loopback address; "" in proxy mode
	// Proxy is the forward proxy's URL to reach it through, in proxy mode (http://127.0.0.1:15080).
	Proxy      string   `json:"proxy,omitempty"`
	Ports      []Port   `json:"ports"`
	Identities []string `json:"identities,omitempty"`
	Exact      bool     `json:"identitiesExact"`
	Warnings   []string `json:"warnings,omitempty"`
	// Unmapped are names of the service that the hosts file does not get, each with why:
	// another service owns it (decided as Istio does), it is reserved for this machine, or a
	// line of the user's own already resolves it.
	Unmapped []string `json:"unmapped,omitempty"`
	// GRPCJSON are the service's gRPC-JSON transcoding listeners (--grpc-json).
	GRPCJSON []GRPCJSONListener `json:"grpcJSON,omitempty"`
}

// unmappedFrom words the catalogue's host conflicts for JoinedService.Unmapped.
func unmappedFrom(conflicts []mesh.HostConflict) []string {
	var out []string
	for _, c := range conflicts {
		out = append(out, c.String())
	}
	return out
}

// noteRejected records the names the hosts file refused on the services that asked for them,
// and saves the state so that status shows them.
func (s *Session) noteRejected(rejected []hosts.Rejected) {
	if len(rejected) == 0 {
		return
	}
	s.mu.Lock()
	for _, r := range rejected {
		note := fmt.Sprintf("name %s not written: %s", r.Name, r.Reason)
		for i := range s.state.Services {
			js := &s.state.Services[i]
			if slices.ContainsFunc(js.Names, func(n string) bool { return strings.EqualFold(n, r.Name) }) && !slices.Contains(js.Unmapped, note) {
				js.Unmapped = append(js.Unmapped, note)
			}
		}
	}
	s.mu.Unlock()
	s.save()
}

// Port of a joined service.
type Port struct {
	Number   uint32 `json:"number"`
	Protocol string `json:"protocol"`
	Listener string `json:"listener"` // the Envoy listener name
	Cluster  string `json:"cluster"`  // the Envoy cluster name, for status
}

// Phases of a session.
const (
	PhaseJoining = "joining"
	PhaseJoined  = "joined"
	PhaseLeaving = "leaving"
)

// DefaultStateDir is $XDG_STATE_HOME/meshjoin, else ~/.local/state/meshjoin.
func DefaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "meshjoin")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "meshjoin-state")
	}
	return filepath.Join(home, ".local", "state", "meshjoin")
}

// store is the state directory: state.json, and session.lock held while a session runs.
type store struct {
	dir  string
	lock *flock.Flock
}

func newStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w", dir, err)
	}
	return &store{dir: dir, lock: flock.New(filepath.Join(dir, "session.lock"))}, nil
}

func (s *store) path() string { return filepath.Join(s.dir, "state.json") }

func (s *store) read() (*State, error) {
	b, err := os.ReadFile(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state file %s is damaged (%v): remove it after checking `docker ps` and your hosts file", s.path(), err)
	}
	return &st, nil
}

func (s *store) write(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.path(), b, 0o600)
}

func (s *store) remove() error {
	// A process killed while writing the state file leaves the atomic writer's temporary file
	// (".state.json<random>") beside it: it goes too.
	partial, _ := filepath.Glob(filepath.Join(s.dir, ".state.json*")) // the pattern is valid
	for _, p := range partial {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	err := os.Remove(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// alive reports whether a session process holds the lock.
func (s *store) alive() (bool, error) {
	probe := flock.New(s.lock.Path())
	ok, err := probe.TryLock()
	if err != nil {
		return false, err
	}
	if ok {
		// A probe's unlock error is moot: closing its descriptor, which Unlock does, frees it.
		_ = probe.Unlock()
		return false, nil
	}
	return true, nil
}
