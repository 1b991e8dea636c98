package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/meshjoin/meshjoin/hosts"
)

// hostsWriter edits our block of the hosts file: through the privileged helper when one
// serves this user, else directly, else through sudo. Only this one write is ever elevated,
// never the whole tool.
type hostsWriter interface {
	Apply([]hosts.Entry) ([]hosts.Rejected, error)
	Owner() (string, bool, error)
	Close() error
}

func newHostsWriter(path, owner string, elevate bool) (hostsWriter, error) {
	if w, err := viaHelper(path, owner, elevate); w != nil || err != nil {
		return w, err
	}
	if elevate {
		if path == "" {
			path = hosts.SystemPath()
		}
		if !isSystemHosts(path) {
			// hosts-apply writes the system hosts file and nothing else (it runs as root).
			return nil, &HostsFileError{Err: fmt.Errorf("hosts file %s: only the system hosts file (%s) is written with privileges: give --hosts-file a file you may write", path, hosts.SystemPath())}
		}
		if runtime.GOOS == "windows" {
			return nil, &HostsFileError{Err: fmt.Errorf("hosts file %s is not writable: run meshjoin from a terminal opened as Administrator, or give --hosts-file a file you may write", path)}
		}
		if !hasSudo() {
			return nil, &HostsFileError{Err: fmt.Errorf("hosts file %s is not writable and there is no sudo on PATH: install the privileged helper once (`sudo meshjoin helper install`), or give --hosts-file a file you may write", path)}
		}
		return &sudoHosts{path: path, owner: owner}, nil
	}
	f, err := hosts.Open(path, owner)
	if err != nil {
		return nil, &HostsFileError{Err: err}
	}
	return f, nil
}

// isSystemHosts reports whether path is the system hosts file (symlinks resolved).
func isSystemHosts(path string) bool {
	a, err1 := filepath.EvalSymlinks(path)
	b, err2 := filepath.EvalSymlinks(hosts.SystemPath())
	return err1 == nil && err2 == nil && a == b
}

// HostsRequest is what the hidden `meshjoin hosts-apply` command reads on stdin under sudo.
// It names no file: hosts-apply runs as root and writes the system hosts file only.
type HostsRequest struct {
	Owner   string        `json:"owner"`
	Entries []hosts.Entry `json:"entries"`
	// OwnerOnly asks for the current owner without changing anything.
	OwnerOnly bool `json:"ownerOnly,omitempty"`
}

// HostsResponse is its answer on stdout.
type HostsResponse struct {
	Rejected []hosts.Rejected `json:"rejected,omitempty"`
	Owner    string           `json:"owner,omitempty"`
	Found    bool             `json:"found,omitempty"`
	Error    string           `json:"error,omitempty"`
}

// ServeHostsRequest carries out one request on the system hosts file; it is what runs as root.
func ServeHostsRequest(req HostsRequest) HostsResponse {
	f, err := hosts.Open(hosts.SystemPath(), req.Owner)
	if err != nil {
		return HostsResponse{Error: err.Error()}
	}
	defer f.Close()
	if req.OwnerOnly {
		owner, found, err := f.Owner()
		if err != nil {
			return HostsResponse{Error: err.Error()}
		}
		return HostsResponse{Owner: owner, Found: found}
	}
	rej, err := f.Apply(req.Entries)
	if err != nil {
		return HostsResponse{Rejected: rej, Error: err.Error()}
	}
	return HostsResponse{Rejected: rej}
}

type sudoHosts struct{ path, owner string }

func (s *sudoHosts) run(req HostsRequest) (HostsResponse, error) {
	self, err := os.Executable()
	if err != nil {
		return HostsResponse{}, err
	}
	body, _ := json.Marshal(req)
	cmd := exec.Command("sudo", self, "hosts-apply")
	cmd.Stdin = bytes.NewReader(body)
	cmd.Stderr = os.Stderr // sudo's password prompt
	out, err := cmd.Output()
	if err != nil {
		return HostsResponse{}, fmt.Errorf("write %s through sudo: %w (install the privileged helper once, `sudo meshjoin helper install`, so that meshjoin never asks for sudo again; or pass --hosts-file with a file you can write)", s.path, err)
	}
	var resp HostsResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return HostsResponse{}, fmt.Errorf("write %s through sudo: unreadable answer: %w", s.path, err)
	}
	if resp.Error != "" {
		return resp, fmt.Errorf("%s", resp.Error)
	}
	return resp, nil
}

func (s *sudoHosts) Apply(entries []hosts.Entry) ([]hosts.Rejected, error) {
	resp, err := s.run(HostsRequest{Owner: s.owner, Entries: entries})
	return resp.Rejected, err
}

func (s *sudoHosts) Owner() (string, bool, error) {
	resp, err := s.run(HostsRequest{Owner: s.owner, OwnerOnly: true})
	return resp.Owner, resp.Found, err
}

func (s *sudoHosts) Close() error { return nil }
