package ide

import (
	"fmt"
	"strings"
)

// InvalidFileError is an existing file the generator cannot read or parse; nothing is written.
type InvalidFileError struct {
	Path         string // relative to the project
	Line, Column int    // 0 when unknown
	Err          error
}

func (e *InvalidFileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %v", e.Path, e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}
func (e *InvalidFileError) Unwrap() error { return e.Err }

// UnknownConfigurationError is a configuration name that is not in the project.
type UnknownConfigurationError struct {
	Name  string
	Known []string // the configurations that can be given
}

func (e *UnknownConfigurationError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("no configuration %q: the project has none that can be copied", e.Name)
	}
	return fmt.Sprintf("no configuration %q; the project has: %s", e.Name, strings.Join(quoteAll(e.Known), ", "))
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}
