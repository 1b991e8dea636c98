package hosts

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("a", n) }
	// 4 labels of 63 plus 3 dots = 255; trim to exactly 253.
	name253 := (long(63) + "." + long(63) + "." + long(63) + "." + long(63))[:253]
	tests := []struct {
		name    string
		problem string // "" means valid; otherwise a substring of the error
	}{
		{"ratings.bookinfo.svc.cluster.local", ""},
		{"ratings.bookinfo", ""},
		{"Ratings.BookInfo.SVC", ""},
		{"localhost", ""},
		{"1password.com", ""},
		{"a-b.c-d", ""},
		{"xn--bcher-kva.example", ""},
		{long(63) + ".x", ""},
		{name253, ""},

		{"", "is empty"},
		{"evil\n127.0.0.1 bank.com", "line break"},
		{"evil\r", "line break"},
		{"two words", "whitespace"},
		{"tab\tname", "whitespace"},
		{"\vx", "whitespace"},
		{"name#comment", "'#'"},
		{"nul\x00byte", "NUL"},
		{long(300), "300 characters long"},
		{long(254), "limit is 253"},
		{long(64) + ".x", "label of 64 characters"},
		{"bücher.example", "non-ASCII"},
		{"\u212Aelvin.example", "non-ASCII"}, // KELVIN SIGN lower-cases to ASCII 'k'
		{"日本.jp", "non-ASCII"},
		{"\xff\xfe", "non-ASCII"},
		{"under_score", `'_'`},
		{"a/b", `'/'`},
		{"a:b", `':'`},
		{"a;b", `';'`},
		{"*.wildcard", `'*'`},
		{".leading", `starts with '.'`},
		{"trailing.", `ends with '.'`},
		{"-leading", `starts with '-'`},
		{"trailing-", `ends with '-'`},
		{"a.-b.c", `"-b"`},
		{"a.b-.c", `"b-"`},
		{"a..b", "empty label"},
		{"127.0.0.1", "IP address"},
		{"10.1.2.3", "IP address"},
	}
	for _, tt := range tests {
		err := validateName(tt.name)
		if tt.problem == "" {
			if err != nil {
				t.Errorf("validateName(%s) = %v, want nil", quoteName(tt.name), err)
			}
			continue
		}
		if err == nil {
			t.Errorf("validateName(%s) = nil, want an error containing %q", quoteName(tt.name), tt.problem)
			continue
		}
		if !strings.Contains(err.Error(), tt.problem) {
			t.Errorf("validateName(%s) = %q, want it to contain %q", quoteName(tt.name), err, tt.problem)
		}
		// The message quotes the name: a hostile name must not break the message over lines.
		if strings.ContainsAny(err.Error(), "\n\r\x00") {
			t.Errorf("validateName(%s) message contains a raw control character: %q", quoteName(tt.name), err)
		}
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	ip := netip.MustParseAddr
	tests := []struct {
		name     string
		in       []Entry
		want     []Entry
		rejected []Rejected
	}{
		{
			name: "lower-cased and deduplicated within an entry",
			in:   []Entry{{ip("127.77.0.2"), []string{"Ratings.Bookinfo", "ratings.bookinfo", "RATINGS.bookinfo.svc"}}},
			want: []Entry{{ip("127.77.0.2"), []string{"ratings.bookinfo", "ratings.bookinfo.svc"}}},
		},
		{
			name: "sorted by address, name order kept",
			in: []Entry{
				{ip("::1"), []string{"six"}},
				{ip("127.77.9.9"), []string{"b", "a"}},
				{ip("127.77.0.10"), []string{"c"}},
			},
			want: []Entry{
				{ip("127.77.0.10"), []string{"c"}},
				{ip("127.77.9.9"), []string{"b", "a"}},
				{ip("::1"), []string{"six"}},
			},
		},
		{
			name: "same address merged",
			in:   []Entry{{ip("127.77.0.2"), []string{"a"}}, {ip("127.77.0.2"), []string{"b", "a"}}},
			want: []Entry{{ip("127.77.0.2"), []string{"a", "b"}}},
		},
		{
			name:     "a name claimed by two addresses stays with the first",
			in:       []Entry{{ip("127.77.0.3"), []string{"a"}}, {ip("127.77.0.2"), []string{"A", "b"}}},
			want:     []Entry{{ip("127.77.0.2"), []string{"b"}}, {ip("127.77.0.3"), []string{"a"}}},
			rejected: []Rejected{{"A", "is already listed for 127.77.0.3"}},
		},
		{
			name: "hostile names rejected, entry with none left dropped",
			in: []Entry{
				{ip("127.77.0.2"), []string{"ok.svc", "bad name", "x\n127.0.0.1 bank"}},
				{ip("127.77.0.3"), []string{"#", "\x00"}},
			},
			want: []Entry{{ip("127.77.0.2"), []string{"ok.svc"}}},
			rejected: []Rejected{
				{"bad name", "contains whitespace"},
				{"x\n127.0.0.1 bank", "contains a line break"},
				{"#", "contains '#', which starts a comment in a hosts file"},
				{"\x00", "contains a NUL byte"},
			},
		},
		{
			name:     "no address",
			in:       []Entry{{Names: []string{"a"}}},
			rejected: []Rejected{{"a", "its entry has no IP address"}},
		},
		{
			name:     "zoned address",
			in:       []Entry{{ip("fe80::1%eth0"), []string{"a"}}},
			rejected: []Rejected{{"a", "its address fe80::1%eth0 has an IPv6 zone, which hosts files do not support"}},
		},
		{name: "entry without names", in: []Entry{{IP: ip("127.77.0.2")}}},
		{name: "nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rejected := normalize(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("entries = %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(rejected, tt.rejected) {
				t.Errorf("rejected = %q, want %q", rejected, tt.rejected)
			}
		})
	}
}

// validateName, for the tests, reports why name may not go into a hosts file, or nil if it may. Names are
// compared after lower-casing ASCII letters; everything else must be a digit, '-' or '.', laid
// out as DNS labels. Anything that could end a line or start a comment is refused, because a
// hosts line is all a resolver sees.
func validateName(name string) error {
	if p := nameProblem(name); p != "" {
		return fmt.Errorf("host name %s %s", quoteName(name), p)
	}
	return nil
}
