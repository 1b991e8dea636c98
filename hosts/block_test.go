package hosts

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestRenderBlock(t *testing.T) {
	t.Parallel()
	desired, _ := normalize(sampleEntries())
	out, err := edit(nil, "s-1", desired, false)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	want := "" +
		"# BEGIN meshjoin s-1 (managed by meshjoin; do not edit)\n" +
		"127.77.0.2       ratings.bookinfo.svc.cluster.local ratings.bookinfo.svc ratings.bookinfo\n" +
		"127.77.0.3       reviews.bookinfo.svc.cluster.local reviews.bookinfo.svc reviews.bookinfo\n" +
		"# END meshjoin\n"
	if got != want {
		t.Errorf("block =\n%s\nwant\n%s", got, want)
	}
}

func TestRenderBlockSplitsLongLines(t *testing.T) {
	t.Parallel()
	var names []string
	for i := range 20 {
		names = append(names, "n"+strings.Repeat("x", i))
	}
	desired, _ := normalize([]Entry{{netip.MustParseAddr("127.77.0.9"), names}, {netip.MustParseAddr("127.77.0.8"), []string{"bad name"}}})
	out, err := edit(nil, "s-1", desired, false)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if got, want := len(lines), 2+3; got != want { // markers + 9 + 9 + 2 names
		t.Fatalf("got %d lines, want %d:\n%s", got, want, out)
	}
	if lines[0] != "# BEGIN meshjoin s-1 (managed by meshjoin; do not edit)" {
		t.Errorf("BEGIN line = %q", lines[0])
	}
	b, _, _, found, err := ParseBlock(out)
	if err != nil || !found {
		t.Fatalf("ParseBlock(rendered) = found %v, %v", found, err)
	}
	if want := []Entry{{netip.MustParseAddr("127.77.0.9"), names}}; !reflect.DeepEqual(b.Entries, want) {
		t.Errorf("entries read back = %v, want %v", b.Entries, want)
	}
}

func TestParseBlock(t *testing.T) {
	t.Parallel()
	ip := netip.MustParseAddr
	tests := []struct {
		name            string
		content         string
		want            Block
		before, after   string
		found           bool
		parseableBlocks bool
	}{
		{
			name:    "no block",
			content: "127.0.0.1 localhost\n",
			before:  "127.0.0.1 localhost\n",
		},
		{
			name: "block at the end",
			content: "127.0.0.1 localhost\n" +
				"# BEGIN meshjoin s1 (managed by meshjoin; do not edit)\n127.77.0.2 a b\n# END meshjoin\n",
			want:   Block{Owner: "s1", Entries: []Entry{{ip("127.77.0.2"), []string{"a", "b"}}}, BeginLine: 2, EndLine: 4},
			before: "127.0.0.1 localhost\n",
			found:  true,
		},
		{
			name: "block in the middle, crlf, indented markers, comments and junk inside",
			content: "a\r\n  # BEGIN meshjoin s2 (managed by meshjoin; do not edit)  \r\n" +
				"# comment\r\n127.77.0.2\tx # inline\r\nnot-an-ip y\r\n127.77.0.2 z\r\n\r\n\t# END meshjoin\r\nb\r\n",
			want:   Block{Owner: "s2", Entries: []Entry{{ip("127.77.0.2"), []string{"x", "z"}}}, BeginLine: 2, EndLine: 8, CRLF: true},
			before: "a\r\n",
			after:  "b\r\n",
			found:  true,
		},
		{
			name:    "marker without owner, end without newline",
			content: "# BEGIN meshjoin\n# END meshjoin",
			want:    Block{BeginLine: 1, EndLine: 2},
			found:   true,
		},
		{
			name:    "block that added the final newline",
			content: "a\n# BEGIN meshjoin s (managed by meshjoin; do not edit)\n" + newlineNote + "\n# END meshjoin\n",
			want:    Block{Owner: "s", BeginLine: 2, EndLine: 4, AddedNewline: true},
			before:  "a",
			found:   true,
		},
		{
			name:    "note but the line before already ends in a newline",
			content: "a\n\n# BEGIN meshjoin s (managed by meshjoin; do not edit)\n" + newlineNote + "\n# END meshjoin\n",
			want:    Block{Owner: "s", BeginLine: 3, EndLine: 5},
			before:  "a\n\n",
			found:   true,
		},
		{
			name:    "note but only a newline before the block (found by FuzzParseBlock)",
			content: "\n# BEGIN meshjoin s (managed by meshjoin; do not edit)\n" + newlineNote + "\n# END meshjoin",
			want:    Block{Owner: "s", BeginLine: 2, EndLine: 4},
			before:  "\n",
			found:   true,
		},
		{
			name:    "note but nothing before the block",
			content: "# BEGIN meshjoin s (managed by meshjoin; do not edit)\n" + newlineNote + "\n# END meshjoin\n",
			want:    Block{Owner: "s", BeginLine: 1, EndLine: 3},
			found:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, before, after, found, err := ParseBlock([]byte(tt.content))
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.found || string(before) != tt.before || string(after) != tt.after {
				t.Errorf("found %v before %q after %q, want %v %q %q", found, before, after, tt.found, tt.before, tt.after)
			}
			if !reflect.DeepEqual(b, tt.want) {
				t.Errorf("block = %+v, want %+v", b, tt.want)
			}
		})
	}
}

