//go:build tools

// Package deps pins the libraries the project is built on while the code that uses them grows.
package deps

import (
	_ "github.com/cenkalti/backoff/v5"
	_ "github.com/docker/docker/client"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	_ "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	_ "github.com/gofrs/flock"
	_ "github.com/google/renameio/v2"
	_ "github.com/spf13/cobra"
	_ "github.com/txn2/txeh"
	_ "google.golang.org/grpc"
	_ "google.golang.org/grpc/interop/grpc_testing"
	_ "istio.io/api/security/v1alpha1"
	_ "k8s.io/client-go/kubernetes"
	_ "sigs.k8s.io/yaml"
)
