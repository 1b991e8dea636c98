package certs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Token sources for a workstation without Kubernetes API access: a token someone else keeps
// in a file, or one a command prints (the way kubeconfig exec plugins hand out credentials).
// Either is read afresh for each certificate request, since such tokens are short-lived.

// FileTokenSource reads the token from a file on each call (a projected service-account token,
// or one a script refreshes).
type FileTokenSource struct{ Path string }

// Token is the file's content without surrounding white space.
func (s FileTokenSource) Token(context.Context) (string, error) {
	data, err := os.ReadFile(s.Path)
	if err != nil {
		return "", fmt.Errorf("read the token file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("the token file %s is empty", s.Path)
	}
	return tok, nil
}

// DefaultTokenCommandTimeout bounds one run of a token command when Timeout is zero.
const DefaultTokenCommandTimeout = 30 * time.Second

// ExecTokenSource runs a command on each call; its standard output is the token, either bare or
// as a Kubernetes ExecCredential (status.token), so a kubeconfig exec plugin can be used as is.
type ExecTokenSource struct {
	Command string
	Args    []string
	Env     []string      // "NAME=value", added to this process's environment
	Timeout time.Duration // zero means DefaultTokenCommandTimeout
}

// maxCommandOutput caps what is read of a token command's output: tokens are a few KiB.
const maxCommandOutput = 1 << 20

// Token runs the command. Its error output (never its standard output, which holds the token)
// explains a failure.
func (s ExecTokenSource) Token(ctx context.Context) (string, error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTokenCommandTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Command, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	var out, errOut limitedBuffer
	out.max, errOut.max = maxCommandOutput, 4096
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if msg != "" {
			msg = ": " + msg
		}
		if ctx.Err() != nil && !errors.Is(err, exec.ErrNotFound) {
			err = fmt.Errorf("%w after %s", ctx.Err(), timeout)
		}
		return "", fmt.Errorf("token command %s: %w%s", quoteShort(s.Command), err, msg)
	}
	tok := strings.TrimSpace(out.String())
	if strings.HasPrefix(tok, "{") {
		var cred struct {
			Status struct {
				Token string `json:"token"`
			} `json:"status"`
		}
		if err := json.Unmarshal([]byte(tok), &cred); err != nil || cred.Status.Token == "" {
			return "", fmt.Errorf("token command %s printed JSON that is not an ExecCredential with status.token", quoteShort(s.Command))
		}
		tok = cred.Status.Token
	}
	if tok == "" {
		return "", fmt.Errorf("token command %s printed nothing", quoteShort(s.Command))
	}
	return tok, nil
}

// limitedBuffer keeps the first max bytes written and drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
