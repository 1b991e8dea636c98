package helper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/internal/peercred"
)

// Server answers the helper's API. Requests may arrive concurrently; they are carried out one
// at a time (mu), which also keeps the log in the order things happened.
type Server struct {
	cfg *Config
	log *slog.Logger
	// hostsPath is the system hosts file. It is a field only so that the package's own tests
	// can use a temporary file; nothing outside the package can change it.
	hostsPath string
	// run executes an ifconfig command (tests record instead).
	run func(argv []string) error
	// aliasOS tells whether this OS needs loopback aliases (macOS); a field so that tests on
	// Linux can check the macOS path with run recording.
	aliasOS bool

	mu sync.Mutex
	// aliasOwners is who added each alias while this helper runs: one user may not remove,
	// or add again, another user's (root may). Forgotten on restart, like the aliases on reboot.
	aliasOwners map[netip.Addr]int
}

// NewServer serves cfg's rules on the system hosts file.
func NewServer(cfg *Config, log *slog.Logger) *Server {
	return &Server{cfg: cfg, log: log, hostsPath: hosts.SystemPath(), run: runCommand, aliasOS: hosts.NeedsAliases(runtime.GOOS), aliasOwners: map[netip.Addr]int{}}
}

const maxBody = 1 << 20

// Handler is the API, behind the peer check.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathHello, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, Hello{UID: callerUID(r), Range: s.cfg.Range, HostsFile: s.hostsPath, Aliases: hosts.NeedsAliases(runtime.GOOS)})
	})
	mux.HandleFunc("GET "+pathHosts, func(w http.ResponseWriter, r *http.Request) {
		reply, err := s.owner(callerUID(r), r.URL.Query().Get("session"))
		respond(w, reply, err)
	})
	mux.HandleFunc("POST "+pathHosts, post(s, s.applyHosts))
	mux.HandleFunc("POST "+pathAliases, post(s, s.aliases))
	mux.HandleFunc("POST "+pathListen, s.handleListen)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		err := refusal(KindRefused, "", "%s %s refused: the helper only edits meshjoin's hosts block and loopback aliases, and opens listening sockets in its range", r.Method, truncate(r.URL.Path))
		s.refused(r, err)
		respond(w, nil, err)
	})
	return s.allowPeer(mux)
}

type uidKey struct{}

// post is a POST handler that decodes a Req for act, and refuses (and logs) a body that does
// not decode as one.
func post[Req, Reply any](s *Server, act func(uid int, req Req) (Reply, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if err := readJSON(w, r, &req); err != nil {
			s.refused(r, err)
			respond(w, nil, err)
			return
		}
		reply, err := act(callerUID(r), req)
		respond(w, reply, err)
	}
}

func callerUID(r *http.Request) int { return r.Context().Value(uidKey{}).(int) }

// allowPeer lets through only callers the configuration allows, by their kernel-reported uid.
func (s *Server) allowPeer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := peercred.FromContext(r.Context())
		if p.Err != nil {
			err := refusal(KindPermission, "", "refused: cannot tell who is connecting: %v", p.Err)
			s.log.Warn("refused", "why", err.Message)
			respond(w, nil, err)
			return
		}
		if ok, why := s.cfg.Allows(p.UID); !ok {
			err := refusal(KindPermission, "ask an administrator to allow you: `sudo meshjoin helper install --users <you>`, or to add you to the helper's group",
				"refused: %s; the helper serves %s", why, s.cfg.Who())
			s.log.Warn("refused", "uid", p.UID, "path", r.URL.Path, "why", why)
			respond(w, nil, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), uidKey{}, p.UID)))
	})
}

func (s *Server) refused(r *http.Request, err error) {
	s.log.Warn("refused", "uid", callerUID(r), "path", truncate(r.URL.Path), "why", err.Error())
}

// owner reads whose block the hosts file holds.
func (s *Server) owner(uid int, session string) (*HostsOwner, error) {
	if err := checkSession(session); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := hosts.Open(s.hostsPath, OwnerTag(uid, session))
	if err != nil {
		return nil, failed(err)
	}
	defer f.Close()
	owner, found, err := f.Owner()
	if err != nil {
		return nil, failed(err)
	}
	reply := &HostsOwner{Found: found}
	if ouid, osession, ok := ParseOwnerTag(owner); ok && ouid == uid {
		reply.Session = osession
	} else {
		reply.Owner = owner
	}
	return reply, nil
}

