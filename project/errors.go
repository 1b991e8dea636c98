package project

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/meshjoin/meshjoin/internal/yamlerr"
)

// FileError is a project file that cannot be used: unreadable, not YAML, an unknown field, a
// wrong type or a bad value. Line and Field say where (0 and "" when the whole file is meant).
type FileError struct {
	File   string
	Line   int
	Column int
	Field  string // the YAML path, e.g. profiles.frontend.certTTL
	Msg    string
	Err    error // the cause, when it is an error of the file system
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// decodeError turns an error of the YAML decoder (or of a field type's check) into a FileError
// that names the field at the position it reports.
func decodeError(path string, doc *ast.File, err error) *FileError {
	fe := &FileError{File: path}
	var tok *token.Token
	if ve := (*valueError)(nil); errors.As(err, &ve) {
		tok, fe.Msg = ve.node.GetToken(), ve.msg
	} else {
		tok, fe.Msg = yamlerr.Describe(err, "docs/project-file.md")
	}
	if tok != nil && tok.Position != nil {
		fe.Line, fe.Column = tok.Position.Line, tok.Position.Column
		fe.Field = fieldAt(doc, fe.Line, fe.Column)
	}
	return fe
}

// fieldAt is the YAML path of the key or value at line:col ("" when nothing is there).
func fieldAt(doc *ast.File, line, col int) string {
	found := ""
	walk(doc, func(path []string, key, value ast.Node) bool {
		for _, n := range []ast.Node{key, value} {
			if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
				continue
			}
			if p := n.GetToken().Position; p.Line == line && p.Column == col {
				found = strings.Join(path, ".")
				return false
			}
		}
		return true
	})
	return found
}

// nodeAt is the value (or the key) at a path of keys and list indexes (nil when there is none).
func nodeAt(doc *ast.File, want []string, key bool) ast.Node {
	var found ast.Node
	walk(doc, func(path []string, k, value ast.Node) bool {
		if slices.Equal(path, want) {
			found = value
			if key && k != nil {
				found = k
			}
			return false
		}
		return true
	})
	return found
}

// walk calls visit for every mapping value and list item of doc, depth first, with its path
// (keys, and indexes for list items); key is nil for list items. visit returns false to stop.
func walk(doc *ast.File, visit func(path []string, key, value ast.Node) bool) {
	var rec func(n ast.Node, path []string) bool
	rec = func(n ast.Node, path []string) bool {
		switch n := n.(type) {
		case *ast.DocumentNode:
			return rec(n.Body, path)
		case *ast.MappingNode:
			for _, mv := range n.Values {
				if !rec(mv, path) {
					return false
				}
			}
		case *ast.MappingValueNode:
			p := append(append([]string(nil), path...), yamlerr.KeyText(n.Key))
			if !visit(p, n.Key, n.Value) {
				return false
			}
			return rec(n.Value, p)
		case *ast.SequenceNode:
			for i, v := range n.Values {
				p := append(append([]string(nil), path...), strconv.Itoa(i))
				if !visit(p, nil, v) || !rec(v, p) {
					return false
				}
			}
		case *ast.TagNode:
			return rec(n.Value, path)
		case *ast.AnchorNode:
			return rec(n.Value, path)
		}
		return true
	}
	if doc == nil {
		return
	}
	for _, d := range doc.Docs {
		if !rec(d, nil) {
			return
		}
	}
}
