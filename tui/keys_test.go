package tui

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/meshjoin/meshjoin/session"
)

// keysMarkdown is docs/tui.md's key table, generated from the key map.
func keysMarkdown() string {
	var b strings.Builder
	b.WriteString("| where | key | what |\n|---|---|---|\n")
	for _, g := range groups {
		for _, k := range g.keys {
			key := k.Help().Key
			if !strings.Contains(key, " ") && key != "type" {
				key = "`" + key + "`"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", g.where, key, k.long)
		}
	}
	return b.String()
}

const (
	docsPath  = "../docs/tui.md"
	keysBegin = "<!-- keys: generated from tui/keys.go by `go test ./tui -run TestKeysDoc -update` -->\n"
	keysEnd   = "<!-- end of keys -->\n"
)

// TestKeysDoc fails when docs/tui.md's key table is not the key map's.
func TestKeysDoc(t *testing.T) {
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, keysBegin), strings.Index(doc, keysEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated key table between %q and %q", docsPath, keysBegin, keysEnd)
	}
	want := keysMarkdown()
	if got := doc[i+len(keysBegin) : j]; got != want {
		if *update {
			if err := os.WriteFile(docsPath, []byte(doc[:i+len(keysBegin)]+want+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s's key table drifted from the key map (run with -update):\n--- doc\n%s\n--- key map\n%s", docsPath, got, want)
	}
}

// keyMsg is the key press a binding's key string names.
func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "home":
		return tea.KeyPressMsg{Code: tea.KeyHome}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

// honestyStates are the places and states the TUI can be in, each built afresh per call.
func honestyStates() map[string]func(t *testing.T) *Model {
	return map[string]func(t *testing.T) *Model{
		"identity list": func(t *testing.T) *Model {
			f := newFake()
			f.accounts = []string{"dev/alice", "dev/bob", "qa/tester"}
			m := New(Options{Backend: f})
			feed(t, m, m.Init())
			press(t, m, "down")
			return m
		},
		"identity typing": func(t *testing.T) *Model {
			m := New(Options{Backend: newFake()})
			feed(t, m, m.Init())
			typeText(t, m, "dev/")
			return m
		},
		"picker loading": func(t *testing.T) *Model {
			m := New(Options{Backend: newFake(), Identity: "dev/alice"})
			m.busy = true
			return m
		},
		"picker on a service": func(t *testing.T) *Model {
			m, _ := opened(t)
			press(t, m, "down", "down")
			return m
		},
		"picker on a namespace row": func(t *testing.T) *Model {
			m, _ := opened(t)
			press(t, m, "g")
			return m
		},
		"picker with a filter": func(t *testing.T) *Model {
			m, _ := opened(t)
			press(t, m, "/")
			typeText(t, m, "s")
			press(t, m, "enter", "down")
			return m
		},
		"picker failed to connect": func(t *testing.T) *Model {
			f := newFake()
			f.openErr = errors.New("list services: forbidden")
			m := New(Options{Backend: f, Identity: "dev/alice"})
			feed(t, m, m.Init())
			return m
		},
		"picker when joined": func(t *testing.T) *Model {
			m, _ := joinedModel(t)
			press(t, m, "+", "down")
			return m
		},
		"filtering": func(t *testing.T) *Model {
			m, _ := opened(t)
			press(t, m, "/")
			typeText(t, m, "b")
			press(t, m, "down")
			return m
		},
		"progress": func(t *testing.T) *Model {
			m, _ := opened(t)
			m.pick.selected["ratings.bookinfo"] = true
			m.Update(keyMsg("enter")) // Start is not run: the join stays in flight
			m.Update(progressMsg{Step: session.StepToken})
			return m
		},
		"progress failed": func(t *testing.T) *Model {
			m, f := opened(t)
			f.startErr = errors.New("pull image: not found")
			m.pick.selected["ratings.bookinfo"] = true
			press(t, m, "enter")
			return m
		},
		"dashboard": func(t *testing.T) *Model {
			m, _ := joinedModel(t)
			return m
		},
		"dashboard on the last row": func(t *testing.T) *Model {
			m, _ := joinedModel(t)
			press(t, m, "down")
			return m
		},
		"dashboard that may go to the background": func(t *testing.T) *Model {
			m, _ := joinedModel(t)
			m.opts.OnBackground = func([]string) {}
			return m
		},
		"attached dashboard": func(t *testing.T) *Model {
			m, _ := joinedModel(t)
			m.opts.Attached = true
			return m
		},
		"help": func(t *testing.T) *Model {
			m, _ := joinedModel(t)
			press(t, m, "?")
			return m
		},
		"leaving": func(t *testing.T) *Model {
			m, _ := joinedModel(t)
			m.Update(keyMsg("q")) // the leave command is not run
			return m
		},
	}
}

// TestHelpHonesty: in every state, the help (and key line) lists exactly the keys that act:
// each listed key changes the screen or starts a command, and every other key of the key map
// does neither (typed text aside, where the place takes text).
func TestHelpHonesty(t *testing.T) {
	allKeys := map[string]bool{}
	for _, g := range groups {
		for _, b := range g.keys {
			for _, k := range b.Keys() {
				allKeys[k] = true
			}
		}
	}
	for name, build := range honestyStates() {
		t.Run(name, func(t *testing.T) { bubble(t, func(t *testing.T) { checkHonesty(t, name, build, allKeys) }) })
	}
}

func checkHonesty(t *testing.T, name string, build func(*testing.T) *Model, allKeys map[string]bool) {
	m := build(t)
	place := m.place()
	if name == "help" && place != "help" || name == "leaving" && place != "" {
		t.Fatalf("state %q is in place %q", name, place)
	}
	listed := map[string]bool{}
	var help []string
	for _, b := range m.active() {
		help = append(help, b.Help().Key)
		for _, k := range b.Keys() {
			listed[k] = true
		}
	}
	// The help screen shows exactly the active bindings.
	if place != "help" && place != "" {
		m.showHelp = true
		screen := m.Render()
		m.showHelp = false
		for _, r := range m.helpRows() {
			if !strings.Contains(screen, "  "+fmt.Sprintf("%-10s", r[0])+" "+r[1][:min(len(r[1]), 40)]) {
				t.Errorf("help screen lacks %q %q:\n%s", r[0], r[1], screen)
			}
		}
		if len(m.helpRows()) != len(help) {
			t.Errorf("help has %d rows, %d bindings act", len(m.helpRows()), len(help))
		}
	}
	for k := range allKeys {
		fresh := build(t)
		before := fresh.Render()
		_, cmd := fresh.Update(keyMsg(k))
		acted := cmd != nil || fresh.Render() != before
		typed := keyMsg(k).Text != "" && groupOf(place).typed != nil
		switch {
		case listed[k] && !acted && !(k == "ctrl+c" && place == ""):
			t.Errorf("%q is in the help but does nothing", k)
		case !listed[k] && acted && !typed && place != "help":
			t.Errorf("%q acts but the help does not list it (help: %v)", k, help)
		}
	}
}

// The key line lists only active bindings.
func TestKeyLineIsActiveBindings(t *testing.T) { bubble(t, testKeyLineIsActiveBindings) }

func testKeyLineIsActiveBindings(t *testing.T) {
	m, _ := joinedModel(t)
	line := m.keyLine(newStyles(false))
	for _, want := range []string{"+ add", "d remove", "c copy cmd", "l logs", "? help", "q leave"} {
		if !strings.Contains(line, want) {
			t.Errorf("key line %q lacks %q", line, want)
		}
	}
	m.busy = true // an apply runs: adding and removing wait
	line = m.keyLine(newStyles(false))
	if strings.Contains(line, "+ add") || strings.Contains(line, "d remove") {
		t.Errorf("key line %q offers + and d while busy", line)
	}
	if !slices.ContainsFunc(m.active(), func(b *binding) bool { return b == forceQuit }) {
		t.Error("ctrl+c is not active")
	}
}
