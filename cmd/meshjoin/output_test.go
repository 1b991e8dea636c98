package main

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/mesh"
)

// lowerCamel is Kubernetes' JSON naming: "identitiesExact", "containerID".
var lowerCamel = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// `services -o json` and `status -o json` (with or without a background session) name every
// field alike, in Kubernetes' lowerCamelCase: a field without a json tag would show its Go name.
func TestStructuredOutputNaming(t *testing.T) {
	for name, v := range map[string]any{
		"services -o json":              []mesh.Service{},
		"status -o json":                daemon.Status{},
		"status -o json, no background": daemon.Status{}.Status,
	} {
		for _, key := range jsonKeys(reflect.TypeOf(v), "") {
			if leaf := key[strings.LastIndex(key, ".")+1:]; !lowerCamel.MatchString(leaf) {
				t.Errorf("%s: field %s is not lowerCamelCase", name, key)
			}
		}
	}
	// The same thing has the same name in both: a port's number and protocol.
	svc, _ := json.Marshal(mesh.Service{Ports: []mesh.Port{{Number: 9080, Protocol: mesh.ProtocolHTTP}}})
	if !strings.Contains(string(svc), `"ports":[{"number":9080,"protocol":"http"}]`) {
		t.Errorf("services -o json ports: %s", svc)
	}
}

// jsonKeys lists the JSON object keys a value of type t can have, as dotted paths; embedded
// structs without a tag are flattened as encoding/json does. Types that marshal themselves
// (time.Time, json.RawMessage) are leaves.
func jsonKeys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.Implements(reflect.TypeFor[json.Marshaler]()) || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Marshaler]()) {
		return nil
	}
	var keys []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" {
			keys = append(keys, jsonKeys(f.Type, prefix)...)
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		keys = append(keys, prefix+tag)
		keys = append(keys, jsonKeys(f.Type, prefix+tag+".")...)
	}
	return keys
}
