package hosts

import (
	"bytes"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// fuzzSeeds are the corpus files small enough to keep the fuzzer fast, plus files with blocks.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, name := range slices.Sorted(maps.Keys(strangeFiles)) {
		if c := strangeFiles[name]; len(c) < 4096 {
			seeds = append(seeds, []byte(c))
		}
	}
	begin := "# BEGIN meshjoin s1 (managed by meshjoin; do not edit)"
	for _, s := range []string{
		"127.0.0.1 localhost\n" + begin + "\n127.77.0.2 a b\n# END meshjoin\n",
		"127.0.0.1 localhost\r\n" + begin + "\r\n127.77.0.2 a\r\n# END meshjoin\r\nafter\r\n",
		"a\n" + begin + "\n" + newlineNote + "\n127.77.0.2 a\n# END meshjoin\n",
		"a\n" + begin + "\n" + newlineNote + "\n# END meshjoin\nappended",
		"a\n\n" + begin + "\n" + newlineNote + "\n# END meshjoin\n",
		"# BEGIN meshjoin other (managed by meshjoin; do not edit)\n# END meshjoin",
		begin + "\n",
		"# END meshjoin\n",
		begin + "\n" + begin + "\n# END meshjoin\n# END meshjoin\n",
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

func lineCount(content []byte) int {
	n := bytes.Count(content, []byte("\n"))
	if len(content) > 0 && content[len(content)-1] != '\n' {
		n++
	}
	return n
}

// FuzzParseBlock: ParseBlock never panics and never changes its input; a strange file is refused
// by every edit; a found block splits the file into user bytes and a block that begins and ends
// with our markers, and removing it gives back exactly the user bytes.
func FuzzParseBlock(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		orig := slices.Clone(content)
		b, before, after, found, err := ParseBlock(content)
		if !bytes.Equal(content, orig) {
			t.Fatal("ParseBlock changed its input")
		}
		if err != nil {
			var se *StrangeFileError
			if !errors.As(err, &se) || se.Line < 1 || se.Line > lineCount(content) {
				t.Fatalf("error %v: want a *StrangeFileError with a line in 1..%d", err, lineCount(content))
			}
			for _, desired := range [][]Entry{nil, sampleEntries()} {
				if _, err := edit(content, "s", desired, true); err == nil {
					t.Fatal("edit accepted a strange file")
				}
			}
			return
		}
		if !found {
			if !bytes.Equal(before, content) || after != nil || !reflectZero(b) {
				t.Fatalf("not found but before %q after %q block %+v", before, after, b)
			}
			if out, err := edit(content, "s", nil, true); err != nil || !bytes.Equal(out, content) {
				t.Fatalf("removing no block changed the file: %v", err)
			}
			return
		}
		if !bytes.HasPrefix(content, before) || !bytes.HasSuffix(content, after) || len(before)+len(after) >= len(content) {
			t.Fatalf("before %q after %q do not frame %q", before, after, content)
		}
		mid := content[len(before) : len(content)-len(after)]
		if b.AddedNewline {
			eol := []byte(eolFor(b.CRLF))
			if !bytes.HasPrefix(mid, eol) || len(before) == 0 || before[len(before)-1] == '\n' {
				t.Fatalf("AddedNewline but the block %q does not start with %q", mid, eol)
			}
			mid = mid[len(eol):]
		}
		lines := bytes.SplitAfter(mid, []byte("\n"))
		if lines[len(lines)-1] == nil || len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
		}
		if k, _ := classify(bytes.TrimSuffix(lines[0], []byte("\n"))); k != beginMarker {
			t.Fatalf("block starts with %q", lines[0])
		}
		if k, _ := classify(bytes.TrimSuffix(lines[len(lines)-1], []byte("\n"))); k != endMarkerKind {
			t.Fatalf("block ends with %q", lines[len(lines)-1])
		}
		if b.BeginLine >= b.EndLine || b.EndLine-b.BeginLine+1 != len(lines) {
			t.Fatalf("lines %d-%d for a block of %d lines", b.BeginLine, b.EndLine, len(lines))
		}
		for _, part := range [][]byte{before, after} {
			if _, _, _, found, err := ParseBlock(part); found || err != nil {
				t.Fatalf("markers outside the block: %q: %v", part, err)
			}
		}
		out, err := edit(content, "", nil, true)
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Concat(before, after)
		if b.AddedNewline && len(after) > 0 {
			want = slices.Concat(before, []byte(eolFor(b.CRLF)), after)
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("removal gave %q, want %q", out, want)
		}
	})
}

