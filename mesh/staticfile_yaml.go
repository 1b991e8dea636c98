package mesh

import (
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/meshjoin/meshjoin/internal/yamlerr"
)

// Positions in a mesh file: the decoder's own errors carry a token; the checks after decoding
// find the node of a field by its path in an index of the document.

// yamlError turns an error of the YAML parser or decoder into a StaticFileError at the position
// it reports.
func yamlError(name string, nodes map[string]ast.Node, err error) *StaticFileError {
	tok, msg := yamlerr.Describe(err, "docs/mesh-file.md")
	fe := &StaticFileError{File: name, Msg: msg}
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
			p := join(path, yamlerr.KeyText(n.Key))
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
