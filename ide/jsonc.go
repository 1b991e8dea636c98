package ide

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/tailscale/hujson"
)

// This file edits JSON-with-comments files by splicing bytes: the file is parsed with hujson
// only to learn where things are, and each change replaces or inserts a byte range, so every
// byte outside meshjoin's own entries stays as the user wrote it.

// edit replaces src[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// applyEdits applies non-overlapping edits; insertions at the same offset keep their order.
func applyEdits(src []byte, edits []edit) []byte {
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	var b bytes.Buffer
	pos := 0
	for _, e := range edits {
		b.Write(src[pos:e.start])
		b.WriteString(e.text)
		pos = e.end
	}
	b.Write(src[pos:])
	return b.Bytes()
}

var hujsonPos = regexp.MustCompile(`line (\d+), column (\d+)`)

// parseJSONC parses a JSONC file whose root must be an object.
func parseJSONC(path string, src []byte) (hujson.Value, *hujson.Object, error) {
	v, err := hujson.Parse(src)
	if err != nil {
		ferr := &InvalidFileError{Path: path, Err: err}
		if m := hujsonPos.FindStringSubmatch(err.Error()); m != nil {
			ferr.Line, _ = strconv.Atoi(m[1])
			ferr.Column, _ = strconv.Atoi(m[2])
			ferr.Err = errors.New(strings.TrimSpace(hujsonPos.ReplaceAllString(strings.TrimPrefix(err.Error(), "hujson: "), "")[1:]))
		}
		return v, nil, ferr
	}
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		return v, nil, posError(path, src, v.StartOffset, "the file must hold a JSON object")
	}
	return v, obj, nil
}

func posError(path string, src []byte, offset int, format string, args ...any) error {
	line, col := lineColumn(src, offset)
	return &InvalidFileError{Path: path, Line: line, Column: col, Err: fmt.Errorf(format, args...)}
}

func lineColumn(src []byte, offset int) (int, int) {
	line := 1 + bytes.Count(src[:offset], []byte("\n"))
	return line, 1 + offset - (bytes.LastIndexByte(src[:offset], '\n') + 1)
}

// member finds an object's member by name.
func member(obj *hujson.Object, name string) *hujson.ObjectMember {
	for i := range obj.Members {
		if lit, ok := obj.Members[i].Name.Value.(hujson.Literal); ok && lit.String() == name {
			return &obj.Members[i]
		}
	}
	return nil
}

// stringMember is an object's string member, "" when absent or not a string.
func stringMember(v hujson.Value, name string) string {
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		return ""
	}
	m := member(obj, name)
	if m == nil {
		return ""
	}
	if lit, ok := m.Value.Value.(hujson.Literal); ok && lit.Kind() == '"' {
		return lit.String()
	}
	return ""
}

// indentUnit guesses the file's indentation from its first indented line (a tab by default).
func indentUnit(src []byte) string {
	for _, line := range bytes.Split(src, []byte("\n")) {
		trimmed := bytes.TrimLeft(line, " \t")
		if len(trimmed) == 0 || len(trimmed) == len(line) {
			continue
		}
		ws := line[:len(line)-len(trimmed)]
		if ws[0] == '\t' {
			return "\t"
		}
		return strings.Repeat(" ", len(ws))
	}
	return "\t"
}

// lineIndent is the leading whitespace of the line holding offset.
func lineIndent(src []byte, offset int) string {
	start := bytes.LastIndexByte(src[:offset], '\n') + 1
	end := start
	for end < len(src) && (src[end] == ' ' || src[end] == '\t') {
		end++
	}
	return string(src[start:end])
}

// appendItems adds items (already rendered, without indentation of their first line) at the
// end of the array or object v, one per line at indent, keeping the container's trailing-comma
// style and any comment before its closing bracket.
func appendItems(src []byte, v hujson.Value, items []string, indent string) []edit {
	if len(items) == 0 {
		return nil
	}
	closing := v.EndOffset - 1
	p := closing
	for p > v.StartOffset+1 && isSpace(src[p-1]) {
		p--
	}
	var last *hujson.Value
	switch c := v.Value.(type) {
	case *hujson.Array:
		if n := len(c.Elements); n > 0 {
			last = &c.Elements[n-1]
		}
	case *hujson.Object:
		if n := len(c.Members); n > 0 {
			last = &c.Members[n-1].Value
		}
	}
	var edits []edit
	trailingComma := false
	if last != nil {
		trailingComma = last.AfterExtra != nil
		if !trailingComma {
			edits = append(edits, edit{last.EndOffset, last.EndOffset, ","})
		}
	}
	text := "\n" + indent + strings.Join(items, ",\n"+indent)
	if trailingComma {
		text += ","
	}
	if p == closing {
		// Nothing but the bracket: close on a line of its own.
		text += "\n" + lineIndent(src, v.StartOffset)
	}
	return append(edits, edit{p, p, text})
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// object is a JSON object that keeps its members' order.
type object []objectMember

type objectMember struct {
	Key   string
	Value json.RawMessage
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.Key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.Value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// set replaces key's value, or appends it.
func (o *object) set(key string, v any) {
	raw := mustMarshal(v)
	for i := range *o {
		if (*o)[i].Key == key {
			(*o)[i].Value = raw
			return
		}
	}
	*o = append(*o, objectMember{key, raw})
}

func (o object) get(key string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

func (o object) getString(key string) string {
	raw, ok := o.get(key)
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// decodeObject reads a JSONC object into an ordered object (comments are dropped).
func decodeObject(jsonc []byte) (object, error) {
	std, err := hujson.Standardize(bytes.Clone(jsonc))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(std))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	var o object
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		o = append(o, objectMember{t.(string), raw})
	}
	return o, nil
}

func mustMarshal(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only our own plain values are marshalled
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// render formats v as indented JSON whose continuation lines start with indent; arrays of
// plain values stay on one line, as people write "args".
func render(v any, indent, unit string) string {
	var b strings.Builder
	renderRaw(&b, mustMarshal(v), indent, unit)
	return b.String()
}

func renderRaw(b *strings.Builder, raw json.RawMessage, indent, unit string) {
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '{':
		o, err := decodeObject(raw)
		if err != nil {
			panic(err)
		}
		if len(o) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{")
		for i, m := range o {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n" + indent + unit)
			b.Write(mustMarshal(m.Key))
			b.WriteString(": ")
			renderRaw(b, m.Value, indent+unit, unit)
		}
		b.WriteString("\n" + indent + "}")
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			panic(err)
		}
		inline := true
		for _, e := range elems {
			if c := bytes.TrimSpace(e)[0]; c == '{' || c == '[' {
				inline = false
			}
		}
		if inline {
			b.WriteString("[")
			for i, e := range elems {
				if i > 0 {
					b.WriteString(", ")
				}
				b.Write(compact(e))
			}
			b.WriteString("]")
			return
		}
		b.WriteString("[")
		for i, e := range elems {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n" + indent + unit)
			renderRaw(b, e, indent+unit, unit)
		}
		b.WriteString("\n" + indent + "]")
	default:
		b.Write(compact(raw))
	}
}

func compact(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		panic(err)
	}
	return b.Bytes()
}
