package yamlerr

import (
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// The strict decoder's errors, each in YAML words at the line it names.
func TestDescribe(t *testing.T) {
	type file struct {
		Name  string   `yaml:"name"`
		Port  int      `yaml:"port"`
		Hosts []string `yaml:"hosts"`
	}
	for _, tc := range []struct {
		doc, want string
		line      int
	}{
		{"name: a\nport: [1]\n", "want a number", 2},
		{"name: a\nhosts: x\n", "want a list, got a string", 2},
		{"name: a\nnmae: b\n", "unknown field \"nmae\"; the fields are listed in docs/x.md", 2},
		{"name: a\nname: b\n", "mapping key \"name\" already defined", 2},
		{"name: [a\n", "", 1},
	} {
		var f file
		err := yaml.UnmarshalWithOptions([]byte(tc.doc), &f, yaml.Strict(), yaml.DisallowUnknownField())
		if err == nil {
			t.Fatalf("%q decoded", tc.doc)
		}
		tok, msg := Describe(err, "docs/x.md")
		if !strings.Contains(msg, tc.want) || tok == nil || tok.Position.Line != tc.line {
			t.Errorf("%q: %q at %v, want %q at line %d (error: %v)", tc.doc, msg, tok, tc.want, tc.line, err)
		}
	}
}
