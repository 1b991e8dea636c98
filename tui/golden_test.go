package tui

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/meshjoin/meshjoin/session"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// screens builds each screen of the TUI from the fake backend, at a size.
func screens(t *testing.T, w, h int) map[string]*Model {
	t.Helper()
	size := func(m *Model) *Model { m.Update(tea.WindowSizeMsg{Width: w, Height: h}); return m }
	out := map[string]*Model{}

	f := newFake()
	f.accounts = []string{"dev/alice", "dev/bob", "qa/tester"}
	id := size(New(Options{Backend: f, KubeContext: "kind-dev"}))
	feed(t, id, id.Init())
	typeText(t, id, "dev/")
	out["identity"] = id

	loading := size(New(Options{Backend: newFake(), KubeContext: "kind-dev", Identity: "dev/alice"}))
	loading.busy = true
	out["loading"] = loading

	p, _ := opened(t)
	size(p)
	press(t, p, "down", "down", "space", "down", "down", "down")
	out["picker"] = p

	pf, _ := opened(t)
	size(pf)
	press(t, pf, "/")
	typeText(t, pf, "led")
	out["picker-filter"] = pf

	pr, _ := opened(t)
	size(pr)
	pr.pick.selected["ratings.bookinfo"] = true
	pr.pick.selected["ledger.payments"] = true
	pr.Update(tea.KeyPressMsg{Code: tea.KeyEnter}) // the start command is not run
	pr.Update(progressMsg{Step: session.StepToken})
	pr.Update(progressMsg{Step: session.StepToken, Done: true, Duration: 9 * time.Millisecond, Detail: "dev/alice"})
	pr.Update(progressMsg{Step: session.StepCertificate, Done: true, Duration: 31 * time.Millisecond, Detail: "spiffe://cluster.local/ns/dev/sa/alice until 13:00:00"})
	pr.Update(progressMsg{Step: session.StepEnvoyStart})
	out["progress"] = pr

	fl, ff := opened(t)
	size(fl)
	ff.startErr = errors.New(`pull image envoyproxy/envoy:v1.40.0: not found`)
	fl.opts.Hint = func(error) string {
		return "pull or load the image (`docker pull envoyproxy/envoy:v1.40.0`), or name another with --envoy-image"
	}
	fl.pick.selected["ratings.bookinfo"] = true
	_, cmd := fl.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	fl.Update(progressMsg{Step: session.StepToken, Done: true, Duration: 9 * time.Millisecond, Detail: "dev/alice"})
	fl.Update(progressMsg{Step: session.StepCertificate, Done: true, Duration: 31 * time.Millisecond})
	fl.Update(progressMsg{Step: session.StepEnvoyStart, Done: true, Duration: 1200 * time.Millisecond, Err: errors.New("x")})
	feed(t, fl, cmd)
	out["progress-failed"] = fl

	d, _ := joinedModel(t)
	size(d)
	out["dashboard"] = d

	dl, _ := joinedModel(t)
	size(dl)
	dl.opts.Logs = func() []string {
		return []string{"time=12:00:00 level=INFO msg=step step=envoy duration=1.529s ok=true", "time=12:00:01 level=INFO msg=step step=hosts duration=3ms ok=true"}
	}
	press(t, dl, "l")
	feed(t, dl, dl.readStatus())
	out["dashboard-logs"] = dl

	hp, _ := joinedModel(t)
	size(hp)
	press(t, hp, "?")
	out["help"] = hp

	lv, _ := joinedModel(t)
	size(lv)
	lv.Update(tea.KeyPressMsg{Code: 'q', Text: "q"}) // the leave command is not run
	out["leaving"] = lv
	return out
}

func TestTUIGolden(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {120, 40}} {
		renders := map[string]string{}
		bubble(t, func(t *testing.T) {
			for name, m := range screens(t, sz[0], sz[1]) {
				renders[name] = m.Render()
			}
		})
		for name, got := range renders {
			t.Run(fmt.Sprintf("%s-%dx%d", name, sz[0], sz[1]), func(t *testing.T) {
				lines := strings.Split(got, "\n")
				if len(lines) != sz[1] {
					t.Errorf("%d lines, want %d", len(lines), sz[1])
				}
				for i, l := range lines {
					if w := len([]rune(l)); w > sz[0] {
						t.Errorf("line %d is %d wide: %q", i, w, l)
					}
					if strings.Contains(l, "\x1b") {
						t.Errorf("line %d has escape codes with colour off: %q", i, l)
					}
				}
				checkGolden(t, filepath.Join("testdata", fmt.Sprintf("%s-%dx%d.golden", name, sz[0], sz[1])), got)
			})
		}
	}
}

// With colour on, styles wrap whole pieces of text: stripping the escape sequences gives the
// colour-off screen exactly (a cut sequence, like "›" + line[1:] once did, shows up as text
// such as "[91m!"). The coloured screens are golden files too.
func TestTUIGoldenColor(t *testing.T) {
	colour, plain := map[string]string{}, map[string]string{}
	bubble(t, func(t *testing.T) {
		for name, m := range screens(t, 80, 24) {
			if name == "dashboard" {
				press(t, m, "down") // the cursor off the row with errors: its ! is red
			}
			plain[name] = m.Render()
			m.opts.Color = true
			colour[name] = m.Render()
		}
	})
	for name, got := range colour {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(got, "\x1b[") {
				t.Fatal("no styles with colour on")
			}
			want := plain[name]
			if stripped := stripANSI(got); stripped != want {
				t.Errorf("colour screen without its escapes differs from the plain one:\n--- stripped\n%s\n--- plain\n%s", stripped, want)
			}
			checkGolden(t, filepath.Join("testdata", name+"-color-80x24.golden"), got)
		})
	}
}

// stripANSI removes escape sequences and the trailing blanks the plain screen trims.
func stripANSI(s string) string {
	lines := strings.Split(ansi.Strip(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%q\n--- want\n%q", path, got, want)
	}
}

func TestTUIColorHonoursNoColor(t *testing.T) {
	bubble(t, func(t *testing.T) {
		m, _ := opened(t)
		m.opts.Color = true
		if !strings.Contains(m.Render(), "\x1b[") {
			t.Fatal("no styles with colour on")
		}
	})
	t.Setenv("NO_COLOR", "1")
	o := Options{Color: true}
	applyEnv(&o)
	if o.Color {
		t.Fatal("NO_COLOR does not turn colour off")
	}
}
