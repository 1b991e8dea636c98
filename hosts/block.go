package hosts

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/txn2/txeh"
)

const (
	beginPrefix = "# BEGIN meshjoin"
	beginSuffix = "(managed by meshjoin; do not edit)"
	endMarker   = "# END meshjoin"

	// newlineNote marks a block that supplied the line break ending the user's last line. It
	// lets removal give back a file that had no final newline without guessing.
	newlineNote = "# meshjoin added the line break above: the file did not end with one"

	// Windows resolves at most nine names per hosts line; the limit costs nothing elsewhere
	// and keeps the bytes the same on every OS.
	maxNamesPerLine = 9
	maxOwnerLen     = 128
)

// Block is meshjoin's block as found in a hosts file.
type Block struct {
	Owner     string  // session id from the BEGIN marker; "" if the marker has none
	Entries   []Entry // address lines inside the block, in file order, lines of one address merged
	BeginLine int     // 1-based line numbers of the markers
	EndLine   int
	CRLF      bool // the block's lines end in "\r\n"
	// AddedNewline: the block brought the line break that ends the line before it, because the
	// file had no final newline when the block was added. ParseBlock leaves that line break
	// out of before.
	AddedNewline bool
}

// StrangeFileError says why a hosts file's meshjoin markers cannot be trusted, and where.
// Nothing is written to such a file.
type StrangeFileError struct {
	Line    int // 1-based
	Problem string
}

func (e *StrangeFileError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, e.Problem)
}

type markerKind int

const (
	notMarker markerKind = iota
	beginMarker
	endMarkerKind
)

// classify tells whether a line (without its "\n") is one of our markers. Surrounding blanks
// and a trailing '\r' are ignored so that a hand-indented or CRLF marker is still recognised
// rather than producing a second block; "# BEGIN meshjoinx" or "# meshjoin rocks" are not ours.
func classify(line []byte) (markerKind, string) {
	t := bytes.Trim(line, " \t\r")
	if rest, ok := bytes.CutPrefix(t, []byte(beginPrefix)); ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t') {
		owner := ""
		if f := strings.Fields(string(rest)); len(f) > 0 && !strings.HasPrefix(f[0], "(") {
			owner = f[0]
		}
		return beginMarker, owner
	}
	if rest, ok := bytes.CutPrefix(t, []byte(endMarker)); ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t') {
		return endMarkerKind, ""
	}
	return notMarker, ""
}

