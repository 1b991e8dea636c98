#!/usr/bin/env bash
# `make try`: meshjoin's main job against the local test mesh, for someone without a cluster.
# Starts the test mesh, joins a few of its services (real /etc/hosts, real Envoy in Docker),
# and on Ctrl-C leaves and stops the mesh.
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
echo "==> joining; from another terminal try:"
echo "      curl http://ratings.bookinfo:9080/ratings/0"
echo "      curl http://web.bookinfo/"
echo "    Ctrl-C leaves and stops the test mesh."
KUBECONFIG="$work/kubeconfig" bin/meshjoin join ratings.bookinfo productpage.bookinfo web.bookinfo ledger.payments db.payments \
  --identity dev/alice --envoy-image "$ENVOY_IMAGE" "$@"
