package hosts

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var sequences = flag.Int("hosts.sequences", 1000, "random join/add/remove/crash/leave sequences TestHostsFileSequences runs (make fuzz runs many more)")

// TestHostsFileSequences is a property test: random sequences of what sessions do to a hosts
// file (join, add and remove services, crash, leave, the next session cleaning up after a
// crash or taking a stale block over), with the user editing the file between any two steps,
// over generated files (CRLF, no final newline, tabs, comments, long lines, bytes that are not
// UTF-8, a stale block of a session long gone). Every sequence must end with the user's bytes
// exactly as the user left them and no block. A failure names the seed that replays it.
func TestHostsFileSequences(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Thousands of small rewrites: on tmpfs when there is one (ext4 flushes a file rewritten
	// by truncation to disk, which under load costs far more than the test itself).
	if shm, err := os.MkdirTemp("/dev/shm", "meshjoin-hosts-"); err == nil {
		dir = shm
		t.Cleanup(func() { os.RemoveAll(shm) })
	}
	for i := range *sequences {
		seed := uint64(i) + 1
		if log, err := runSequence(filepath.Join(dir, fmt.Sprintf("hosts-%d", i%8)), seed); err != nil {
			t.Fatalf("seed %d: %v\nsteps:\n%s", seed, err, strings.Join(log, "\n"))
		}
	}
}

// sequenceWorld is one sequence's file, the model of the user's bytes, and the sessions.
type sequenceWorld struct {
	r       *rand.Rand
	path    string
	user    []byte // what the file must be once no block is left
	eol     string // the user's line ending
	live    *File  // the running session's open file, or nil
	entries []Entry
	crashed string // owner of a block a crashed session may have left
	serial  int
	log     []string
}

// fastOptions write by truncating in place: no fsync, no rename over the file (which ext4
// flushes to disk), thousands of times here; the editing under test is the same.
func fastOptions() options {
	o := testOptions(nil)
	o.replace = func(path string, data []byte) error { return os.WriteFile(path, data, 0o644) }
	return o
}

func runSequence(path string, seed uint64) ([]string, error) {
	w := &sequenceWorld{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), path: path}
	file := w.genFile()
	if err := os.WriteFile(path, file, 0o644); err != nil {
		return nil, err
	}
	defer func() {
		if w.live != nil {
			w.live.Close()
		}
	}()
	for range 4 + w.r.IntN(12) {
		if w.r.IntN(3) == 0 {
			if err := w.userEdit(); err != nil {
				return w.log, err
			}
		}
		applied := len(w.log)
		if err := w.step(); err != nil {
			return w.log, err
		}
		// Right after a session wrote (not after a crash: the user may have added a name
		// since, which the next write leaves out).
		if last := w.log[len(w.log)-1]; len(w.log) > applied && (strings.HasPrefix(last, "join") || strings.HasPrefix(last, "add") || strings.HasPrefix(last, "remove")) {
			if err := w.checkBlock(); err != nil {
				return w.log, err
			}
		}
	}
	if err := w.finish(); err != nil {
		return w.log, err
	}
	got, err := os.ReadFile(path)
	if err != nil {
		return w.log, err
	}
	if !bytes.Equal(got, w.user) {
		return w.log, fmt.Errorf("the file ended as\n%q\nwant the user's bytes\n%q", got, w.user)
	}
	return w.log, nil
}

// userLine is a line of the user's, without its line ending.
func (w *sequenceWorld) userLine() string {
	w.serial++
	switch w.r.IntN(9) {
	case 0:
		return fmt.Sprintf("# comment user%d with\ttabs  and  spaces", w.serial)
	case 1:
		return ""
	case 2:
		return fmt.Sprintf("10.%d.0.1\tuser%d.lan\t# trailing comment", w.r.IntN(250), w.serial)
	case 3:
		return fmt.Sprintf("  192.168.1.%d   user%d   alias%d ", w.r.IntN(250), w.serial, w.serial)
	case 4:
		return fmt.Sprintf("10.0.0.%d user%d %s", w.r.IntN(250), w.serial, strings.Repeat("x", 2000+w.r.IntN(3000)))
	case 5:
		return fmt.Sprintf("# user%d caf\xe9 \xff\xfe not UTF-8", w.serial)
	case 6:
		return fmt.Sprintf("10.9.9.9 svc%d.mesh user%d", w.r.IntN(6), w.serial) // a name a session wants: the user's wins
	case 7:
		return fmt.Sprintf("::1 user%d ip6-user%d", w.serial, w.serial)
	default:
		return fmt.Sprintf("127.0.0.1 localhost user%d", w.serial)
	}
}

