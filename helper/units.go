package helper

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// SystemdUnit is the unit install writes for a helper run from exe. The sandbox leaves the
// helper only what its powers need: /etc/hosts (which it rewrites in place when, as here,
// the file is a bind mount that rename cannot replace), the hosts file's lock in /run/lock,
// its socket's directory /run/meshjoin, and IPv4 sockets in the host's network for the
// listening sockets it hands over, whose traffic the cgroup's filter keeps to loopback
// (IPAddressAllow: sockets keep the cgroup they were made in). See systemd.exec(5) and
// systemd.resource-control(5).
func SystemdUnit(exe, config string) string {
	return fmt.Sprintf(`[Unit]
Description=meshjoin privileged helper (hosts block, loopback aliases, ports below 1024)
Documentation=https://github.com/meshjoin/meshjoin/blob/main/docs/platforms.md

[Service]
Type=simple
ExecStart=%s helper serve --config %s
Restart=on-failure
RuntimeDirectory=meshjoin
RuntimeDirectoryMode=0755
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/etc/hosts /run/lock
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET
IPAddressAllow=localhost
IPAddressDeny=any
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
`, systemdQuote(exe), systemdQuote(config))
}

// systemdQuote quotes a path for ExecStart when it has characters systemd would split on.
func systemdQuote(s string) string {
	if !strings.ContainsAny(s, " \t\"'\\;$%") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`)
	return `"` + r.Replace(s) + `"`
}

// LaunchdPlist is the launchd daemon install writes on macOS for a helper run from exe: started
// at boot and kept alive, its stderr in a log file. See launchd.plist(5).
func LaunchdPlist(exe, config string) string {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + LaunchdLabel + `</string>
	<key>ProgramArguments</key>
	<array>
`)
	for _, arg := range []string{exe, "helper", "serve", "--config", config} {
		b.WriteString("\t\t<string>")
		xml.EscapeText(&b, []byte(arg))
		b.WriteString("</string>\n")
	}
	b.WriteString(`	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<true/>
	<key>StandardErrorPath</key>
	<string>/var/log/meshjoin-helper.log</string>
</dict>
</plist>
`)
	return b.String()
}
