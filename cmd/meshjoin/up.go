package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/session"
)

// backgroundOptions are the flags of the commands that start or reuse the background session.
type backgroundOptions struct {
	wait time.Duration
	idle time.Duration
}

// defaultWait is how long up and run wait for the session to be ready.
const defaultWait = 2 * time.Minute

func newUpCmd(g *globals) *cobra.Command {
	o := &joinOptions{}
	b := &backgroundOptions{}
	cmd := &cobra.Command{
		Use:   "up [SERVICE...]",
		Short: "Start the background session (or add services to the running one); returns once every name answers",
		Long: "up starts a session in a background process of its own (it survives this terminal), or reuses the running one and " +
			"joins the services named too. It returns when the certificate is issued, Envoy serves, the hosts block is written and " +
			"every joined name resolves, printing one line: `meshjoin: ready: N services (SESSION)`. `meshjoin down` ends it.",
		Example: `  meshjoin up ratings.bookinfo --identity dev/alice --wait 60s
  meshjoin up reviews.bookinfo      # adds a service to the running session`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.dryRun {
				return previewBackground(cmd.Context(), g, o, args)
			}
			c, st, err := ensureSession(cmd.Context(), cmd, g, o, b, args, true)
			if err != nil {
				return err
			}
			c.Close()
			printReady(g.streams.Out, st)
			return nil
		},
	}
	addSessionFlags(cmd.Flags(), o, "service account to act as, <namespace>/<name> ($MESHJOIN_IDENTITY)")
	addBackgroundFlags(cmd.Flags(), b)
	addDryRunFlag(cmd.Flags(), o)
	return cmd
}

// previewBackground is up's and run's --dry-run: what a join of the services (named, or the
// project file's) would do, printed like join --dry-run. Nothing starts, and a running
// session is neither asked nor changed.
func previewBackground(ctx context.Context, g *globals, o *joinOptions, args []string) error {
	services, err := o.servicesOrFile(args)
	if err != nil {
		return err
	}
	if o.identity == "" && o.meshFile == "" { // a mesh file may name the identity
		return errNoIdentity
	}
	cfg, err := o.sessionConfig(g, services)
	if err != nil {
		return err
	}
	return printDryRun(ctx, g.streams, cfg)
}

func addBackgroundFlags(f *pflag.FlagSet, b *backgroundOptions) {
	f.DurationVar(&b.wait, "wait", defaultWait, "how long to wait for the session to be ready (exit 4 after)")
	addIdleFlag(f, &b.idle)
	addProfileFlag(f)
}

func addIdleFlag(f *pflag.FlagSet, idle *time.Duration) {
	f.DurationVar(idle, "idle-timeout", 0, "end a session started here after this long without clients or traffic (0: never)")
}

// addProfileFlag accepts --profile where the project file's flags (meshjoin.yaml) do not
// define it yet.
func addProfileFlag(f *pflag.FlagSet) {
	if f.Lookup("profile") == nil {
		f.String("profile", "", "the profile of meshjoin.yaml to use")
	}
}

// printReady is the one line IDEs wait for; it is printed once per command.
func printReady(w io.Writer, st daemon.Status) {
	fmt.Fprintf(w, "meshjoin: ready: %d services (%s)\n", len(st.Services), st.State.ID)
}

var errNoIdentity = &session.UsageError{Msg: "no identity given", Hint: "pass --identity <namespace>/<serviceaccount> (or set MESHJOIN_IDENTITY)"}

// ensureSession makes the background session run with services joined (starting it when
// none runs; keep: only down ends it) and waits until every joined name resolves.
func ensureSession(ctx context.Context, cmd *cobra.Command, g *globals, o *joinOptions, b *backgroundOptions, services []string, keep bool) (*daemon.Client, daemon.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	if len(services) == 0 {
		services = o.project.Services // meshjoin.yaml's (or its --profile's)
	}
	services = qualify(services, g.namespace)
	c := daemon.NewClient(g.stateDir)
	if err := sameSettings(ctx, cmd, o, c); err != nil {
		c.Close()
		return nil, daemon.Status{}, err
	}
	req := daemon.ServicesRequest{Add: services, Keep: keep}
	st, err := c.AddServices(ctx, req)
	if errors.Is(err, daemon.ErrNotRunning) {
		st, err = startBackground(ctx, cmd, g, o, c, req)
	}
	if err == nil {
		err = waitResolvable(ctx, st)
	}
	if err != nil {
		c.Close()
		return nil, st, timedOut(ctx, c, b.wait, err)
	}
	return c, st, nil
}

