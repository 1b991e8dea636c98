package ide

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"
)

// envLine is a KEY=VALUE line as VS Code's debug adapters (vscode-go's parseEnvFile, debugpy)
// read an envFile: "#" comments and blank lines skipped, optional quotes around the value,
// "\n" expanded inside double quotes.
var envLine = regexp.MustCompile(`^\s*(?:export\s+)?([\w.\-]+)\s*=\s*(.*?)\s*$`)

// ParseEnvFile reads a dotenv file into a map; lines that are not assignments are ignored.
func ParseEnvFile(b []byte) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		m := envLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v := m[2]
		switch {
		case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
			v = strings.ReplaceAll(v[1:len(v)-1], `\n`, "\n")
		case len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'':
			v = v[1 : len(v)-1]
		}
		env[m[1]] = v
	}
	return env
}
