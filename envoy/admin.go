package envoy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
)

// ContainerAdminSocket is where Envoy's own admin interface listens inside the container: a
// unix socket in the container's file system, which nothing outside the container can open.
const ContainerAdminSocket = "/tmp/meshjoin-envoy-admin.sock"

// AdminListenerName is the bootstrap's static listener in front of Envoy's admin interface.
const AdminListenerName = "meshjoin-admin"

// AdminEndpoint is how meshjoin reaches the local Envoy's admin interface. Envoy's admin
// itself has no authentication, and anything on the workstation can reach 127.0.0.1 (a web
// page too: a cross-site POST to /quitquitquit needs no preflight). So the admin interface
// listens on a unix socket only, and a static listener on Addr forwards to it the requests
// that carry "authorization: Bearer <Token>".
type AdminEndpoint struct {
	Addr  string // 127.0.0.1:<admin port>
	Token string
}

// String leaves the token out, so a stray %v cannot log it.
func (a AdminEndpoint) String() string { return a.Addr + " (token redacted)" }

// GoString is String, for %#v.
func (a AdminEndpoint) GoString() string { return a.String() }

// NewAdminToken returns a random token for the admin listener.
func NewAdminToken() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return hex.EncodeToString(raw), nil
}

// Get fetches path from the admin interface. A status other than 200 is an error, except on
// /ready, whose body says the state either way.
func (a AdminEndpoint) Get(ctx context.Context, client *http.Client, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.Addr+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("envoy admin %s: %w", a.Addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("envoy admin %s%s: %w", a.Addr, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized || (path != "/ready" && resp.StatusCode != http.StatusOK) {
		return nil, fmt.Errorf("envoy admin %s%s: %s", a.Addr, path, resp.Status)
	}
	return body, nil
}
