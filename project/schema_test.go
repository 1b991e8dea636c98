package project

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite docs/meshjoin.schema.json from the Go types")

const publishedSchema = "../docs/meshjoin.schema.json"

// The published schema is exactly the one generated from the types the decoder fills.
func TestPublishedSchemaIsGenerated(t *testing.T) {
	if *update {
		if err := os.WriteFile(publishedSchema, Schema(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(publishedSchema)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, Schema()) {
		t.Fatalf("%s differs from the schema generated from project.File: run go test ./project -run TestPublishedSchema -update", publishedSchema)
	}
}

// loadPublished compiles docs/meshjoin.schema.json as an editor would (against the 2020-12 meta-schema).
func loadPublished(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(publishedSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("meshjoin.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("meshjoin.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validatePublished(t *testing.T, s *jsonschema.Schema, doc string) error {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// yamlBlock is a fenced YAML block in Markdown.
var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// Every example in the docs is valid for both the published schema and the strict decoder, and
// together they show every field the schema has.
func TestDocsExamplesValidate(t *testing.T) {
	s := loadPublished(t)
	used := map[string]bool{}
	n := 0
	for _, page := range []string{"../docs/project-file.md"} {
		md, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range yamlBlock.FindAllStringSubmatch(string(md), -1) {
			n++
			example := m[1]
			if err := validatePublished(t, s, example); err != nil {
				t.Errorf("%s example %d does not validate against the schema: %v\n%s", page, n, err, example)
			}
			if _, err := Decode(page, []byte(example)); err != nil {
				t.Errorf("%s example %d does not decode: %v\n%s", page, n, err, example)
			}
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(example), &doc); err == nil {
				collectKeys(doc, "", used)
			}
		}
	}
	if n < 3 {
		t.Fatalf("found %d YAML examples in the docs; the page has at least 3", n)
	}
	var missing []string
	for _, field := range schemaFields(t) {
		if !used[field] {
			missing = append(missing, field)
		}
	}
	if len(missing) > 0 {
		t.Errorf("no example in docs/project-file.md shows %v", missing)
	}
}

// collectKeys records the fields a document uses ("profiles.*.certTTL" for a profile's).
func collectKeys(doc map[string]any, prefix string, into map[string]bool) {
	for k, v := range doc {
		if prefix == "profiles." {
			k = "*"
		}
		into[prefix+k] = true
		if m, ok := v.(map[string]any); ok {
			collectKeys(m, prefix+k+".", into)
		}
	}
}

// schemaFields are the published schema's fields, as collectKeys names them.
func schemaFields(t *testing.T) []string {
	var doc map[string]any
	if err := json.Unmarshal(Schema(), &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	var rec func(props map[string]any, prefix string)
	rec = func(props map[string]any, prefix string) {
		for name, p := range props {
			out = append(out, prefix+name)
			pm := p.(map[string]any)
			if ap, ok := pm["additionalProperties"].(map[string]any); ok {
				if inner, ok := ap["properties"].(map[string]any); ok {
					rec(inner, prefix+name+".*.")
				}
			}
		}
	}
	rec(doc["properties"].(map[string]any), "")
	sort.Strings(out)
	return out
}

// What the decoder refuses for its type or value, the published schema refuses too (and the
// reverse holds because Decode validates against the same schema).
func TestSchemaRefusesWhatTheDecoderRefuses(t *testing.T) {
	s := loadPublished(t)
	for _, bad := range []string{
		"service: [ratings.bookinfo]\n",
		"profiles:\n  web:\n    certTtl: 1h\n",
		"context: 123\n",
		"services: ratings.bookinfo\n",
		"services: [42]\n",
		"bareNames: yes\n",
		"certTTL: 3600\n",
		"certTTL: 5x\n",
		"idleTimeout: -5m\n",
		"identity: alice\n",
		"identity: a/b/c\n",
		"runtime: podman\n",
		"profiles:\n  web: 3\n",
		"profiles:\n  'my web': {}\n",
		"envFile: [a]\n",
	} {
		if _, err := Decode("meshjoin.yaml", []byte(bad)); err == nil {
			t.Errorf("the decoder accepts %q", bad)
		}
		if err := validatePublished(t, s, bad); err == nil {
			t.Errorf("the published schema accepts %q", bad)
		}
	}
}

// Every field of File has a description, so editors explain it on hover.
func TestSchemaDescribesEveryField(t *testing.T) {
	if strings.Count(string(Schema()), `"description"`) < len(schemaFields(t))+1 {
		t.Errorf("some field has no doc tag:\n%s", Schema())
	}
}
