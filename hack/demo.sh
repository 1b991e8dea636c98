#!/usr/bin/env bash
# `make demo`: the whole flow against the local test mesh, for someone without a cluster.
# Starts the test mesh and opens the TUI against it (identity dev/alice and the local Envoy
# image preset): pick services, join, curl them by name from another terminal. Leaving the TUI
# (q) cleans up and stops the test mesh too.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/versions.sh
work=$(mktemp -d)
trap 'kill "$testbed_pid" 2>/dev/null; wait "$testbed_pid" 2>/dev/null; rm -rf "$work"' EXIT
go build -o bin/meshjoin ./cmd/meshjoin
go build -o "$work/testbed" ./testbed/cmd/meshjoin-testbed
"$work/testbed" -write-kubeconfig "$work/kubeconfig" >"$work/testbed.out" 2>&1 &
testbed_pid=$!
echo "==> starting the local test mesh ..."
for _ in $(seq 1 600); do
  grep -q "Test mesh ready" "$work/testbed.out" && break
  kill -0 "$testbed_pid" 2>/dev/null || { cat "$work/testbed.out"; exit 1; }
  sleep 0.2
done
grep -q "Test mesh ready" "$work/testbed.out" || { echo "the test mesh did not start:"; cat "$work/testbed.out"; exit 1; }
echo "==> opening the TUI; once joined, from another terminal try:"
echo "      curl http://ratings.bookinfo:9080/ratings/0"
KUBECONFIG="$work/kubeconfig" bin/meshjoin tui --identity dev/alice --envoy-image "$ENVOY_IMAGE" "$@"
echo "==> stopping the test mesh"
