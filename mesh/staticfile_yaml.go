package mesh

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Positions in a mesh file: the decoder's own errors carry a token; the checks after decoding
// find the node of a field by its path in an index of the document.

// yamlError turns an error of the YAML parser or decoder into a StaticFileError at the position
// it reports.
func yamlError(name string, nodes map[string]ast.Node, err error) *StaticFileError {
	fe := &StaticFileError{File: name, Msg: err.Error()}
	var (
		tok   *token.Token
		typed *yaml.TypeError
		unk   *yaml.UnknownFieldError
		dup   *yaml.DuplicateKeyError
		node  *yaml.UnexpectedNodeTypeError
		ye    yaml.Error
	)
	switch {
	case errors.As(err, &typed):
		tok, fe.Msg = typed.Token, fmt.Sprintf("want %s, got %s", yamlKind(typed.DstType), yamlKind(typed.SrcType))
	case errors.As(err, &unk):
		tok, fe.Msg = unk.Token, unk.Message+"; the fields are listed in docs/mesh-file.md"
	case errors.As(err, &dup):
		tok, fe.Msg = dup.Token, dup.Message
	case errors.As(err, &node):
		tok, fe.Msg = node.Token, fmt.Sprintf("want %s, got %s", nodeKind(node.Expected), nodeKind(node.Actual))
	case errors.As(err, &ye):
		tok, fe.Msg = ye.GetToken(), ye.GetMessage()
	}
	if tok != nil && tok.Position != nil {
		fe.Line, fe.Column = tok.Position.Line, tok.Position.Column
		for path, n := range nodes {
			path = strings.TrimSuffix(path, "#key")
			var own *token.Position
			if tk := n.GetToken(); tk != nil {
				own = tk.Position
			}
			for _, p := range []*token.Position{position(n), own} {
				if p != nil && p.Line == fe.Line && p.Column == fe.Column && len(path) > len(fe.Field) {
					fe.Field = path
				}
			}
		}
	}
	return fe
}

// yamlKind says what a Go type is in YAML words.
func yamlKind(t reflect.Type) string {
	if t == nil {
		return "nothing"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Uint32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.Kind().String()
}

func nodeKind(t ast.NodeType) string {
	switch t {
	case ast.MappingType, ast.MappingValueType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	case ast.StringType:
		return "a string"
	case ast.IntegerType, ast.FloatType:
		return "a number"
	case ast.BoolType:
		return "a boolean"
	case ast.NullType:
		return "nothing"
	}
	return t.String()
}

func position(n ast.Node) *token.Position {
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		n = m.Values[0].Key // a block mapping's own token is its first colon
	}
	if n == nil || n.GetToken() == nil {
		return nil
	}
	return n.GetToken().Position
}

// indexNodes maps each path of doc (keys and list indexes joined by dots: services.0.name) to
// its value node, and "path#key" to the key node.
func indexNodes(doc *ast.File) map[string]ast.Node {
	out := map[string]ast.Node{}
	var rec func(n ast.Node, path string)
	join := func(path, part string) string {
		if path == "" {
			return part
		}
		return path + "." + part
	}
	rec = func(n ast.Node, path string) {
		switch n := n.(type) {
		case *ast.DocumentNode:
			rec(n.Body, path)
		case *ast.MappingNode:
			out[path] = n
			for _, mv := range n.Values {
				rec(mv, path)
			}
		case *ast.MappingValueNode:
			p := join(path, keyText(n.Key))
			out[p+"#key"] = n.Key
			out[p] = n.Value
			rec(n.Value, p)
		case *ast.SequenceNode:
			out[path] = n
			for i, v := range n.Values {
				p := join(path, strconv.Itoa(i))
				out[p] = v
				rec(v, p)
			}
		case *ast.TagNode:
			rec(n.Value, path)
		case *ast.AnchorNode:
			rec(n.Value, path)
		}
	}
	if doc != nil {
		for _, d := range doc.Docs {
			rec(d, "")
		}
	}
	return out
}

// keyText is a mapping key's text, without the quotes it may be written with.
func keyText(k ast.MapKeyNode) string {
	if s, ok := k.(*ast.StringNode); ok {
		return s.Value
	}
	return k.String()
}

// locate is the position of path's node, else of its nearest ancestor that is in the file.
func locate(nodes map[string]ast.Node, path string) (line, col int) {
	for {
		if p := position(nodes[path]); p != nil {
			return p.Line, p.Column
		}
		if path == "" {
			return 1, 1
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
}
