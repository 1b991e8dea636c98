package helper

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/meshjoin/meshjoin/hosts"
	"github.com/meshjoin/meshjoin/internal/atomicfile"
)

// InstalledBinary is where install copies meshjoin for the service to run: a root-owned copy,
// because a root service must not run a binary its user could replace.
const InstalledBinary = "/usr/local/libexec/meshjoin/meshjoin"

// InstallOptions are install's flags.
type InstallOptions struct {
	Group string       // allow this group's members
	Users []string     // allow these users (names or uids)
	Range netip.Prefix // zero: hosts.DefaultPrefix
	Out   io.Writer    // what install did, for the person
}

// Install sets the helper up on this machine: the configuration, a root-owned copy of the
// running binary, and the service (systemd on Linux, launchd on macOS), started when the init
// system runs. It must run as root; Windows is refused (see docs/platforms.md).
func Install(o InstallOptions) error {
	if err := supported(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return refusal(KindPermission, "run it as root: `sudo meshjoin helper install`", "installing the helper needs root")
	}
	if !o.Range.IsValid() {
		o.Range = hosts.DefaultPrefix
	}
	cfg, err := configFor(o)
	if err != nil {
		return err
	}
	if err := CheckRangeHere(cfg.Range); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Created = createdDirs(filepath.Dir(InstalledBinary), filepath.Dir(DefaultConfig))
	if err := copyBinary(exe, InstalledBinary); err != nil {
		return fmt.Errorf("copy %s to %s: %w", exe, InstalledBinary, err)
	}
	if err := cfg.Write(DefaultConfig); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "Wrote %s: %s may use the helper, for addresses in %s.\n", DefaultConfig, cfg.Who(), cfg.Range)
	if runtime.GOOS == "darwin" {
		return installLaunchd(o.Out)
	}
	return installSystemd(o.Out)
}

func supported() error {
	switch runtime.GOOS {
	case "linux", "darwin":
		return nil
	}
	return refusal(KindUsage, "run meshjoin from a terminal opened as Administrator, or give --hosts-file a file you may write (docs/platforms.md)",
		"the privileged helper is not available on %s", runtime.GOOS)
}

// configFor resolves the allowed group and users to ids. Without either, the user who ran
// sudo is allowed.
func configFor(o InstallOptions) (*Config, error) {
	cfg := &Config{Range: o.Range.Masked()}
	if o.Range != o.Range.Masked() {
		return nil, refusal(KindUsage, "write the range's first address: --range "+o.Range.Masked().String(), "address range %s has host bits set", o.Range)
	}
	users := o.Users
	if o.Group == "" && len(users) == 0 {
		if su := os.Getenv("SUDO_USER"); su != "" && su != "root" {
			users = []string{su}
		} else {
			return nil, refusal(KindUsage, "say who may use it: --group <group> or --users <user>[,<user>]", "no group or users to allow")
		}
	}
	if o.Group != "" {
		g, err := user.LookupGroup(o.Group)
		if err != nil {
			return nil, refusal(KindUsage, "create the group first, or name an existing one", "group %q: %v", o.Group, err)
		}
		cfg.Group, cfg.GID = g.Name, g.Gid
	}
	for _, name := range users {
		u, err := user.Lookup(name)
		if err != nil {
			if u, err = user.LookupId(name); err != nil {
				return nil, refusal(KindUsage, "name existing users, separated by commas", "user %q: %v", name, err)
			}
		}
		var uid int
		fmt.Sscan(u.Uid, &uid)
		cfg.Users = append(cfg.Users, u.Username)
		cfg.UIDs = append(cfg.UIDs, uid)
	}
	return cfg, cfg.Validate()
}

func copyBinary(src, dst string) error {
	if same(src, dst) {
		return nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(dst, data, 0o755)
}

// createdDirs is the list of directories to record as install's own: those of dirs (and their
// parents) that do not exist yet, parents first, plus those an earlier install recorded.
func createdDirs(dirs ...string) []string {
	var created []string
	if old, err := LoadConfig(DefaultConfig); err == nil {
		created = old.Created
	}
	for _, d := range dirs {
		var missing []string
		for p := d; ; p = filepath.Dir(p) {
			if _, err := os.Stat(p); err == nil || p == filepath.Dir(p) {
				break
			}
			missing = append([]string{p}, missing...)
		}
		for _, m := range missing {
			if !slices.Contains(created, m) {
				created = append(created, m)
			}
		}
	}
	return created
}

func same(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

func installSystemd(out io.Writer) error {
	if err := atomicfile.WriteFile(UnitPath, []byte(SystemdUnit(InstalledBinary, DefaultConfig)), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "Wrote %s.\n", UnitPath)
	if !systemdRuns() {
		fmt.Fprintf(out, "systemd does not run here: start the helper yourself, as root, e.g. `%s helper serve &`.\n", InstalledBinary)
		return nil
	}
	for _, args := range [][]string{{"daemon-reload"}, {"enable", ServiceName}, {"restart", ServiceName}} {
		if err := runTool("systemctl", args...); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "Started %s.service; `meshjoin helper status` checks it.\n", ServiceName)
	return nil
}

func installLaunchd(out io.Writer) error {
	// Replace a job loaded before, which launchctl bootstrap would refuse.
	_ = exec.Command("launchctl", "bootout", "system/"+LaunchdLabel).Run()
	if err := atomicfile.WriteFile(PlistPath, []byte(LaunchdPlist(InstalledBinary, DefaultConfig)), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "Wrote %s.\n", PlistPath)
	if err := runTool("launchctl", "bootstrap", "system", PlistPath); err != nil {
		return err
	}
	fmt.Fprintf(out, "Started %s; `meshjoin helper status` checks it.\n", LaunchdLabel)
	return nil
}

// Uninstall stops the service and removes what Install wrote.
func Uninstall(out io.Writer) error {
	if err := supported(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return refusal(KindPermission, "run it as root: `sudo meshjoin helper uninstall`", "removing the helper needs root")
	}
	switch {
	case runtime.GOOS == "darwin":
		_ = exec.Command("launchctl", "bootout", "system/"+LaunchdLabel).Run()
	case systemdRuns():
		if err := runTool("systemctl", "disable", "--now", ServiceName); err != nil {
			fmt.Fprintf(out, "(%v)\n", err)
		}
	}
	var created []string
	if cfg, err := LoadConfig(DefaultConfig); err == nil {
		created = cfg.Created
	}
	var errs []error
	for _, p := range []string{ServiceFile(), DefaultConfig, InstalledBinary} {
		if err := os.Remove(p); err == nil {
			fmt.Fprintf(out, "Removed %s.\n", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	// Directories go when empty, deepest first: meshjoin's own (named for it, made by install
	// or by the helper for its socket), then the parents install recorded as its own.
	dirs := []string{filepath.Dir(DefaultSocket), filepath.Dir(InstalledBinary), filepath.Dir(DefaultConfig)}
	for _, d := range slices.Backward(created) {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.Remove(d); err == nil {
			fmt.Fprintf(out, "Removed %s.\n", d)
		}
	}
	if runtime.GOOS == "linux" && systemdRuns() {
		_ = runTool("systemctl", "daemon-reload")
	}
	return errors.Join(errs...)
}

func runTool(name string, args ...string) error {
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(b)))
	}
	return nil
}
