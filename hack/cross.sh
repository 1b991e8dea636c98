#!/usr/bin/env bash
# Cross-builds for the platforms CI cannot run: every package builds, vets (tests included) and
# the platform packages' test binaries compile for darwin and windows. Called by `make lint`.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
# The packages with platform-specific code: their test binaries must build everywhere.
platform_pkgs=(./hosts ./session ./envoy ./cmd/meshjoin ./internal/atomicfile ./ide ./helper)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for target in darwin/arm64 darwin/amd64 windows/amd64 windows/arm64; do
  export GOOS=${target%/*} GOARCH=${target#*/} CGO_ENABLED=0
  echo "cross: $target"
  $GO build ./...
  $GO test -c -o "$out" "${platform_pkgs[@]}" >/dev/null
  # vet once per OS: the architecture changes no source file here.
  if [[ $GOARCH == arm64 && $GOOS == darwin || $GOARCH == amd64 && $GOOS == windows ]]; then
    $GO vet ./...
  fi
done
