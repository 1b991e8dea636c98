#!/usr/bin/env bash
# Builds kube-apiserver from the k8s.io/kubernetes Go module into the cache, once per version.
# k8s.io/kubernetes pins its staging modules at v0.0.0, so a throwaway module replaces each
# of them with the matching published v0.X.Y.
set -euo pipefail
version="${KUBE_VERSION:?}"
cache="${MESHJOIN_CACHE:-$HOME/.cache/meshjoin}"
out="$cache/kube-apiserver-v$version"
if [[ -x "$out" ]]; then echo "kube-apiserver v$version: cached at $out"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
go mod init meshjoin.local/kubebuild >/dev/null 2>&1
go mod download -json "k8s.io/kubernetes@v$version" >mod.json
gomod=$(python3 -c 'import json,sys; print(json.load(open("mod.json"))["GoMod"])')
{
  echo "require k8s.io/kubernetes v$version"
  grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" \
    | awk -v v="v0.${version#1.}" '{print "replace " $1 " => " $1 " " v}'
} >>go.mod
cat >main.go <<'GO'
package main

import _ "k8s.io/kubernetes/cmd/kube-apiserver/app"

func main() {}
GO
GOFLAGS=-mod=mod go mod tidy >/dev/null
mkdir -p "$cache"
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$out.tmp" "$out"
echo "kube-apiserver v$version: built at $out"
