package mesh

import (
	"bytes"
	"flag"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/meshjoin/meshjoin/project"
)

var updateSchema = flag.Bool("update", false, "rewrite docs/meshfile.schema.json from the Go types")

const publishedMeshFileSchema = "../docs/meshfile.schema.json"

func meshFileSchema() []byte {
	return project.SchemaFor(reflect.TypeFor[StaticFile](), StaticFileSchemaURL, "meshjoin static mesh file",
		"A mesh described for joining without Kubernetes API access: gateway, trust, services and the workload certificate's source. Fields: docs/mesh-file.md")
}

// The published schema is exactly the one generated from the types the decoder fills.
func TestPublishedMeshFileSchemaIsGenerated(t *testing.T) {
	if *updateSchema {
		if err := os.WriteFile(publishedMeshFileSchema, meshFileSchema(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(publishedMeshFileSchema)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, meshFileSchema()) {
		t.Fatalf("%s differs from the schema generated from mesh.StaticFile: run go test ./mesh -run TestPublishedMeshFileSchema -update", publishedMeshFileSchema)
	}
}

func compileMeshFileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(meshFileSchema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(StaticFileSchemaURL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(StaticFileSchemaURL)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateMeshFile(t *testing.T, s *jsonschema.Schema, doc string) error {
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

// What the file's checks accept the schema accepts (the fixture and every example of the
// docs), and the schema refuses what the checks refuse for its shape.
func TestMeshFileSchemaAgreesWithParser(t *testing.T) {
	s := compileMeshFileSchema(t)
	good := goodMeshFile(t)
	if err := validateMeshFile(t, s, good); err != nil {
		t.Errorf("the schema refuses a good file: %v", err)
	}
	page, err := os.ReadFile("../docs/mesh-file.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(page), -1)
	if len(examples) == 0 {
		t.Fatal("docs/mesh-file.md has no yaml example")
	}
	for i, ex := range examples {
		if err := validateMeshFile(t, s, ex[1]); err != nil {
			t.Errorf("docs/mesh-file.md example %d does not validate: %v\n%s", i+1, err, ex[1])
		}
	}
	for _, bad := range []struct{ old, new string }{
		{"trustDomain: cluster.local", "trustDomian: cluster.local"},
		{"version: 1", "version: 2"},
		{"version: 1\n", ""},
		{"number: 9080", "number: 70000"},
		{"protocol: http\n", "protocol: HTTPS\n"},
		{"name: TOKEN_PROFILE", "name: TOKEN-PROFILE"},
		{"kind: ServiceEntry", "kind: Entry"},
		{`gateways: ["203.0.113.10:15443", "gw.example.com:15443"]`, "gateways: []"},
	} {
		doc := strings.Replace(good, bad.old, bad.new, 1)
		if err := validateMeshFile(t, s, doc); err == nil {
			t.Errorf("the schema accepts %q → %q", bad.old, bad.new)
		}
		if _, err := ParseStaticFile("mesh.yaml", t.TempDir(), []byte(doc)); err == nil {
			t.Errorf("the parser accepts %q → %q", bad.old, bad.new)
		}
	}
}
