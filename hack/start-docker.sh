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
# --bip and --default-address-pool keep every Docker network in 198.18.0.0/15 (RFC 2544's
# benchmarking range): the published-ports tests send traffic to containers' addresses, and
# it must not go to a private range that real networks use (172.17/16 is Docker's default).
setsid dockerd --iptables=false --ip6tables=false --storage-driver=vfs \
  --bip 198.18.0.1/24 --default-address-pool base=198.18.0.0/16,size=24 >"$log" 2>&1 </dev/null &
for _ in $(seq 1 60); do
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "==> docker engine $(docker version --format '{{.Server.Version}}') running"; exit 0
  fi
  sleep 0.5
done
echo "dockerd did not start in 30s; see $log" >&2
tail -20 "$log" >&2
exit 1
