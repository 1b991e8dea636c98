#!/usr/bin/env bash
# Builds istiod (pilot-discovery) from the istio.io/istio Go module into the cache, once per
# version, and caches Istio's CRDs (crd-all.gen.yaml) of that same version beside it.
# istio.io/istio is served by the Go module proxy as pseudo-versions; a throwaway module outside
# the repo requires it and builds the command (no replace directives needed).
set -euo pipefail
version="${ISTIO_VERSION:?}"
cache="${MESHJOIN_CACHE:-$HOME/.cache/meshjoin}"
out="$cache/pilot-discovery-$version"
crds="$cache/istio-crds-$version.yaml"
if [[ -x "$out" && -s "$crds" ]]; then echo "istiod $version: cached at $out"; exit 0; fi
start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
go mod init meshjoin.local/istiodbuild >/dev/null 2>&1
go mod edit -go="$(go env GOVERSION | sed 's/^go//')" -require="istio.io/istio@$version"
cat >tools.go <<'GO'
//go:build tools

package tools

import _ "istio.io/istio/pilot/cmd/pilot-discovery"
GO
GOFLAGS=-mod=mod go mod tidy >/dev/null
mkdir -p "$cache"
if [[ ! -x "$out" ]]; then
  CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out.tmp" istio.io/istio/pilot/cmd/pilot-discovery
  mv "$out.tmp" "$out"
fi
dir=$(go list -m -f '{{.Dir}}' istio.io/istio)
install -m 0644 "$dir/manifests/charts/base/files/crd-all.gen.yaml" "$crds.tmp"
mv "$crds.tmp" "$crds"
echo "istiod $version: built at $out in $(($(date +%s) - start)) s (CRDs at $crds)"
