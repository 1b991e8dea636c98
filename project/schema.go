package project

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaURL is where editors fetch the published schema (docs/meshjoin.schema.json on main).
const SchemaURL = "https://raw.githubusercontent.com/meshjoin/meshjoin/main/docs/meshjoin.schema.json"

// SchemaComment is the first line of a project file that makes editors (yaml-language-server:
// VS Code's YAML extension, JetBrains IDEs) complete and check it.
const SchemaComment = "# yaml-language-server: $schema=" + SchemaURL

// Schema is the JSON Schema (draft 2020-12) of meshjoin.yaml, generated from [File]: field names
// from the yaml tags, descriptions from the doc tags, value rules from the field types. It is
// published as docs/meshjoin.schema.json (a test keeps that file equal to this).
func Schema() []byte {
	return SchemaFor(reflect.TypeFor[File](), SchemaURL, "meshjoin project file (meshjoin.yaml, meshjoin.local.yaml)",
		"Which services this repository joins to the mesh, as whom, and how. Fields and precedence: docs/project-file.md")
}

// SchemaFor is the JSON Schema (draft 2020-12) of the YAML file that decodes into t, made as
// Schema's: besides yaml and doc, the tags required:"true", enum:"a|b", pattern, items (the
// pattern of a list's strings), minItems, minimum and maximum constrain a field. Other files
// of meshjoin (the static mesh file) publish theirs with it.
func SchemaFor(t reflect.Type, id, title, description string) []byte {
	root := objectSchema(t)
	doc := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         id,
		"title":       title,
		"description": description,
	}
	for k, v := range root {
		doc[k] = v
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		panic(err) // maps of strings, bools and slices always encode
	}
	return b.Bytes()
}

// objectSchema describes a struct: one property per yaml-tagged field, embedded (inline)
// structs flattened, nothing else allowed.
func objectSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if f.Anonymous && strings.Contains(opts, "inline") {
				add(f.Type)
				continue
			}
			if name == "" || name == "-" {
				continue
			}
			p := valueSchema(f.Type, f.Tag)
			if d := f.Tag.Get("doc"); d != "" {
				p["description"] = d
			}
			props[name] = p
			if f.Tag.Get("required") == "true" {
				required = append(required, name)
			}
		}
	}
	add(t)
	s := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// valueSchema describes one field's value.
func valueSchema(t reflect.Type, tag reflect.StructTag) map[string]any {
	if st, ok := reflect.Zero(t).Interface().(schemaType); ok {
		return st.jsonSchema()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return valueSchema(t.Elem(), tag)
	case reflect.String:
		s := map[string]any{"type": "string"}
		if p := tag.Get("pattern"); p != "" {
			s["pattern"] = p
		}
		if e := tag.Get("enum"); e != "" {
			s["enum"] = strings.Split(e, "|")
		}
		return s
	case reflect.Int:
		s := map[string]any{"type": "integer"}
		for _, k := range []string{"minimum", "maximum"} {
			if v, err := strconv.Atoi(tag.Get(k)); err == nil {
				s[k] = v
			}
		}
		if e := tag.Get("enum"); e != "" {
			var enum []int
			for _, v := range strings.Split(e, "|") {
				n, err := strconv.Atoi(v)
				if err != nil {
					panic(fmt.Sprintf("project: enum value %q of an integer field", v)) // caught by the schema tests
				}
				enum = append(enum, n)
			}
			s["enum"] = enum
		}
		return s
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Slice:
		items := valueSchema(t.Elem(), "")
		if p := tag.Get("items"); p != "" {
			items["pattern"] = p
		}
		s := map[string]any{"type": "array", "items": items}
		if n, err := strconv.Atoi(tag.Get("minItems")); err == nil {
			s["minItems"] = n
		}
		return s
	case reflect.Map:
		m := map[string]any{"type": "object", "additionalProperties": valueSchema(t.Elem(), "")}
		if p := tag.Get("names"); p != "" {
			m["propertyNames"] = map[string]any{"pattern": p}
		}
		return m
	case reflect.Struct:
		return objectSchema(t)
	}
	panic(fmt.Sprintf("project: no JSON Schema for field type %s", t)) // caught by the schema test
}

// compiled is Schema, ready to validate decoded documents.
var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(SchemaURL)
})