// TestParseBlockAliasing: appending to before must not overwrite the block in content.
func TestParseBlockAliasing(t *testing.T) {
	t.Parallel()
	content := []byte("a\n# BEGIN meshjoin s\n# END meshjoin\nb\n")
	orig := slices.Clone(content)
	_, before, after, _, _ := ParseBlock(content)
	_ = append(before, "XXXXXXXX"...)
	_ = append(after, "YYYYYYYY"...)
	if !bytes.Equal(content, orig) {
		t.Errorf("content changed to %q", content)
	}
}

func TestStrangeFiles(t *testing.T) {
	t.Parallel()
	begin := "# BEGIN meshjoin s (managed by meshjoin; do not edit)\n"
	end := "# END meshjoin\n"
	tests := []struct {
		name    string
		content string
		line    int
		problem string
	}{
		{"begin without end", "a\n" + begin + "127.77.0.2 x\n", 2, "without a matching END"},
		{"begin at the very end", "a\n" + strings.TrimSuffix(begin, "\n"), 2, "without a matching END"},
		{"end without begin", "a\nb\n" + end, 3, "without a BEGIN"},
		{"end before begin", end + begin + end, 1, "without a BEGIN"},
		{"two blocks", begin + end + "x\n" + begin + end, 4, "a second meshjoin block; the first is lines 1-2"},
		{"nested", begin + "x\n" + begin + end + end, 3, "nested markers"},
		{"two ends", begin + end + end, 3, "a second END meshjoin marker; the block is lines 1-2"},
		{"crlf begin without end", "a\r\n" + strings.ReplaceAll(begin, "\n", "\r\n"), 2, "without a matching END"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, found, err := ParseBlock([]byte(tt.content))
			var se *StrangeFileError
			if !errors.As(err, &se) {
				t.Fatalf("ParseBlock = found %v, err %v; want a *StrangeFileError", found, err)
			}
			if se.Line != tt.line || !strings.Contains(se.Problem, tt.problem) {
				t.Errorf("error = %q, want line %d and %q", se, tt.line, tt.problem)
			}
			// Neither an edit nor a removal may go ahead on such a file.
			for _, desired := range [][]Entry{nil, sampleEntries()} {
				if out, err := edit([]byte(tt.content), "s", desired, true); err == nil {
					t.Errorf("edit(%d entries) = %q, want an error", len(desired), out)
				}
			}
		})
	}
}

// TestRoundTripCorpus: add a block, update it, remove it: the user's bytes come back exactly.
func TestRoundTripCorpus(t *testing.T) {
	t.Parallel()
	first, _ := normalize(sampleEntries())
	second, _ := normalize([]Entry{
		{netip.MustParseAddr("127.77.1.1"), []string{"details.bookinfo"}},
		{netip.MustParseAddr("::1"), []string{"six.bookinfo"}},
		{netip.MustParseAddr("fd00::77:1"), []string{"seven.bookinfo"}},
		{netip.MustParseAddr("::ffff:127.77.2.2"), []string{"mapped.bookinfo"}},
	})
	for name, orig := range strangeFiles {
		t.Run(name, func(t *testing.T) {
			content := []byte(orig)
			added, err := edit(content, "s1", first, false)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(added, content) {
				t.Fatalf("the user's bytes changed:\n%q\nbecame\n%q", content, added)
			}
			b, before, after, found, err := ParseBlock(added)
			if err != nil || !found || !bytes.Equal(before, content) || len(after) != 0 || b.Owner != "s1" || !equalEntries(b.Entries, first) {
				t.Fatalf("ParseBlock(added) = %+v before %q after %q found %v err %v", b, before, after, found, err)
			}
			// The block follows the file's line endings.
			crlf := strings.Contains(orig, "\r\n") && strings.Index(orig, "\r\n") == strings.Index(orig, "\n")-1
			if b.CRLF != crlf {
				t.Errorf("block CRLF = %v, want %v", b.CRLF, crlf)
			}
			again, err := edit(added, "s1", first, false)
			if err != nil || !bytes.Equal(again, added) {
				t.Errorf("second apply changed the file: %v\n%q\n%q", err, added, again)
			}
			updated, err := edit(added, "s1", second, false)
			if err != nil || !bytes.HasPrefix(updated, content) {
				t.Fatalf("update: %v\n%q", err, updated)
			}
			removed, err := edit(updated, "s1", nil, false)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(removed, content) {
				t.Errorf("after add, update and remove:\n%q\nwant\n%q", removed, content)
			}
		})
	}
}