// applyHosts makes the caller's block hold req.Entries. Another uid's block, or one written
// without the helper, is neither replaced nor removed (root excepted: it could edit the file
// anyway); the same uid's block of an earlier session is taken over, as a join does without
// the helper.
func (s *Server) applyHosts(uid int, req HostsRequest) (*HostsReply, error) {
	if err := checkSession(req.Session); err != nil {
		return nil, err
	}
	if err := checkEntries(s.cfg.Range, req.Entries); err != nil {
		s.log.Warn("refused", "uid", uid, "session", req.Session, "why", err.Error())
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tag := OwnerTag(uid, req.Session)
	f, err := hosts.Open(s.hostsPath, tag)
	if err != nil {
		return nil, failed(err)
	}
	defer f.Close()
	owner, found, err := f.Owner()
	if err != nil {
		return nil, failed(err)
	}
	if found && owner != tag && uid != 0 {
		if ouid, _, ok := ParseOwnerTag(owner); !ok || ouid != uid {
			err := otherOwner(owner)
			s.log.Warn("refused", "uid", uid, "session", req.Session, "why", err.Error())
			return nil, err
		}
	}
	rejected, err := f.Apply(req.Entries)
	if err != nil {
		return nil, failed(err)
	}
	if len(req.Entries) == 0 {
		s.log.Info("hosts block removed", "uid", uid, "session", req.Session, "file", s.hostsPath)
	} else {
		s.log.Info("hosts block written", "uid", uid, "session", req.Session, "file", s.hostsPath,
			"entries", describe(req.Entries), "left out", len(rejected))
	}
	return &HostsReply{Rejected: rejected}, nil
}

func otherOwner(owner string) *Error {
	if ouid, osession, ok := ParseOwnerTag(owner); ok {
		return refusal(KindConflict, "wait for that session to end, or ask uid "+strconv.Itoa(ouid)+" (or root) to run `meshjoin leave`",
			"the hosts block belongs to uid %d (session %s): one user cannot replace or remove another user's block", ouid, osession)
	}
	return refusal(KindConflict, "if its session is gone, `sudo meshjoin leave` (as the user who started it) or removing the block by hand clears it",
		"the hosts block (owner %q) was written without the helper: only root may replace or remove it", truncate(owner))
}

// aliases carries out an alias request on macOS; on Linux it is validated and does nothing.
func (s *Server) aliases(uid int, req AliasRequest) (*AliasReply, error) {
	if err := checkAliases(s.cfg.Range, req); err != nil {
		s.log.Warn("refused", "uid", uid, "why", err.Error())
		return nil, err
	}
	if !s.aliasOS {
		return &AliasReply{Note: "all of 127.0.0.0/8 is local on " + runtime.GOOS + ": no alias needed"}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range append(append([]netip.Addr{}, req.Add...), req.Remove...) {
		if owner, ok := s.aliasOwners[a]; ok && owner != uid && uid != 0 {
			err := refusal(KindConflict, "another user's session uses it: choose another --address-range, or wait for that session to end",
				"alias %s refused: uid %d added it", a, owner)
			s.log.Warn("refused", "uid", uid, "why", err.Message)
			return nil, err
		}
	}
	reply := &AliasReply{}
	for _, a := range req.Remove {
		if !hosts.Aliasable(a) {
			continue
		}
		argv := hosts.AliasRemoveCommand(a)
		// An alias already gone (a reboot, or a clean-up run twice) is not a failure.
		delete(s.aliasOwners, a)
		if err := s.run(argv); err != nil {
			s.log.Warn("alias removal failed", "uid", uid, "addr", a, "err", err)
			continue
		}
		reply.Ran = append(reply.Ran, argv)
		s.log.Info("loopback alias removed", "uid", uid, "addr", a)
	}
	for _, a := range req.Add {
		if !hosts.Aliasable(a) {
			continue
		}
		argv := hosts.AliasAddCommand(a)
		if err := s.run(argv); err != nil {
			return reply, refusal(KindFailed, "", "%s: %v", strings.Join(argv, " "), err)
		}
		s.aliasOwners[a] = uid
		reply.Ran = append(reply.Ran, argv)
		s.log.Info("loopback alias added", "uid", uid, "addr", a)
	}
	return reply, nil
}

func runCommand(argv []string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func describe(entries []hosts.Entry) string {
	var b strings.Builder
	for i, e := range entries {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %s", e.IP, strings.Join(e.Names, " "))
	}
	return b.String()
}

func failed(err error) *Error { return refusal(KindFailed, "", "%v", err) }

func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	// Unknown fields (a "path", say) are refused, not ignored: a request cannot name a file.
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return refusal(KindUsage, "", "bad request: %v", err)
	}
	return nil
}

func respond(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = failed(err)
		}
		w.WriteHeader(statusOf(e.Kind))
		json.NewEncoder(w).Encode(e.ErrorBody)
		return
	}
	json.NewEncoder(w).Encode(v)
}

func writeJSON(w http.ResponseWriter, v any) { respond(w, v, nil) }

func statusOf(kind string) int {
	switch kind {
	case KindPermission:
		return http.StatusForbidden
	case KindConflict:
		return http.StatusConflict
	case KindUsage:
		return http.StatusBadRequest
	case KindRefused:
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// Listen opens the helper's socket at path: its directory 0755 (created if missing), the
// socket 0666, since every request is authenticated by its peer's uid instead. A socket left
// by a helper that died is replaced; any other file there is an error.
func Listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket: remove it first", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("a helper already listens on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	l.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Serve answers on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ConnContext: peercred.ConnContext, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
