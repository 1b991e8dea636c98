package project

import (
	"fmt"
	"regexp"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/meshjoin/meshjoin/certs"
)

// The field types below check their value while decoding, so a bad value is reported at its
// line, and describe themselves to the schema generator (schemaType).

// schemaType is a field type that gives its own JSON Schema.
type schemaType interface{ jsonSchema() map[string]any }

// Duration is a Go duration written as a string: "90m", "1h30m".
type Duration time.Duration

// durationPattern is the shape time.ParseDuration accepts (without a sign: durations here are positive).
const durationPattern = `^([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$`

var durationRE = regexp.MustCompile(durationPattern)

func (d *Duration) UnmarshalYAML(node ast.Node) error {
	s, err := stringValue(node, "a duration such as 30m or 1h")
	if err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil || !durationRE.MatchString(s) || v <= 0 {
		return &valueError{node: node, msg: fmt.Sprintf("%q is not a positive duration; want e.g. 30m or 1h", s)}
	}
	*d = Duration(v)
	return nil
}

func (Duration) jsonSchema() map[string]any {
	return map[string]any{"type": "string", "pattern": durationPattern}
}

// Identity is a service account, "<namespace>/<name>" or its SPIFFE ID, checked as --identity is.
type Identity string

// identityPattern is the shape of an identity; certs.ParseIdentity checks the names in it.
const identityPattern = `^(spiffe://[^/]+/ns/[^/]+/sa/[^/]+|[^/:]+/[^/]+)$`

func (i *Identity) UnmarshalYAML(node ast.Node) error {
	s, err := stringValue(node, "<namespace>/<serviceaccount>")
	if err != nil {
		return err
	}
	if _, err := certs.ParseIdentity(s); err != nil {
		return &valueError{node: node, msg: err.Error()}
	}
	*i = Identity(s)
	return nil
}

func (Identity) jsonSchema() map[string]any {
	return map[string]any{"type": "string", "pattern": identityPattern}
}

// Runtime is how Envoy runs: in Docker or as a native process.
type Runtime string

// Runtimes are the values of runtime, as --runtime takes them.
var Runtimes = []string{"docker", "native"}

func (r *Runtime) UnmarshalYAML(node ast.Node) error {
	s, err := stringValue(node, "docker or native")
	if err != nil {
		return err
	}
	for _, ok := range Runtimes {
		if s == ok {
			*r = Runtime(s)
			return nil
		}
	}
	return &valueError{node: node, msg: fmt.Sprintf("%q is not a runtime; want docker or native", s)}
}

func (Runtime) jsonSchema() map[string]any {
	enum := make([]any, len(Runtimes))
	for i, r := range Runtimes {
		enum[i] = r
	}
	return map[string]any{"type": "string", "enum": enum}
}

// Mode is how names reach the mesh: the hosts file, or an HTTP proxy.
type Mode string

// Modes are the values of mode, as --mode takes them.
var Modes = []string{"hosts", "proxy"}

func (m *Mode) UnmarshalYAML(node ast.Node) error {
	s, err := stringValue(node, "hosts or proxy")
	if err != nil {
		return err
	}
	for _, ok := range Modes {
		if s == ok {
			*m = Mode(s)
			return nil
		}
	}
	return &valueError{node: node, msg: fmt.Sprintf("%q is not a mode; want hosts or proxy", s)}
}

func (Mode) jsonSchema() map[string]any {
	enum := make([]any, len(Modes))
	for i, m := range Modes {
		enum[i] = m
	}
	return map[string]any{"type": "string", "enum": enum}
}

// Port is a TCP port number, 1-65535.
type Port int

func (p *Port) UnmarshalYAML(node ast.Node) error {
	n, ok := node.(*ast.IntegerNode)
	if !ok {
		return &valueError{node: node, msg: fmt.Sprintf("want a port number, got %s", describe(node))}
	}
	var v int64
	switch x := n.Value.(type) {
	case int64:
		v = x
	case uint64:
		v = int64(min(x, 1<<20))
	}
	if v < 1 || v > 65535 {
		return &valueError{node: node, msg: fmt.Sprintf("%s is not a port number; want 1-65535", n.GetToken().Value)}
	}
	*p = Port(v)
	return nil
}

func (Port) jsonSchema() map[string]any {
	return map[string]any{"type": "integer", "minimum": 1, "maximum": 65535}
}

// stringValue is the text of a string scalar; anything else is an error saying what was wanted.
func stringValue(node ast.Node, want string) (string, error) {
	if s, ok := node.(*ast.StringNode); ok {
		return s.Value, nil
	}
	return "", &valueError{node: node, msg: fmt.Sprintf("want %s, got %s", want, describe(node))}
}

// describe names what a node is, for "want X, got Y".
func describe(node ast.Node) string {
	switch node.Type() {
	case ast.MappingType, ast.MappingValueType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	case ast.NullType:
		return "nothing"
	case ast.BoolType:
		return "a boolean"
	case ast.IntegerType, ast.FloatType, ast.InfinityType, ast.NanType:
		return "a number"
	}
	return node.String()
}

// valueError is a value that decoded but is not allowed; it keeps the node for its position.
type valueError struct {
	node ast.Node
	msg  string
}

func (e *valueError) Error() string { return e.msg }
