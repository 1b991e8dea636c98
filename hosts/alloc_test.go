package hosts

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestAddressForIsStable(t *testing.T) {
	t.Parallel()
	// Pinned: these must not change between releases, or every user's addresses move.
	golden := map[string]string{
		"ratings.bookinfo": "127.77.119.84", // FNV-1a 64 mod 2^16, checked with an independent implementation
		"reviews.bookinfo": "127.77.63.13",
		"":                 "127.77.35.37",
	}
	for key, want := range golden {
		got, err := Allocator{}.AddressFor(key, nil)
		if err != nil || got.String() != want {
			t.Errorf("AddressFor(%q) = %v, %v; want %s", key, got, err, want)
		}
	}
}

func TestAddressForProbesAndSkips(t *testing.T) {
	t.Parallel()
	a := Allocator{Prefix: netip.MustParsePrefix("127.77.0.0/16")}
	first, _ := a.AddressFor("ratings.bookinfo", nil)
	second, err := a.AddressFor("ratings.bookinfo", map[netip.Addr]bool{first: true})
	if err != nil || second == first || !a.Prefix.Contains(second) {
		t.Errorf("with %v taken got %v, %v", first, second, err)
	}

	// Fill a /24 completely: 254 addresses (no .0, no .255), all distinct, then an error.
	small := Allocator{Prefix: netip.MustParsePrefix("127.88.1.0/24")}
	taken := map[netip.Addr]bool{}
	for i := range 254 {
		ip, err := small.AddressFor(fmt.Sprintf("svc-%d", i), taken)
		if err != nil {
			t.Fatalf("address %d: %v", i, err)
		}
		if b := ip.As4(); b[3] == 0 || b[3] == 255 || taken[ip] || !small.Prefix.Contains(ip) {
			t.Fatalf("address %d: %v", i, ip)
		}
		taken[ip] = true
	}
	if ip, err := small.AddressFor("one-too-many", taken); err == nil || !strings.Contains(err.Error(), "larger prefix") {
		t.Errorf("full prefix gave %v, %v", ip, err)
	}
}

func TestAddressForEdgePrefixes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix string
		want   []string // every address it can hand out, or nil for an error
	}{
		{"127.0.0.0/29", []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"}}, // not 127.0.0.1
		{"127.77.0.128/30", []string{"127.77.0.129", "127.77.0.130"}},                               // not .128, .131
		{"127.77.1.7/31", nil}, // network and broadcast only
		{"127.77.1.7/32", nil},
		{"10.0.0.0/30", nil}, // not loopback
		{"0.0.0.0/0", nil},   // contains loopback, but is not inside it
		{"127.255.255.252/30", []string{"127.255.255.253", "127.255.255.254"}},
		{"::1/128", nil},
		{"fd00::/64", nil},
	}
	for _, tt := range tests {
		a := Allocator{Prefix: netip.MustParsePrefix(tt.prefix)}
		taken := map[netip.Addr]bool{}
		var got []string
		for {
			ip, err := a.AddressFor("k", taken)
			if err != nil {
				break
			}
			taken[ip] = true
			got = append(got, ip.String())
		}
		if fmt.Sprint(sorted(got)) != fmt.Sprint(tt.want) {
			t.Errorf("%s hands out %v, want %v", tt.prefix, got, tt.want)
		}
	}
}

func sorted(s []string) []netip.Addr {
	var out []netip.Addr
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
