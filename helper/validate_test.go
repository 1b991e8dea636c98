package helper

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/hosts"
)

var testRange = netip.MustParsePrefix("127.77.0.0/16")

func entry(ip string, names ...string) hosts.Entry {
	return hosts.Entry{IP: netip.MustParseAddr(ip), Names: names}
}

func kindOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func TestCheckEntries(t *testing.T) {
	many := make([]string, maxNamesPerEntry+1)
	for i := range many {
		many[i] = "n" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + ".example"
	}
	tests := []struct {
		name    string
		entries []hosts.Entry
		says    string // "" = allowed
	}{
		{"a session's usual entry", []hosts.Entry{entry("127.77.1.2", "ratings.bookinfo.svc.cluster.local", "ratings.bookinfo")}, ""},
		{"no entries: removal", nil, ""},
		{"the range's edges", []hosts.Entry{entry("127.77.0.1", "a.example"), entry("127.77.255.254", "b.example")}, ""},
		{"just outside the range", []hosts.Entry{entry("127.78.0.1", "a.example")}, "outside the helper's range"},
		{"127.0.0.1", []hosts.Entry{entry("127.0.0.1", "a.example")}, "outside"},
		{"a public address", []hosts.Entry{entry("93.184.216.34", "bank.example")}, "outside"},
		{"IPv6", []hosts.Entry{entry("::1", "a.example")}, "outside"},
		{"IPv4-mapped inside", []hosts.Entry{entry("::ffff:127.77.1.2", "a.example")}, ""},
		{"no address", []hosts.Entry{{Names: []string{"a.example"}}}, "outside"},
		{"localhost", []hosts.Entry{entry("127.77.1.2", "localhost")}, "reserved"},
		{"under .localhost", []hosts.Entry{entry("127.77.1.2", "x.localhost")}, "reserved"},
		{"ip6-*", []hosts.Entry{entry("127.77.1.2", "ip6-allnodes")}, "IPv6 names"},
		{"a line break", []hosts.Entry{entry("127.77.1.2", "a\n127.0.0.1 evil")}, "line break"},
		{"a comment", []hosts.Entry{entry("127.77.1.2", "a#b")}, "comment"},
		{"whitespace", []hosts.Entry{entry("127.77.1.2", "a b")}, "whitespace"},
		{"a wildcard", []hosts.Entry{entry("127.77.1.2", "*.example")}, "only letters"},
		{"an address as a name", []hosts.Entry{entry("127.77.1.2", "10.0.0.1")}, "IP address"},
		{"non-ASCII", []hosts.Entry{entry("127.77.1.2", "bücher.example")}, "non-ASCII"},
		{"no names", []hosts.Entry{entry("127.77.1.2")}, "has 0 names"},
		{"too many names", []hosts.Entry{entry("127.77.1.2", many...)}, "names (1 to"},
		{"one bad name spoils the request", []hosts.Entry{entry("127.77.1.2", "fine.example"), entry("127.77.1.3", "localhost")}, "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkEntries(testRange, tt.entries)
			switch {
			case tt.says == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.says != "" && (err == nil || !strings.Contains(err.Error(), tt.says)):
				t.Fatalf("got %v, want a refusal saying %q", err, tt.says)
			case tt.says != "" && kindOf(err) != KindRefused:
				t.Fatalf("kind %q, want %q", kindOf(err), KindRefused)
			}
		})
	}
}

func TestOwnerTag(t *testing.T) {
	tests := []struct {
		owner   string
		uid     int
		session string
		ok      bool
	}{
		{OwnerTag(1000, "8c90b1acb927"), 1000, "8c90b1acb927", true},
		{OwnerTag(0, "rootsess"), 0, "rootsess", true},
		{"8c90b1acb927", 0, "", false}, // written without the helper
		{"uid:abc", 0, "", false},
		{"uid01:abc", 0, "", false}, // not how OwnerTag writes 1
		{"uid-1:abc", 0, "", false},
		{"uid1:a:b", 0, "", false},
		{"uid1:", 0, "", false},
		{"gid1:abc", 0, "", false},
	}
	for _, tt := range tests {
		uid, session, ok := ParseOwnerTag(tt.owner)
		if uid != tt.uid || session != tt.session || ok != tt.ok {
			t.Errorf("ParseOwnerTag(%q) = %d, %q, %v; want %d, %q, %v", tt.owner, uid, session, ok, tt.uid, tt.session, tt.ok)
		}
	}
	for _, id := range []string{"", "a:b", "a b", "uid0:x", strings.Repeat("a", 65), "a\nb"} {
		if err := checkSession(id); kindOf(err) != KindUsage {
			t.Errorf("session %q: %v, want a usage refusal", id, err)
		}
	}
}

