# Sourced by try.sh and demo.sh: builds meshjoin, starts the local test mesh in the background
# and waits until it is ready. Sets $work (holding $work/kubeconfig) and stops the mesh on exit.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source hack/versions.sh
work=$(mktemp -d)
testbed_pid=
trap 'if [[ -n "$testbed_pid" ]]; then kill "$testbed_pid" 2>/dev/null; wait "$testbed_pid" 2>/dev/null; fi; rm -rf "$work"' EXIT
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
