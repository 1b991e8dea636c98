package testbed

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
)

// envoyProcess is a real Envoy started from a static bootstrap.
type envoyProcess struct {
	*process
	adminAddr string
}

func startEnvoy(ctx context.Context, dir, name string, b *bootstrapv3.Bootstrap) (*envoyProcess, error) {
	bin, err := EnvoyBinary()
	if err != nil {
		return nil, err
	}
	cfg, err := marshalBootstrap(b)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		return nil, err
	}
	admin := b.GetAdmin().GetAddress().GetSocketAddress()
	args := []string{"-c", path, "--disable-hot-restart", "--concurrency", "1", "-l", "warning"}
	if b.GetNode().GetMetadata() == nil {
		// Static config: name it for its logs. One with metadata talks to istiod, which reads
		// the bootstrap's node id.
		args = append(args, "--service-node", name, "--service-cluster", "meshjoin-testbed")
	}
	p, err := startProcess(dir, name, bin, args...)
	if err != nil {
		return nil, err
	}
	e := &envoyProcess{process: p, adminAddr: hostPort(admin.GetAddress(), int(admin.GetPortValue()))}
	err = waitFor(ctx, p, name, func() error {
		resp, err := http.Get("http://" + e.adminAddr + "/ready")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if strings.TrimSpace(string(body)) != "LIVE" {
			return fmt.Errorf("/ready: %s", body)
		}
		return nil
	})
	if err != nil {
		p.stop()
		return nil, err
	}
	return e, nil
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

func portOf(addr string) uint32 {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return uint32(n)
}