// TestLinesAddedAfterBlock: when the user appends after our block, removing the block must not
// glue their lines together, and updating it must keep it where it is.
func TestLinesAddedAfterBlock(t *testing.T) {
	t.Parallel()
	desired, _ := normalize(sampleEntries())
	tests := []struct{ orig, appended, wantRemoved string }{
		{"127.0.0.1 a", "10.0.0.1 b\n", "127.0.0.1 a\n10.0.0.1 b\n"},
		{"127.0.0.1 a\r\n::1 b", "10.0.0.1 c", "127.0.0.1 a\r\n::1 b\r\n10.0.0.1 c"},
		{"127.0.0.1 a\n", "10.0.0.1 b", "127.0.0.1 a\n10.0.0.1 b"},
		{"", "10.0.0.1 b\n", "10.0.0.1 b\n"},
	}
	for _, tt := range tests {
		added, err := edit([]byte(tt.orig), "s", desired, false)
		if err != nil {
			t.Fatal(err)
		}
		withUser := append(slices.Clone(added), tt.appended...)
		other, _ := normalize([]Entry{{netip.MustParseAddr("127.77.3.3"), []string{"x"}}})
		updated, err := edit(withUser, "s", other, false)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(updated, []byte(tt.appended)) {
			t.Errorf("%q: update moved the user's lines: %q", tt.orig, updated)
		}
		removed, err := edit(updated, "s", nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if string(removed) != tt.wantRemoved {
			t.Errorf("%q + block + %q, removed = %q, want %q", tt.orig, tt.appended, removed, tt.wantRemoved)
		}
	}
}

func TestOwnership(t *testing.T) {
	t.Parallel()
	desired, _ := normalize(sampleEntries())
	orig := []byte("127.0.0.1 localhost\n")
	theirs, err := edit(orig, "other", desired, false)
	if err != nil {
		t.Fatal(err)
	}
	// An empty Apply by another owner leaves the block alone.
	if out, err := edit(theirs, "me", nil, false); err != nil || !bytes.Equal(out, theirs) {
		t.Errorf("edit(nil) by another owner = %q, %v; want the file unchanged", out, err)
	}
	// Removing whoever owns it (anyOwner) restores the file.
	if out, err := edit(theirs, "", nil, true); err != nil || !bytes.Equal(out, orig) {
		t.Errorf("remove any = %q, %v; want %q", out, err, orig)
	}
	// A non-empty Apply takes the block over, in place.
	mine, err := edit(theirs, "me", desired, false)
	if err != nil {
		t.Fatal(err)
	}
	if b, _, _, _, _ := ParseBlock(mine); b.Owner != "me" {
		t.Errorf("owner after takeover = %q, want me", b.Owner)
	}
	if !bytes.Equal(mine, bytes.Replace(theirs, []byte(" other "), []byte(" me "), 1)) {
		t.Errorf("takeover changed more than the owner:\n%q\n%q", theirs, mine)
	}
}

// BenchmarkApplyLargeMesh: recomputing a 1000-service block in a 5000-line hosts file, as every
// Apply does before it compares bytes.
func BenchmarkApplyLargeMesh(b *testing.B) {
	var entries []Entry
	taken := map[netip.Addr]bool{}
	for i := range 1000 {
		key := fmt.Sprintf("svc%d.ns%d", i, i%17)
		ip, err := Allocator{}.AddressFor(key, taken)
		if err != nil {
			b.Fatal(err)
		}
		taken[ip] = true
		entries = append(entries, Entry{IP: ip, Names: []string{key + ".svc.cluster.local", key + ".svc", key}})
	}
	desired, _ := normalize(entries)
	content, err := edit([]byte(strangeFiles["many lines"]), "s", desired, false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		desired, _ := normalize(entries)
		if out, err := edit(content, "s", desired, false); err != nil || len(out) != len(content) {
			b.Fatal(err)
		}
	}
}
