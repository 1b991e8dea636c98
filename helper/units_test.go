package helper

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"howett.net/plist"
)

// TestSystemdUnitVerifies runs systemd's own checker on the unit install writes: it must load
// without a single warning (an unknown or misspelt setting is only a warning to systemd, and
// would silently drop a sandbox setting).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is missing: `make deps` installs the systemd package")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{exe, filepath.Join(t.TempDir(), "dir with space", "meshjoin")} {
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			t.Fatal(err)
		}
		if bin != exe {
			if err := os.Symlink(exe, bin); err != nil {
				t.Fatal(err)
			}
		}
		unit := filepath.Join(t.TempDir(), ServiceName+".service")
		if err := os.WriteFile(unit, []byte(SystemdUnit(bin, DefaultConfig)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify (ExecStart %s): %v\n%s", bin, err, out)
		}
	}
}

// TestSystemdVerifyCatchesMistakes: the check above is worth something only if systemd-analyze
// complains about a broken unit.
func TestSystemdVerifyCatchesMistakes(t *testing.T) {
	unit := filepath.Join(t.TempDir(), ServiceName+".service")
	bad := strings.Replace(SystemdUnit("/bin/true", DefaultConfig), "ProtectSystem=strict", "ProtectSystem=bogus", 1)
	if err := os.WriteFile(unit, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if !strings.Contains(string(out), "bogus") {
		t.Fatalf("systemd-analyze verify did not complain about ProtectSystem=bogus: %q", out)
	}
}

// TestLaunchdPlistParses reads the plist back with a property-list parser (what plutil -lint
// does on a Mac) and checks the keys launchd needs.
func TestLaunchdPlistParses(t *testing.T) {
	exe := `/Applications/Me & You/<meshjoin>`
	var job struct {
		Label             string
		ProgramArguments  []string
		RunAtLoad         bool
		KeepAlive         bool
		StandardErrorPath string
	}
	data := LaunchdPlist(exe, DefaultConfig)
	format, err := plist.Unmarshal([]byte(data), &job)
	if err != nil {
		t.Fatalf("the plist does not parse: %v\n%s", err, data)
	}
	if format != plist.XMLFormat {
		t.Errorf("format %d, want XML", format)
	}
	want := []string{exe, "helper", "serve", "--config", DefaultConfig}
	if job.Label != LaunchdLabel || !reflect.DeepEqual(job.ProgramArguments, want) || !job.RunAtLoad || !job.KeepAlive || job.StandardErrorPath == "" {
		t.Errorf("parsed %+v", job)
	}
	if filepath.Base(PlistPath) != LaunchdLabel+".plist" {
		t.Errorf("launchd expects the file named after the label: %s", PlistPath)
	}
}
