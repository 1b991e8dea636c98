package project

import (
	"errors"
	"maps"
	"path/filepath"
	"testing"
)

func TestGRPCJSONField(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"meshjoin.yaml": `grpcJSON:
  ledger.payments: api/ledger.pb
profiles:
  admin:
    grpcJSON:
      ledger.payments:7071: /abs/admin.pb
`})
	p, err := Load(filepath.Join(dir, "meshjoin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for profile, want := range map[string]map[string]string{
		"":      {"ledger.payments": filepath.Join(dir, "api/ledger.pb")}, // relative to the file
		"admin": {"ledger.payments:7071": "/abs/admin.pb"},                // a profile's map replaces the top level's
	} {
		r, err := p.Resolve(profile)
		if err != nil || !maps.Equal(r.GRPCJSON, want) {
			t.Errorf("Resolve(%q).GRPCJSON = %v, %v; want %v", profile, r.GRPCJSON, err, want)
		}
	}

	for yaml, field := range map[string]string{
		"grpcJSON:\n  ledger.payments=x: a.pb\n":    "grpcJSON.ledger.payments=x",
		"grpcJSON:\n  ledger.payments:grpc: a.pb\n": "grpcJSON.ledger.payments:grpc",
		"grpcJSON: [a.pb]\n":                        "grpcJSON",
		"grpcJSON:\n  ledger.payments: 3\n":         "grpcJSON.ledger.payments",
	} {
		_, err := Decode("/repo/meshjoin.yaml", []byte(yaml))
		var fe *FileError
		if !errors.As(err, &fe) || fe.Field != field || fe.Line == 0 {
			t.Errorf("Decode(%q) = %v, want a *FileError at field %s with its line", yaml, err, field)
		}
	}
}
