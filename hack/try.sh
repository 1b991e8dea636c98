#!/usr/bin/env bash
# `make try`: meshjoin's main job against the local test mesh, for someone without a cluster.
# Starts the test mesh, joins a few of its services (real /etc/hosts, real Envoy in Docker),
# and on Ctrl-C leaves and stops the mesh.
set -euo pipefail
source "$(dirname "$0")/testbed-bg.sh"
echo "==> joining; from another terminal try:"
echo "      curl http://ratings.bookinfo:9080/ratings/0"
echo "      curl http://web.bookinfo/"
echo "    Ctrl-C leaves and stops the test mesh."
KUBECONFIG="$work/kubeconfig" bin/meshjoin join ratings.bookinfo productpage.bookinfo web.bookinfo ledger.payments db.payments \
  --identity dev/alice --envoy-image "$ENVOY_IMAGE" "$@"
