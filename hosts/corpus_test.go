package hosts

import (
	"net/netip"
	"strings"
)

// strangeFiles are hosts files without a meshjoin block whose bytes a careless editor would
// change. Adding a block and removing it must give each back byte for byte.
var strangeFiles = map[string]string{
	"empty":                  "",
	"plain":                  "127.0.0.1 localhost\n::1 localhost ip6-localhost\n",
	"no final newline":       "127.0.0.1 localhost\n::1 localhost",
	"one line no newline":    "127.0.0.1 localhost",
	"crlf":                   "127.0.0.1\tlocalhost   loopback\r\n::1\tip6-localhost\r\n",
	"crlf no final newline":  "127.0.0.1 localhost\r\n::1 localhost",
	"mixed line endings":     "a 127.0.0.1\r\n127.0.0.2 b\n# c\r\n",
	"lone cr at end":         "127.0.0.1 localhost\r",
	"lone cr in lf file":     "127.0.0.1 a\n127.0.0.2 b\r",
	"lone cr in crlf file":   "127.0.0.1 a\r\n127.0.0.2 b\r",
	"old mac cr only":        "127.0.0.1 a\r127.0.0.2 b\r",
	"bom":                    "\xef\xbb\xbf127.0.0.1 localhost\n",
	"bom only":               "\xef\xbb\xbf",
	"bom crlf":               "\xef\xbb\xbf# hosts\r\n127.0.0.1 localhost\r\n",
	"newline only":           "\n",
	"blank lines":            "\n\n\n",
	"crlf only":              "\r\n",
	"spaces only":            "   \t ",
	"tabs and odd spacing":   "  127.0.0.1 \t\t localhost  \t\n\t\n\v\f\n   ::1    ip6-localhost",
	"comments":               "# comment\n#\n   # indented comment\n#no space\n",
	"windows":                "# Copyright (c) 1993-2009 Microsoft Corp.\r\n#\r\n# 127.0.0.1 localhost\r\n",
	"nul and invalid utf8":   "127.0.0.1 a\x00b\n\xff\xfe\xfd\n\x00",
	"very long line":         "127.0.0.1 " + strings.Repeat("x", 100_000) + "\n",
	"very long last line":    "# " + strings.Repeat("y", 70_000),
	"many lines":             strings.Repeat("127.0.0.1 a b c\n", 5000),
	"mentions meshjoin":      "# installed meshjoin today\n# meshjoin BEGIN\n127.0.0.1 meshjoin # BEGIN meshjoin x\n## BEGIN meshjoin\n",
	"almost markers":         "# BEGIN meshjoinx a (managed)\n#BEGIN meshjoin a\n# END meshjoins\n# begin meshjoin a\n# BEGIN  meshjoin a\n",
	"marker text mid-line":   "127.0.0.1 a # END meshjoin\n",
	"trailing blanks no eol": "127.0.0.1 a\n \t",
	"unicode":                "127.0.0.1 bücher.example # ünïcödé\n",
}

// sampleEntries is a small realistic set.
func sampleEntries() []Entry {
	return []Entry{
		{IP: netip.MustParseAddr("127.77.0.2"), Names: []string{"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc", "ratings.bookinfo"}},
		{IP: netip.MustParseAddr("127.77.0.3"), Names: []string{"reviews.bookinfo.svc.cluster.local", "reviews.bookinfo.svc", "reviews.bookinfo"}},
	}
}