// ParseBlock finds meshjoin's block in the content of a hosts file. When found,
// content = before + [line break, if AddedNewline] + block lines + after; before and after are
// sub-slices of content (capacity-limited, so appending to them cannot overwrite content). When
// not found, before is all of content. A BEGIN without END, an END without BEGIN, nested
// markers or two blocks give a *StrangeFileError naming the line.
func ParseBlock(content []byte) (block Block, before, after []byte, found bool, err error) {
	var (
		inBlock    bool
		beginStart int
		endNext    int
		note       bool
		index      = map[netip.Addr]int{}
	)
	num := 0
	for start := 0; start < len(content); {
		num++
		end, next := len(content), len(content)
		if i := bytes.IndexByte(content[start:], '\n'); i >= 0 {
			end, next = start+i, start+i+1
		}
		line := content[start:end]
		kind, owner := classify(line)
		switch {
		case kind == beginMarker && inBlock:
			return Block{}, nil, nil, false, &StrangeFileError{num, fmt.Sprintf(
				"a second BEGIN meshjoin marker inside the block that starts at line %d (nested markers)", block.BeginLine)}
		case kind == beginMarker && found:
			return Block{}, nil, nil, false, &StrangeFileError{num, fmt.Sprintf(
				"a second meshjoin block; the first is lines %d-%d", block.BeginLine, block.EndLine)}
		case kind == beginMarker:
			inBlock, beginStart = true, start
			block.Owner, block.BeginLine = owner, num
			block.CRLF = next > end && end > start && content[end-1] == '\r'
		case kind == endMarkerKind && inBlock:
			inBlock, found, endNext = false, true, next
			block.EndLine = num
		case kind == endMarkerKind && found:
			return Block{}, nil, nil, false, &StrangeFileError{num, fmt.Sprintf(
				"a second END meshjoin marker; the block is lines %d-%d", block.BeginLine, block.EndLine)}
		case kind == endMarkerKind:
			return Block{}, nil, nil, false, &StrangeFileError{num, "an END meshjoin marker without a BEGIN meshjoin marker before it"}
		case inBlock:
			t := strings.Trim(string(line), " \t\r")
			if t == newlineNote {
				note = true
			} else {
				parseEntryLine(t, &block.Entries, index)
			}
		}
		start = next
	}
	if inBlock {
		return Block{}, nil, nil, false, &StrangeFileError{block.BeginLine, "a BEGIN meshjoin marker without a matching END meshjoin marker"}
	}
	if !found {
		return Block{}, content, nil, false, nil
	}
	before = content[:beginStart:beginStart]
	after = content[endNext:len(content):len(content)]
	// Trust the note only where meshjoin would have written it: after a last line that, without
	// the break, would not end in one. Otherwise the break is the user's and stays in before.
	if sep := eolFor(block.CRLF); note && bytes.HasSuffix(before, []byte(sep)) {
		if b := before[: len(before)-len(sep) : len(before)-len(sep)]; len(b) > 0 && b[len(b)-1] != '\n' {
			before, block.AddedNewline = b, true
		}
	}
	return block, before, after, true, nil
}

// parseEntryLine adds an address line of our block to entries. Lines that do not parse are
// skipped: the block is ours and the next Apply rewrites it anyway.
func parseEntryLine(t string, entries *[]Entry, index map[netip.Addr]int) {
	if t == "" || t[0] == '#' {
		return
	}
	if i := strings.IndexByte(t, '#'); i >= 0 {
		t = t[:i]
	}
	f := strings.Fields(t)
	if len(f) < 2 {
		return
	}
	ip, err := netip.ParseAddr(f[0])
	if err != nil {
		return
	}
	if i, ok := index[ip]; ok {
		(*entries)[i].Names = append((*entries)[i].Names, f[1:]...)
		return
	}
	index[ip] = len(*entries)
	*entries = append(*entries, Entry{IP: ip, Names: slices.Clone(f[1:])})
}

func eolFor(crlf bool) string {
	if crlf {
		return "\r\n"
	}
	return "\n"
}

// render writes the block lines for already normalised entries.
func render(owner string, entries []Entry, eol string, note bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s%s", beginPrefix, owner, beginSuffix, eol)
	if note {
		b.WriteString(newlineNote + eol)
	}
	for _, e := range entries {
		for names := range slices.Chunk(e.Names, maxNamesPerLine) {
			// The layout txeh uses, so our lines look like those of other hosts-file tools.
			fmt.Fprintf(&b, "%-16s %s%s", e.IP.String(), strings.Join(names, " "), eol)
		}
	}
	b.WriteString(endMarker + eol)
	return b.Bytes()
}

func ownerByteOK(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == ':' || c == '@' || c == '+' || c == '-'
}

// validateOwner keeps the owner one word of plain characters, so the BEGIN marker stays one
// line and parses back to the same owner.
func validateOwner(owner string) error {
	ok := owner != "" && len(owner) <= maxOwnerLen
	for i := 0; ok && i < len(owner); i++ {
		ok = ownerByteOK(owner[i])
	}
	if !ok {
		return fmt.Errorf("invalid owner %s for the hosts block: use 1 to %d letters, digits, '.', '_', ':', '@', '+' or '-'",
			quoteName(owner), maxOwnerLen)
	}
	return nil
}

// firstEOL is the line ending the user's bytes use, judged by their first line break.
func firstEOL(parts ...[]byte) (eol string, ok bool) {
	for _, p := range parts {
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			return eolFor(i > 0 && p[i-1] == '\r'), true
		}
	}
	return "", false
}