// sameSettings refuses to reuse a running session whose mode or identity differs from one this
// command sets explicitly: joining into it would quietly ignore the flag. Only explicit flags
// count (an `up` without them reuses whatever runs), so the warm path asks for nothing extra.
func sameSettings(ctx context.Context, cmd *cobra.Command, o *joinOptions, c *daemon.Client) error {
	modeSet, identitySet := cmd.Flags().Changed("mode"), cmd.Flags().Changed("identity")
	if !modeSet && !identitySet {
		return nil
	}
	st, err := c.Status(ctx)
	if err != nil || st.State == nil {
		return nil // none runs (or it is starting): the start uses the flags
	}
	mode := cmp.Or(st.State.Mode, session.ModeHosts)
	if modeSet && o.mode != mode {
		return &session.UsageError{Msg: fmt.Sprintf("the background session (%s) runs in %s mode, not %s", st.State.ID, mode, o.mode),
			Hint: "drop --mode to join into it, or end it first: `meshjoin down`"}
	}
	if ns, sa, ok := strings.Cut(o.identity, "/"); identitySet && ok && !strings.HasSuffix(st.State.Identity, "/ns/"+ns+"/sa/"+sa) {
		return &session.UsageError{Msg: fmt.Sprintf("the background session (%s) runs as %s, not %s", st.State.ID, st.State.Identity, o.identity),
			Hint: "drop --identity to join into it, or end it first: `meshjoin down`"}
	}
	return nil
}

