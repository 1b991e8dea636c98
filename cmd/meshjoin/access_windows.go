package main

import (
	"os"

	"golang.org/x/sys/windows"
)

// mayWrite reports whether this process may write path: Windows has no access(2), so the file
// is opened for writing (without truncation, which changes nothing).
func mayWrite(path string) bool {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// isElevated reports whether this process runs with an elevated (Administrator) token.
func isElevated() bool { return windows.GetCurrentProcessToken().IsElevated() }