// withoutBlock is the file once the block is gone: the user's bytes as they were. The line
// break the block supplied stays only if the user has since added lines after the block, which
// would otherwise be glued to their last line.
func withoutBlock(block Block, before, after []byte) []byte {
	out := make([]byte, 0, len(before)+2+len(after))
	out = append(out, before...)
	if block.AddedNewline && len(after) > 0 {
		out = append(out, eolFor(block.CRLF)...)
	}
	return append(out, after...)
}

// edit computes the new content of a hosts file in which owner wants exactly desired
// (normalised). An empty desired removes the block if owner owns it, or whoever owns it when
// anyOwner; a non-empty one takes over a block left by another owner, because a file has one
// block. It returns content itself when nothing changes.
func edit(content []byte, owner string, desired []Entry, anyOwner bool) ([]byte, error) {
	block, before, after, found, err := ParseBlock(content)
	if err != nil {
		return nil, err
	}
	if len(desired) == 0 {
		if !found || (!anyOwner && block.Owner != owner) {
			return content, nil
		}
		return withoutBlock(block, before, after), nil
	}
	eol, ok := firstEOL(before, after)
	if !ok {
		eol = eolFor(found && block.CRLF)
	}
	// A block starts at the beginning of a line; if the user's last line has no line break,
	// the block brings one and says so.
	needBreak := len(before) > 0 && before[len(before)-1] != '\n'
	body := render(owner, desired, eol, needBreak)
	out := make([]byte, 0, len(before)+len(eol)+len(body)+len(after))
	out = append(out, before...)
	if needBreak {
		out = append(out, eol...)
	}
	out = append(out, body...)
	out = append(out, after...)
	if bytes.Equal(out, content) {
		return content, nil
	}
	if err := check(out, owner, desired, before, after, body); err != nil {
		return nil, fmt.Errorf("refusing to write a hosts file that does not read back as intended (a meshjoin bug, please report it): %w", err)
	}
	return out, nil
}

// check reads a new file back before it is written: our parser must find the same owner,
// entries and user bytes, and txeh, an independent parser, must read every line of the block
// as a comment or one of our address lines.
func check(out []byte, owner string, desired []Entry, wantBefore, wantAfter, body []byte) error {
	block, before, after, found, err := ParseBlock(out)
	switch {
	case err != nil:
		return err
	case !found:
		return fmt.Errorf("no block found")
	case block.Owner != owner:
		return fmt.Errorf("owner %q, want %q", block.Owner, owner)
	case !bytes.Equal(before, wantBefore) || !bytes.Equal(after, wantAfter):
		return fmt.Errorf("the bytes around the block changed")
	case !equalEntries(block.Entries, desired):
		return fmt.Errorf("entries %v, want %v", block.Entries, desired)
	}
	lines, err := txeh.ParseHostsFromString(string(body))
	if err != nil {
		return err
	}
	got := map[string][]string{}
	for _, l := range lines {
		switch {
		case l.LineType == txeh.COMMENT:
		case l.LineType == txeh.ADDRESS && l.Comment == "":
			got[l.Address] = append(got[l.Address], l.Hostnames...)
		default:
			return fmt.Errorf("txeh reads block line %q as type %d", l.Raw, l.LineType)
		}
	}
	if len(got) != len(desired) {
		return fmt.Errorf("txeh reads %d addresses, want %d", len(got), len(desired))
	}
	for _, e := range desired {
		if !slices.Equal(got[e.IP.String()], e.Names) {
			return fmt.Errorf("txeh reads %s as %v, want %v", e.IP, got[e.IP.String()], e.Names)
		}
	}
	return nil
}

func equalEntries(a, b []Entry) bool {
	return slices.EqualFunc(a, b, func(x, y Entry) bool { return x.IP == y.IP && slices.Equal(x.Names, y.Names) })
}