// genFile makes the user's file, maybe with a stale block of a long-gone session spliced in
// at a line boundary; w.user is the file without that block.
func (w *sequenceWorld) genFile() []byte {
	w.eol = "\n"
	if w.r.IntN(3) == 0 {
		w.eol = "\r\n"
	}
	var lines []string
	for range w.r.IntN(8) {
		lines = append(lines, w.userLine())
	}
	body := strings.Join(lines, w.eol)
	if len(lines) > 0 && w.r.IntN(4) != 0 {
		body += w.eol // most files end with a line break; some do not
	}
	w.user = []byte(body)
	w.log = append(w.log, fmt.Sprintf("file %q", abbreviate(w.user)))
	if w.r.IntN(4) != 0 {
		return w.user
	}
	// A stale block, where a line starts.
	cut := 0
	if idx := indexesAfterEOL(w.user); len(idx) > 0 {
		cut = idx[w.r.IntN(len(idx))]
	}
	stale := string(render("stale1", []Entry{{IP: netip.MustParseAddr("127.77.9.9"), Names: []string{"old.mesh"}}}, w.eol, false))
	w.log = append(w.log, fmt.Sprintf("stale block at byte %d", cut))
	return []byte(string(w.user[:cut]) + stale + string(w.user[cut:]))
}

// indexesAfterEOL are the offsets at which a line starts: 0 and after each "\n".
func indexesAfterEOL(b []byte) []int {
	out := []int{0}
	for i, c := range b {
		if c == '\n' {
			out = append(out, i+1)
		}
	}
	return out
}

func abbreviate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + fmt.Sprintf("...(%d bytes)", len(b))
	}
	return string(b)
}

// userEdit changes the file behind meshjoin's back, outside the block, and the model with it.
func (w *sequenceWorld) userEdit() error {
	content, err := os.ReadFile(w.path)
	if err != nil {
		return err
	}
	hasBlock := bytes.Contains(content, []byte(beginPrefix))
	line := w.userLine() + w.eol
	switch w.r.IntN(3) {
	case 0: // a line at the top
		content = append([]byte(line), content...)
		w.user = append([]byte(line), w.user...)
		w.log = append(w.log, fmt.Sprintf("user: prepend %q", abbreviate([]byte(line))))
	case 1: // a line at the end; not right after a block that brought the user's last line break
		if hasBlock && len(w.user) > 0 && !bytes.HasSuffix(w.user, []byte("\n")) {
			return nil
		}
		content = append(content, line...)
		w.user = append(w.user, line...)
		w.log = append(w.log, fmt.Sprintf("user: append %q", abbreviate([]byte(line))))
	default: // change a word of theirs in place
		i := bytes.Index(w.user, []byte("user"))
		if i < 0 {
			return nil
		}
		word := w.user[i : i+4+bytes.IndexFunc(w.user[i+4:], func(r rune) bool { return r < '0' || r > '9' })]
		if bytes.IndexFunc(w.user[i+4:], func(r rune) bool { return r < '0' || r > '9' }) < 0 {
			word = w.user[i:]
		}
		word = bytes.Clone(word)
		repl := bytes.Replace(word, []byte("user"), []byte("EDIT"), 1)
		content = bytes.Replace(content, word, repl, 1)
		w.user = bytes.Replace(w.user, word, repl, 1)
		w.log = append(w.log, fmt.Sprintf("user: rename %q", word))
	}
	return os.WriteFile(w.path, content, 0o644)
}

func (w *sequenceWorld) randomEntries(n int) []Entry {
	var out []Entry
	for i := range n {
		names := []string{fmt.Sprintf("svc%d.mesh", w.r.IntN(6))}
		if w.r.IntN(4) == 0 {
			names = append(names, "localhost") // reserved: never written
		}
		if w.r.IntN(3) == 0 {
			names = append(names, fmt.Sprintf("svc%d.mesh.svc", i), fmt.Sprintf("ALIAS%d.mesh", w.r.IntN(20)))
		}
		out = append(out, Entry{IP: netip.AddrFrom4([4]byte{127, 77, byte(w.r.IntN(4)), byte(1 + w.r.IntN(250))}), Names: names})
	}
	return out
}