// startBackground starts `meshjoin serve` in a session of its own (so closing the terminal
// does not end it), logging to the state directory, and waits for its first services. One
// start at a time: a second up or run waits, then finds the first's daemon.
func startBackground(ctx context.Context, cmd *cobra.Command, g *globals, o *joinOptions, c *daemon.Client, req daemon.ServicesRequest) (daemon.Status, error) {
	if len(req.Add) == 0 {
		return daemon.Status{}, &session.UsageError{Msg: "no session is running and no services were named",
			Hint: "name the services to join (`meshjoin up ratings.bookinfo`), or list them in meshjoin.yaml (`meshjoin init` writes one)"}
	}
	if o.identity == "" && o.meshFile == "" { // a mesh file may name the identity
		return daemon.Status{}, errNoIdentity
	}
	if err := os.MkdirAll(g.stateDir, 0o700); err != nil {
		return daemon.Status{}, fmt.Errorf("create state directory: %w", err)
	}
	lock := flock.New(filepath.Join(g.stateDir, "start.lock"))
	if _, err := lock.TryLockContext(ctx, 20*time.Millisecond); err != nil {
		return daemon.Status{}, fmt.Errorf("wait for another meshjoin starting a session: %w", err)
	}
	defer lock.Unlock()
	if st, err := c.AddServices(ctx, req); !errors.Is(err, daemon.ErrNotRunning) {
		return st, err // started by another up or run meanwhile
	}
	exited, err := spawnServe(cmd, g, req)
	if err != nil {
		return daemon.Status{}, err
	}
	for {
		_, err := c.Status(ctx)
		if !errors.Is(err, daemon.ErrNotRunning) {
			break
		}
		select {
		case res := <-exited:
			return daemon.Status{}, res
		case <-ctx.Done():
			return daemon.Status{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return c.AddServices(ctx, req)
}

// spawnServe starts the daemon with this command's flags; exited delivers its failure
// should it exit before serving.
func spawnServe(cmd *cobra.Command, g *globals, req daemon.ServicesRequest) (<-chan error, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := daemon.LogPath(g.stateDir)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the session log: %w", err)
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, io.SeekEnd)
	child := exec.Command(self, serveArgs(cmd, req)...)
	child.Stdout, child.Stderr = logf, logf // stdin: /dev/null
	child.SysProcAttr = detached()
	if err := child.Start(); err != nil {
		return nil, fmt.Errorf("start the background session: %w", err)
	}
	fmt.Fprintf(g.streams.Err, "meshjoin: starting a background session (pid %d, log %s)\n", child.Process.Pid, logPath)
	exited := make(chan error, 1)
	go func() {
		child.Wait()
		exited <- serveFailure(logPath, offset, child.ProcessState.ExitCode())
	}()
	return exited, nil
}

// serveArgs are the daemon's arguments: the flags given to this command that serve knows too.
func serveArgs(cmd *cobra.Command, req daemon.ServicesRequest) []string {
	serve, _, err := cmd.Root().Find([]string{"serve"})
	args := []string{"serve"}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err != nil || serve.Flags().Lookup(f.Name) == nil && cmd.Root().PersistentFlags().Lookup(f.Name) == nil {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	if req.Keep {
		args = append(args, "--keep")
	}
	if !slices.Contains(args, "--verbose=true") {
		args = append(args, "--verbose")
	}
	return append(append(args, "--"), req.Add...)
}

// serveFailure is why the daemon exited before serving: its last error and next step from
// the log, with its exit code.
func serveFailure(logPath string, offset int64, code int) error {
	e := &daemon.RemoteError{ErrorBody: daemon.ErrorBody{Message: "the background session exited at once; see " + logPath, Code: code}}
	if code == exitOK {
		e.Code = exitFailure
	}
	b, err := os.ReadFile(logPath)
	if err != nil || int64(len(b)) < offset {
		return e
	}
	sc := bufio.NewScanner(bytes.NewReader(b[offset:]))
	for sc.Scan() {
		if msg, ok := strings.CutPrefix(sc.Text(), "Error: "); ok {
			e.Message, e.Hint = msg, ""
		} else if hint, ok := strings.CutPrefix(sc.Text(), "Next: "); ok {
			e.Hint = hint
		}
	}
	return e
}

// waitResolvable waits until every joined name resolves to its address: through the system
// resolver when the session writes the system's hosts file, else (tests, --hosts-file) as
// the file the session was told to write says, read the way a resolver reads it.
func waitResolvable(ctx context.Context, st daemon.Status) error {
	if st.State == nil {
		return errors.New("the session reported no state")
	}
	file := st.State.HostsFile
	system := file == "" || file == hosts.SystemPath()
	for {
		missing := unresolved(ctx, st.State.Services, system, file)
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			where := "through the system resolver"
			if !system {
				where = "in " + file
			}
			return &waitError{what: fmt.Sprintf("%s to resolve %s", strings.Join(missing, ", "), where)}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func unresolved(ctx context.Context, svcs []session.JoinedService, system bool, file string) (missing []string) {
	var table map[string]netip.Addr
	if !system {
		table = readHostsTable(file)
	}
	for _, js := range svcs {
		want, err := netip.ParseAddr(js.Addr)
		if err != nil {
			continue
		}
		for _, name := range js.Names {
			if system {
				addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", name)
				// The resolver may answer IPv4-mapped IPv6 (::ffff:127.77.0.1).
				if err != nil || !slices.ContainsFunc(addrs, func(a netip.Addr) bool { return a.Unmap() == want }) {
					missing = append(missing, name)
				}
			} else if table[strings.ToLower(name)] != want {
				missing = append(missing, name)
			}
		}
	}
	return missing
}

// readHostsTable maps each name to the first address a hosts file gives it (as resolvers do).
func readHostsTable(path string) map[string]netip.Addr {
	out := map[string]netip.Addr{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for line := range strings.Lines(string(b)) {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, name := range f[1:] {
			if _, ok := out[strings.ToLower(name)]; !ok {
				out[strings.ToLower(name)] = ip
			}
		}
	}
	return out
}

// waitError is a session not ready in time: it says what was still awaited (exit 4).
type waitError struct {
	what  string
	after time.Duration
}

func (e *waitError) Error() string {
	return fmt.Sprintf("not ready after %s: waiting for %s", e.after, e.what)
}
func (e *waitError) ExitCode() int { return exitUnreachable }
func (e *waitError) NextStep() string {
	return "the session keeps trying in the background: `meshjoin status` shows it, `meshjoin down` ends it; a longer --wait waits more"
}

// timedOut turns a deadline into a waitError naming what was awaited; other errors pass.
func timedOut(ctx context.Context, c *daemon.Client, wait time.Duration, err error) error {
	var we *waitError
	if errors.As(err, &we) {
		we.after = wait
		return we
	}
	if ctx.Err() == nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	what := "the background session to answer"
	qctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if st, serr := c.Status(qctx); serr == nil {
		what = "the session to start"
		if st.Daemon.Step != "" {
			what += " (step: " + st.Daemon.Step + ")"
		}
		if st.Ready() {
			what = "the services to be added"
		}
	}
	return &waitError{what: what, after: wait}
}
