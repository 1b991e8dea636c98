package ide

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// node is an XML element as IntelliJ writes run configurations: elements and attributes only
// (their files carry no text content that matters).
type node struct {
	Name     string
	Attrs    []xml.Attr
	Children []*node
}

// parseXML reads an XML document into its root element.
func parseXML(path string, src []byte) (*node, error) {
	dec := xml.NewDecoder(bytes.NewReader(src))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			ferr := &InvalidFileError{Path: path, Err: err}
			var syn *xml.SyntaxError
			if errors.As(err, &syn) {
				ferr.Line, ferr.Err = syn.Line, errors.New(syn.Msg)
			}
			return nil, ferr
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{Name: t.Name.Local, Attrs: t.Attr}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if root == nil {
		return nil, &InvalidFileError{Path: path, Err: errors.New("no XML element")}
	}
	return root, nil
}

func (n *node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *node) setAttr(name, value string) {
	for i := range n.Attrs {
		if n.Attrs[i].Name.Local == name {
			n.Attrs[i].Value = value
			return
		}
	}
	n.Attrs = append(n.Attrs, xml.Attr{Name: xml.Name{Local: name}, Value: value})
}

func (n *node) removeAttr(name string) {
	for i := range n.Attrs {
		if n.Attrs[i].Name.Local == name {
			n.Attrs = append(n.Attrs[:i], n.Attrs[i+1:]...)
			return
		}
	}
}

// child is the first child element with the name, or nil.
func (n *node) child(name string) *node {
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// el builds an element from name/value attribute pairs.
func el(name string, attrs ...string) *node {
	n := &node{Name: name}
	for i := 0; i+1 < len(attrs); i += 2 {
		n.setAttr(attrs[i], attrs[i+1])
	}
	return n
}

// option is IntelliJ's <option name="..." value="..." />.
func option(name, value string) *node { return el("option", "name", name, "value", value) }

// render writes the element the way IntelliJ does: two-space indent, empty elements closed
// with " />", attributes in order.
func (n *node) render() string {
	var b strings.Builder
	n.write(&b, "")
	return b.String()
}

func (n *node) write(b *strings.Builder, indent string) {
	b.WriteString(indent + "<" + n.Name)
	for _, a := range n.Attrs {
		b.WriteString(" " + a.Name.Local + `="` + escapeAttr(a.Value) + `"`)
	}
	if len(n.Children) == 0 {
		b.WriteString(" />\n")
		return
	}
	b.WriteString(">\n")
	for _, c := range n.Children {
		c.write(b, indent+"  ")
	}
	b.WriteString(indent + "</" + n.Name + ">\n")
}

var attrEscaper = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&quot;", "\n", "&#10;", "\r", "&#13;", "\t", "&#9;")

func escapeAttr(s string) string { return attrEscaper.Replace(s) }