func (w *sequenceWorld) step() error {
	switch {
	case w.live == nil:
		// join: the new session first cleans up after a crashed one, as session.prepare does.
		if w.crashed != "" {
			if err := w.cleanUp(); err != nil {
				return err
			}
		}
		owner := fmt.Sprintf("s%d", w.serial)
		w.serial++
		f, err := open(w.path, owner, fastOptions())
		if err != nil {
			return err
		}
		w.live, w.entries = f, w.randomEntries(1+w.r.IntN(3))
		w.log = append(w.log, fmt.Sprintf("join %s %v", owner, w.entries))
		_, err = f.Apply(w.entries)
		w.crashed = owner // from now on, a crash leaves its block
		return err
	}
	switch w.r.IntN(6) {
	case 0, 1: // add
		w.entries = append(w.entries, w.randomEntries(1)...)
		w.log = append(w.log, fmt.Sprintf("add → %v", w.entries))
		_, err := w.live.Apply(w.entries)
		return err
	case 2: // remove
		if len(w.entries) > 1 {
			w.entries = w.entries[:len(w.entries)-1]
		}
		w.log = append(w.log, fmt.Sprintf("remove → %v", w.entries))
		_, err := w.live.Apply(w.entries)
		return err
	case 3, 4: // crash: the process dies, its lock goes with it, its block stays
		w.log = append(w.log, "crash")
		err := w.live.Close()
		w.live = nil
		return err
	default: // leave
		w.log = append(w.log, "leave")
		_, err := w.live.Apply(nil)
		w.live.Close()
		w.live, w.crashed = nil, ""
		return err
	}
}

// cleanUp is what leave or the next join does for a crashed session: remove the block if it
// is still that session's.
func (w *sequenceWorld) cleanUp() error {
	f, err := open(w.path, w.crashed, fastOptions())
	if err != nil {
		return err
	}
	defer f.Close()
	owner, found, err := f.Owner()
	if err != nil {
		return err
	}
	w.log = append(w.log, fmt.Sprintf("clean up after %s (block owner %q, found %v)", w.crashed, owner, found))
	if found && owner == w.crashed {
		_, err = f.Apply(nil)
	}
	w.crashed = ""
	return err
}

// finish ends the sequence as the user would: leave, or leave after a crash.
func (w *sequenceWorld) finish() error {
	if w.live != nil {
		w.log = append(w.log, "leave (end)")
		_, err := w.live.Apply(nil)
		w.live.Close()
		w.live, w.crashed = nil, ""
		if err != nil {
			return err
		}
	}
	if w.crashed != "" {
		if err := w.cleanUp(); err != nil {
			return err
		}
	}
	// A stale block that no session took over (each left every name out): no record of it
	// exists; its own owner's Apply(nil) stands for the user removing it.
	if content, err := os.ReadFile(w.path); err != nil || !bytes.Contains(content, []byte(beginPrefix+" stale1 ")) {
		return err
	}
	w.log = append(w.log, "remove the stale block (end)")
	f, err := open(w.path, "stale1", fastOptions())
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Apply(nil)
	return err
}

// checkBlock: after each step the block holds only names a session asked for, none of them
// reserved or already the user's.
func (w *sequenceWorld) checkBlock() error {
	content, err := os.ReadFile(w.path)
	if err != nil {
		return err
	}
	b, _, _, found, err := ParseBlock(content)
	if err != nil || !found {
		return err
	}
	users := map[string]bool{}
	for _, l := range strings.Split(string(w.user), "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		if f := strings.Fields(l); len(f) > 1 {
			if _, err := netip.ParseAddr(f[0]); err == nil {
				for _, n := range f[1:] {
					users[strings.ToLower(n)] = true
				}
			}
		}
	}
	for _, e := range b.Entries {
		for _, n := range e.Names {
			if n == "localhost" || (users[n] && b.Owner != "stale1") {
				return fmt.Errorf("block of %s maps %q, which is reserved or the user's:\n%s", b.Owner, n, content)
			}
		}
	}
	return nil
}
