#!/usr/bin/env bash
# Starts the Docker Engine when it is not already answering (these machines have no systemd).
set -euo pipefail
if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "==> docker engine $(docker version --format '{{.Server.Version}}') running"; exit 0
fi
log="${MESHJOIN_CACHE:-$HOME/.cache/meshjoin}/dockerd.log"
mkdir -p "$(dirname "$log")"
echo "==> starting dockerd (log: $log)"
# setsid: the engine outlives this script, as a system service would.
setsid dockerd --iptables=false --ip6tables=false --storage-driver=vfs >"$log" 2>&1 </dev/null &
for _ in $(seq 1 60); do
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "==> docker engine $(docker version --format '{{.Server.Version}}') running"; exit 0
  fi
  sleep 0.5
done
echo "dockerd did not start in 30s; see $log" >&2
tail -20 "$log" >&2
exit 1
