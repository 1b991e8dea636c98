// Package yamlerr says what went wrong in a YAML file the way its writer thinks of it: the
// errors of github.com/goccy/go-yaml's parser and strict decoder become "want a list, got a
// string" at the token they point at. The project file and the static mesh file share it.
package yamlerr

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Describe is the token err points at (nil when it points nowhere) and its message in YAML
// words; fieldsDoc is where the file's fields are listed, for an unknown field.
func Describe(err error, fieldsDoc string) (*token.Token, string) {
	var (
		typed *yaml.TypeError
		unk   *yaml.UnknownFieldError
		dup   *yaml.DuplicateKeyError
		node  *yaml.UnexpectedNodeTypeError
		ye    yaml.Error
	)
	switch {
	case errors.As(err, &typed):
		return typed.Token, fmt.Sprintf("want %s, got %s", KindOf(typed.DstType), KindOf(typed.SrcType))
	case errors.As(err, &unk):
		return unk.Token, unk.Message + "; the fields are listed in " + fieldsDoc
	case errors.As(err, &dup):
		return dup.Token, dup.Message
	case errors.As(err, &node):
		return node.Token, fmt.Sprintf("want %s, got %s", NodeKind(node.Expected), NodeKind(node.Actual))
	case errors.As(err, &ye):
		return ye.GetToken(), ye.GetMessage()
	}
	return nil, err.Error()
}

// KindOf says what a Go type is in YAML words ("nothing" for no type).
func KindOf(t reflect.Type) string {
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
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.Kind().String()
}

// NodeKind says what a YAML node is, in the same words.
func NodeKind(t ast.NodeType) string {
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

// KeyText is a mapping key's text, without the quotes it may be written with.
func KeyText(k ast.MapKeyNode) string {
	if s, ok := k.(*ast.StringNode); ok {
		return s.Value
	}
	return k.String()
}
