package helper

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/meshjoin/meshjoin/internal/atomicfile"
)

// Config is what install writes for the helper to read: who may ask, and for which addresses.
// The file is root's (0644): the helper refuses one that another user could have written.
type Config struct {
	Group string   `json:"group,omitempty"` // members of this group may ask
	GID   string   `json:"gid,omitempty"`   // the group's id, resolved at install
	Users []string `json:"users,omitempty"` // these users may ask (names, for people reading the file)
	UIDs  []int    `json:"uids,omitempty"`  // their ids, resolved at install: what is checked
	// Range holds every address the helper writes to the hosts file or aliases.
	Range netip.Prefix `json:"range"`
	// Created lists the directories install made (deepest last), which uninstall removes when
	// empty: only those, so a directory that was there before stays.
	Created []string `json:"created,omitempty"`
}

var (
	loopback  = netip.MustParsePrefix("127.0.0.0/8")
	localhost = netip.MustParseAddr("127.0.0.1")
)

// CheckRange tells why p cannot be the helper's range: it must be an IPv4 prefix inside
// 127.0.0.0/8 that leaves out 127.0.0.1 (the machine's own services answer there).
func CheckRange(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return errors.New("no address range")
	case !p.Addr().Is4() || !loopback.Contains(p.Addr()) || p.Bits() < loopback.Bits():
		return fmt.Errorf("address range %s is not inside 127.0.0.0/8: the helper only hands out loopback addresses", p)
	case p.Contains(localhost):
		return fmt.Errorf("address range %s contains 127.0.0.1, the machine's own address: choose a smaller one such as 127.77.0.0/16", p)
	}
	return nil
}

// Validate checks a configuration as install writes it and serve reads it.
func (c *Config) Validate() error {
	if err := CheckRange(c.Range); err != nil {
		return err
	}
	if c.Range != c.Range.Masked() {
		return fmt.Errorf("address range %s has host bits set: write %s", c.Range, c.Range.Masked())
	}
	if c.Group == "" && len(c.UIDs) == 0 {
		return errors.New("nobody is allowed: give --group or --users")
	}
	if c.Group != "" && c.GID == "" {
		return fmt.Errorf("group %s has no gid in the configuration", c.Group)
	}
	return nil
}

// Allows tells whether uid may use the helper, and if not why: root always may (it could
// write the file itself), an allowed user, or a member of the allowed group (looked up on
// every request, so adding someone to the group takes effect without a restart).
func (c *Config) Allows(uid int) (bool, string) {
	if uid == 0 || slices.Contains(c.UIDs, uid) {
		return true, ""
	}
	if c.GID != "" {
		u, err := user.LookupId(strconv.Itoa(uid))
		if err != nil {
			return false, fmt.Sprintf("uid %d is not a known user (%v)", uid, err)
		}
		gids, err := u.GroupIds()
		if err != nil {
			return false, fmt.Sprintf("the groups of %s cannot be read (%v)", u.Username, err)
		}
		if u.Gid == c.GID || slices.Contains(gids, c.GID) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("uid %d is neither an allowed user nor a member of the allowed group", uid)
}

// Who says whom the configuration allows, for messages.
func (c *Config) Who() string {
	var parts []string
	if c.Group != "" {
		parts = append(parts, "members of group "+c.Group)
	}
	if len(c.Users) > 0 {
		parts = append(parts, fmt.Sprintf("users %v", c.Users))
	}
	if len(parts) == 0 {
		return "root only"
	}
	return fmt.Sprintf("%s (and root)", joinOr(parts))
}

func joinOr(parts []string) string {
	if len(parts) == 2 {
		return parts[0] + " or " + parts[1]
	}
	return parts[0]
}

// LoadConfig reads the configuration at path. The file must belong to root and be writable by
// nobody else, since whoever writes it decides who may edit the system hosts file.
func LoadConfig(path string) (*Config, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("helper configuration %s does not exist: install the helper with `sudo meshjoin helper install`", path)
	}
	if err != nil {
		return nil, fmt.Errorf("helper configuration %s: %w", path, err)
	}
	if uid, ok := fileOwner(fi); ok && uid != 0 {
		return nil, fmt.Errorf("helper configuration %s belongs to uid %d, not root: refused", path, uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("helper configuration %s is writable by others (%s): refused", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("helper configuration %s: %w", path, err)
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("helper configuration %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("helper configuration %s: %w", path, err)
	}
	return &c, nil
}

// Write saves the configuration at path, root's and 0644, creating its directory (0755).
func (c *Config) Write(path string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o644)
}
