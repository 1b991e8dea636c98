package hosts

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestReservedNames(t *testing.T) {
	t.Parallel()
	machine := []string{"dev-laptop.corp.example", "dev-laptop"}
	for name, reserved := range map[string]bool{
		"localhost": true, "LocalHost.": true, "localhost.localdomain": true, "db.localhost": true,
		"ip6-localhost": true, "ip6-allnodes": true, "broadcasthost": true,
		"dev-laptop": true, "DEV-LAPTOP.corp.example": true,
		"localhost.example.com": false, "myip6-host": false, "ratings.bookinfo": false, "dev-laptop2": false,
	} {
		if got := reservedFor(name, machine) != ""; got != reserved {
			t.Errorf("reservedFor(%q) = %v, want %v", name, got, reserved)
		}
	}
	if h, err := os.Hostname(); err == nil && h != "" && ReservedProblem(h) == "" {
		t.Errorf("this machine's own name %q is not reserved", h)
	}
}

// The user's own lines win: a name they already resolve is never written again, and they
// hear which line has it. Reserved names are refused too. Bytes outside the block never change.
func TestApplyLeavesUserAndReservedNames(t *testing.T) {
	t.Parallel()
	const user = "127.0.0.1\tlocalhost\r\n# 10.0.0.9 commented.out\r\n10.1.2.3 Build-Box  other.box # mine\r\nnot-an-ip shadow.box\r\n"
	path := writeTemp(t, user)
	f, err := open(path, "s", testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	host, _ := os.Hostname()
	rejected, err := f.Apply([]Entry{
		{IP: netip.MustParseAddr("127.77.0.2"), Names: []string{"build-box", "ok.mesh", "localhost", "ip6-loopback", "commented.out", "shadow.box"}},
		{IP: netip.MustParseAddr("127.77.0.3"), Names: []string{"other.box"}}, // every name taken: the entry goes
		{IP: netip.MustParseAddr("127.77.0.4"), Names: []string{host}},
	})
	if err != nil {
		t.Fatal(err)
	}
	why := map[string]string{}
	for _, r := range rejected {
		why[r.Name] = r.Reason
	}
	for name, words := range map[string]string{
		"build-box": "line 3 of " + path, "other.box": "your entry wins", "localhost": "reserved", "ip6-loopback": "ip6-",
	} {
		if !strings.Contains(why[name], words) {
			t.Errorf("%s: reason %q, want it to say %q", name, why[name], words)
		}
	}
	if host != "" && !strings.Contains(why[host], "own host name") {
		t.Errorf("own host name %q: reason %q", host, why[host])
	}
	b, _, err := f.Current()
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{netip.MustParseAddr("127.77.0.2"), []string{"ok.mesh", "commented.out", "shadow.box"}}}
	if !equalEntries(b.Entries, want) {
		t.Errorf("entries %v, want %v", b.Entries, want)
	}
	if _, err := f.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != user {
		t.Errorf("file after removal %q, want %q", got, user)
	}
	// Nothing left to write: the file is not touched at all.
	rejected, err = f.Apply([]Entry{{IP: netip.MustParseAddr("127.77.0.3"), Names: []string{"other.box"}}})
	if err != nil || len(rejected) != 1 || readFile(t, path) != user {
		t.Errorf("all names taken: rejected %v, err %v, file %q", rejected, err, readFile(t, path))
	}
}
