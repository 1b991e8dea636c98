package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshjoin/meshjoin/envoy"
	"github.com/meshjoin/meshjoin/helper"
)

// A published address that macOS does not have (Docker Desktop) cannot be produced on Linux,
// where all of 127.0.0.0/8 is local: the mapping from error to exit code and hint is checked here.
func TestClassifyAddressUnavailable(t *testing.T) {
	err := fmt.Errorf("start envoy: %w", &envoy.AddressUnavailableError{Listener: "ratings.bookinfo:9080", Address: "127.77.0.5:9080"})
	code, hint := classify(err)
	if code != exitEnvironment || !strings.Contains(hint, "sudo ifconfig lo0 alias 127.77.0.5;") || !strings.Contains(hint, "--address-range") ||
		!strings.Contains(hint, "sudo meshjoin helper install") || strings.Index(hint, "sudo meshjoin helper install") > strings.Index(hint, "ifconfig") {
		t.Fatalf("classify = %d, %q", code, hint)
	}
}

// The forwarder of published mode may not bind a port below 1024 when meshjoin is not root (CI
// runs as root, so the mapping is checked here).
func TestClassifyAddressPermission(t *testing.T) {
	err := fmt.Errorf("start envoy: %w", &envoy.AddressPermissionError{Listener: "web.bookinfo:80", Address: "127.77.0.5:80"})
	code, hint := classify(err)
	if code != exitPermission || !strings.Contains(hint, "root") || !strings.Contains(hint, "1024") || !strings.Contains(hint, "sudo meshjoin helper install") {
		t.Fatalf("classify = %d, %q", code, hint)
	}
	// Asked, a helper that does not run says how to start it.
	stopped := &helper.Error{ErrorBody: helper.ErrorBody{Kind: helper.KindNotRunning, Message: "no helper answers", Next: "start it"}}
	err = fmt.Errorf("start envoy: %w", &envoy.AddressPermissionError{Listener: "web.bookinfo:80", Address: "127.77.0.5:80", Cause: stopped})
	if code, hint := classify(err); hint != "start it" || !strings.Contains(err.Error(), "the privileged helper did not open it: meshjoin helper: no helper answers") {
		t.Fatalf("classify = %d, %q for %v", code, hint, err)
	}
}