func reflectZero(b Block) bool {
	return b.Owner == "" && b.Entries == nil && b.BeginLine == 0 && b.EndLine == 0 && !b.CRLF && !b.AddedNewline
}

// FuzzApplyRoundTrip runs what File.Apply does, minus the disk: for any file and any names,
// never panic, never write a name validateName refuses, never change a byte outside the block,
// writing the same entries again changes nothing, and removing the block gives back the
// original file.
func FuzzApplyRoundTrip(f *testing.F) {
	for i, s := range fuzzSeeds() {
		f.Add(s, "sess-1", "ratings.bookinfo.svc.cluster.local,Ratings.Bookinfo,bad name", uint16(i))
		f.Add(s, "s1", "", uint16(i))
		f.Add(s, "other one", "a\nb,#,x\x00,"+strings.Repeat("y", 300)+",ünï,a.b", uint16(0xffff))
	}
	f.Fuzz(func(t *testing.T, content []byte, owner, names string, seed uint16) {
		if validateOwner(owner) != nil {
			owner = sanitizeOwner(owner)
		}
		var entries []Entry
		for i, group := range strings.Split(names, ";") {
			ip := netip.AddrFrom4([4]byte{127, 77, byte(seed >> 8), byte(seed) + byte(i%3)})
			entries = append(entries, Entry{IP: ip, Names: strings.Split(group, ",")})
		}
		if names == "" {
			entries = nil
		}
		desired, rejected := normalize(entries)
		for _, e := range desired {
			for _, n := range e.Names {
				if validateName(n) != nil || n != strings.ToLower(n) {
					t.Fatalf("name %q would be written", n)
				}
			}
		}
		for _, r := range rejected {
			if validateName(r.Name) == nil && !strings.HasPrefix(r.Reason, "is already listed for") {
				t.Fatalf("valid name %q rejected: %s", r.Name, r.Reason)
			}
		}

		ob, obefore, oafter, ofound, perr := ParseBlock(content)
		out, err := edit(content, owner, desired, false)
		if perr != nil {
			if err == nil {
				t.Fatal("edit accepted a strange file")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !ofound {
			obefore, oafter = content, nil
		}
		if len(desired) == 0 {
			switch {
			case !ofound || ob.Owner != owner:
				if !bytes.Equal(out, content) {
					t.Fatalf("empty Apply changed a file without a block of %q", owner)
				}
			default:
				want := slices.Concat(obefore, oafter)
				if ob.AddedNewline && len(oafter) > 0 {
					want = slices.Concat(obefore, []byte(eolFor(ob.CRLF)), oafter)
				}
				if !bytes.Equal(out, want) {
					t.Fatalf("removal gave %q, want %q", out, want)
				}
			}
			return
		}

		nb, nbefore, nafter, nfound, err := ParseBlock(out)
		if err != nil || !nfound || nb.Owner != owner || !equalEntries(nb.Entries, desired) {
			t.Fatalf("result reads back as %+v found %v err %v; want owner %q entries %v", nb, nfound, err, owner, desired)
		}
		if !bytes.Equal(nbefore, obefore) || !bytes.Equal(nafter, oafter) {
			t.Fatalf("bytes outside the block changed:\nbefore %q -> %q\nafter %q -> %q", obefore, nbefore, oafter, nafter)
		}
		again, err := edit(out, owner, desired, false)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("second Apply changed the file: %v", err)
		}
		removed, err := edit(out, owner, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Concat(obefore, oafter)
		if nb.AddedNewline && len(oafter) > 0 {
			want = slices.Concat(obefore, []byte(eolFor(nb.CRLF)), oafter)
		}
		if !bytes.Equal(removed, want) {
			t.Fatalf("removal gave %q, want %q", removed, want)
		}
		if !ofound && !bytes.Equal(removed, content) {
			t.Fatalf("add then remove gave %q, want the original %q", removed, content)
		}
	})
}

// sanitizeOwner turns any fuzzed owner into one validateOwner accepts.
func sanitizeOwner(owner string) string {
	if len(owner) > maxOwnerLen {
		owner = owner[:maxOwnerLen]
	}
	b := []byte(owner)
	for i, c := range b {
		if !ownerByteOK(c) {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "unknown"
	}
	return string(b)
}
