package helper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Status is what `meshjoin helper status` and doctor report.
type Status struct {
	Socket      string
	ServiceFile string // "" when not written
	Config      *Config
	ConfigErr   error
	Hello       *Hello // set when the helper answered and allows the caller
	Err         error  // why it did not
}

// Installed tells whether the helper's service or configuration is on this machine, or a
// helper answers on the socket (one run by hand).
func (s *Status) Installed() bool {
	var he *Error
	return s.ServiceFile != "" || s.Config != nil || s.Hello != nil || errors.As(s.Err, &he) && he.Kind != KindNotRunning
}

// Usable tells whether this user's meshjoin goes through the helper.
func (s *Status) Usable() bool { return s.Hello != nil }

// CheckStatus looks at what is installed and asks the helper at c's socket whether it serves
// the caller.
func CheckStatus(ctx context.Context, c *Client) *Status {
	st := &Status{Socket: c.Socket()}
	if f := ServiceFile(); f != "" {
		if _, err := os.Stat(f); err == nil {
			st.ServiceFile = f
		}
	}
	if _, err := os.Stat(DefaultConfig); err == nil {
		st.Config, st.ConfigErr = LoadConfig(DefaultConfig)
	}
	st.Hello, st.Err = c.Hello(ctx)
	if st.Err != nil {
		st.Hello = nil
	}
	return st
}

// Report words the status, one fact a line.
func (s *Status) Report() string {
	var b strings.Builder
	switch {
	case s.ServiceFile != "":
		fmt.Fprintf(&b, "installed:  yes (%s)\n", s.ServiceFile)
	case s.Config != nil:
		fmt.Fprintf(&b, "installed:  configuration only (%s), no service file\n", DefaultConfig)
	default:
		fmt.Fprintf(&b, "installed:  no\n")
	}
	switch {
	case s.Config != nil:
		fmt.Fprintf(&b, "allows:     %s, addresses in %s\n", s.Config.Who(), s.Config.Range)
	case s.ConfigErr != nil:
		fmt.Fprintf(&b, "config:     %v\n", s.ConfigErr)
	}
	var he *Error
	switch {
	case s.Hello != nil:
		fmt.Fprintf(&b, "running:    yes, on %s\nallowed:    yes (you are uid %d); it writes %s, addresses in %s\n",
			s.Socket, s.Hello.UID, s.Hello.HostsFile, s.Hello.Range)
	case errors.As(s.Err, &he) && he.Kind == KindPermission:
		fmt.Fprintf(&b, "running:    yes, on %s\nallowed:    no: %s\n", s.Socket, he.Message)
	default:
		fmt.Fprintf(&b, "running:    no (%v)\n", s.Err)
	}
	return b.String()
}
