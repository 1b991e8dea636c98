//go:build tools

// Package deps pins libraries the project is about to use (the TUI), so that concurrent work
// does not race on go.mod.
package deps

import (
	_ "charm.land/bubbles/v2/list"
	_ "charm.land/bubbletea/v2"
	_ "charm.land/lipgloss/v2"
	_ "github.com/charmbracelet/x/exp/teatest/v2"
)