func TestCheckRange(t *testing.T) {
	tests := []struct {
		prefix string
		says   string
	}{
		{"127.77.0.0/16", ""},
		{"127.94.3.0/24", ""},
		{"127.0.0.0/8", "contains 127.0.0.1"},
		{"127.0.0.0/24", "contains 127.0.0.1"},
		{"10.0.0.0/8", "not inside 127.0.0.0/8"},
		{"0.0.0.0/0", "not inside"},
		{"::1/128", "not inside"},
	}
	for _, tt := range tests {
		err := CheckRange(netip.MustParsePrefix(tt.prefix))
		if (tt.says == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.says) {
			t.Errorf("CheckRange(%s) = %v, want %q", tt.prefix, err, tt.says)
		}
	}
}

func TestRangeOverlap(t *testing.T) {
	ifaces := []InterfaceAddr{
		{"eth0", netip.MustParsePrefix("192.168.1.10/24")},
		{"weird0", netip.MustParsePrefix("127.94.5.1/32")},
		{"eth1", netip.MustParsePrefix("fe80::1/64")},
	}
	if why := RangeOverlap(testRange, ifaces); why != "" {
		t.Errorf("127.77.0.0/16: %s", why)
	}
	why := RangeOverlap(netip.MustParsePrefix("127.94.0.0/16"), ifaces)
	if !strings.Contains(why, "weird0") || !strings.Contains(why, "127.94.5.1/32") {
		t.Errorf("127.94.0.0/16 overlaps weird0: %q", why)
	}
}

func TestConfigAllows(t *testing.T) {
	c := &Config{Users: []string{"alice"}, UIDs: []int{1234}, Range: testRange}
	for uid, want := range map[int]bool{0: true, 1234: true, 1235: false} {
		if ok, why := c.Allows(uid); ok != want {
			t.Errorf("Allows(%d) = %v (%s), want %v", uid, ok, why, want)
		}
	}
	// The group is that of the user running the test: its members (the user) are allowed.
	gid := os.Getgid()
	c = &Config{Group: "g", GID: strconv.Itoa(gid), Range: testRange}
	if ok, why := c.Allows(os.Getuid()); !ok {
		t.Errorf("a member of the group is refused: %s", why)
	}
}

