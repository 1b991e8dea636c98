package helper

import (
	"os"
	"runtime"
)

const (
	// DefaultSocket is where the installed helper listens.
	DefaultSocket = "/var/run/meshjoin/helper.sock"
	// DefaultConfig is the helper's root-owned configuration file.
	DefaultConfig = "/etc/meshjoin/helper.json"
	// SocketEnv names another socket for the client (tests, or a helper run by hand).
	SocketEnv = "MESHJOIN_HELPER_SOCKET"

	// ServiceName is the systemd unit's name (without .service).
	ServiceName = "meshjoin-helper"
	// UnitPath is where install writes the systemd unit.
	UnitPath = "/etc/systemd/system/" + ServiceName + ".service"
	// LaunchdLabel is the launchd job's label; PlistPath is its file, named after it as
	// launchd expects.
	LaunchdLabel = "dev.meshjoin.helper"
	PlistPath    = "/Library/LaunchDaemons/" + LaunchdLabel + ".plist"
)

// SocketPath is the socket the client talks to: $MESHJOIN_HELPER_SOCKET, else DefaultSocket.
func SocketPath() string {
	if p := os.Getenv(SocketEnv); p != "" {
		return p
	}
	return DefaultSocket
}

// ServiceFile is the service definition install writes on this OS, or "" where there is none.
func ServiceFile() string {
	switch runtime.GOOS {
	case "linux":
		return UnitPath
	case "darwin":
		return PlistPath
	}
	return ""
}

// MissingAliasHint is the Next: hint for a loopback address this machine lacks (macOS has only
// 127.0.0.1 on lo0): the helper first, which aliases addresses itself, then the manual command.
func MissingAliasHint(addr string) string {
	return "on macOS install the helper once, which adds the aliases itself: `sudo meshjoin helper install`; " +
		"or alias the address by hand (until reboot): sudo ifconfig lo0 alias " + addr +
		"; or choose addresses this machine has with --address-range"
}
