#!/usr/bin/env bash
# `make demo`: the whole flow against the local test mesh, for someone without a cluster.
# Starts the test mesh and opens the TUI against it (identity dev/alice and the local Envoy
# image preset): pick services, join, curl them by name from another terminal. Leaving the TUI
# (q) cleans up and stops the test mesh too.
set -euo pipefail
source "$(dirname "$0")/testbed-bg.sh"
echo "==> opening the TUI; once joined, from another terminal try:"
echo "      curl http://ratings.bookinfo:9080/ratings/0"
KUBECONFIG="$work/kubeconfig" bin/meshjoin tui --identity dev/alice --envoy-image "$ENVOY_IMAGE" "$@"
echo "==> stopping the test mesh"