func TestLoadConfigRefusesWhatOthersCouldWrite(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "helper.json")
	c := &Config{Users: []string{"root"}, UIDs: []int{0}, Range: testRange}
	if err := c.Write(good); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(good); os.Geteuid() == 0 && err != nil {
		t.Fatalf("root's 0644 configuration refused: %v", err)
	}
	if err := os.Chmod(good, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(good); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("a world-writable configuration: %v", err)
	}
	for name, body := range map[string]string{
		"unknown.json":  `{"range":"127.77.0.0/16","uids":[1000],"hostsFile":"/etc/passwd"}`,
		"nobody.json":   `{"range":"127.77.0.0/16"}`,
		"range.json":    `{"range":"10.0.0.0/8","uids":[1000]}`,
		"hostbits.json": `{"range":"127.77.1.0/16","uids":[1000]}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(p); err == nil {
			t.Errorf("%s %s: accepted", name, body)
		}
	}
}

// TestServerOwnership drives the server's hosts logic on a temporary file: a block is tagged
// with the caller's uid; the same uid takes over its own earlier session's block; another uid
// can neither replace nor remove it; root can; a block written without the helper is left to
// root.
func TestServerOwnership(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	const user = "127.0.0.1 localhost\n"
	if err := os.WriteFile(path, []byte(user), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: &Config{UIDs: []int{1000, 1001}, Range: testRange}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), hostsPath: path}
	a := []hosts.Entry{entry("127.77.1.2", "ratings.bookinfo")}
	b := []hosts.Entry{entry("127.77.1.3", "reviews.bookinfo")}
	step := func(uid int, session string, entries []hosts.Entry, wantKind string) {
		t.Helper()
		_, err := s.applyHosts(uid, HostsRequest{Session: session, Entries: entries})
		if kindOf(err) != wantKind {
			t.Fatalf("uid %d session %s: %v, want kind %q", uid, session, err, wantKind)
		}
	}
	owner := func(uid int, session string) *HostsOwner {
		t.Helper()
		o, err := s.owner(uid, session)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	step(1000, "s1", a, "")
	if o := owner(1000, "s1"); !o.Found || o.Session != "s1" {
		t.Fatalf("owner for its writer: %+v", o)
	}
	if o := owner(1001, "x"); !o.Found || o.Session != "" || o.Owner != "uid1000:s1" {
		t.Fatalf("owner for another uid: %+v", o)
	}
	step(1001, "s2", b, KindConflict)   // another uid cannot replace
	step(1001, "s1", nil, KindConflict) // nor remove, even naming the session
	step(1000, "s3", b, "")             // the same uid takes over its own stale block
	step(1000, "s1", nil, "")           // the old session's removal leaves s3's block alone
	if o := owner(1000, "s3"); o.Session != "s3" {
		t.Fatalf("after the old session's removal: %+v", o)
	}
	step(0, "root", a, "") // root may
	step(0, "root", nil, "")
	if got, _ := os.ReadFile(path); string(got) != user {
		t.Fatalf("file after removal: %q", got)
	}
	// A block written without the helper (directly, as root, or through sudo).
	direct := user + "# BEGIN meshjoin 0123456789ab (managed by meshjoin; do not edit)\n127.77.9.9       x.bookinfo\n# END meshjoin\n"
	if err := os.WriteFile(path, []byte(direct), 0o644); err != nil {
		t.Fatal(err)
	}
	step(1000, "0123456789ab", a, KindConflict)
	step(1000, "0123456789ab", nil, KindConflict)
	if got, _ := os.ReadFile(path); string(got) != direct {
		t.Fatalf("a refused request changed the file: %q", got)
	}
}

// TestServerAliasOwnership checks the macOS path (commands recorded): an alias one user added
// can be neither removed nor added again by another user, whose whole request is then refused
// before any command runs; its owner and root may; once removed, anyone may add it.
func TestServerAliasOwnership(t *testing.T) {
	var ran []string
	s := &Server{cfg: &Config{UIDs: []int{1000, 1001}, Range: testRange}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		run: func(argv []string) error { ran = append(ran, strings.Join(argv, " ")); return nil }, aliasOS: true, aliasOwners: map[netip.Addr]int{}}
	a, b := netip.MustParseAddr("127.77.1.1"), netip.MustParseAddr("127.77.1.2")
	step := func(uid int, req AliasRequest, wantKind string, wantRan ...string) {
		t.Helper()
		ran = nil
		_, err := s.aliases(uid, req)
		if kindOf(err) != wantKind || strings.Join(ran, "; ") != strings.Join(wantRan, "; ") {
			t.Fatalf("uid %d %+v: %v, ran %q; want kind %q, ran %q", uid, req, err, ran, wantKind, wantRan)
		}
	}
	step(1000, AliasRequest{Add: []netip.Addr{a}}, "", "ifconfig lo0 alias 127.77.1.1/32 up")
	step(1001, AliasRequest{Remove: []netip.Addr{a}}, KindConflict)
	step(1001, AliasRequest{Add: []netip.Addr{b, a}}, KindConflict) // b is not added either
	step(1000, AliasRequest{Remove: []netip.Addr{a}}, "", "ifconfig lo0 -alias 127.77.1.1")
	step(1001, AliasRequest{Add: []netip.Addr{a}}, "", "ifconfig lo0 alias 127.77.1.1/32 up")
	step(0, AliasRequest{Remove: []netip.Addr{a}}, "", "ifconfig lo0 -alias 127.77.1.1")
}
