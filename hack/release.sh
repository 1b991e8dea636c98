#!/usr/bin/env bash
# Release archives in dist/: meshjoin for linux, darwin and windows on amd64 and arm64, with the
# version stamped in (`meshjoin version`), man pages and shell completions generated from the
# commands, and SHA-256 checksums. VERSION defaults to `git describe`.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=$(git rev-parse HEAD)
DATE=$(git log -1 --format=%cI) # the commit's time, not now: the same commit gives the same binaries
PKG=./cmd/meshjoin
DIST=dist
LDFLAGS="-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE"

rm -rf "$DIST"
mkdir -p "$DIST/.work"
work=$DIST/.work

# Man pages and completions come from the commands, through a binary for this machine.
CGO_ENABLED=0 $GO build -trimpath -ldflags "$LDFLAGS" -o "$work/meshjoin-host" $PKG
"$work/meshjoin-host" gen-docs "$work/docs" >/dev/null

for os in linux darwin windows; do
  for arch in amd64 arm64; do
    name=meshjoin_${VERSION}_${os}_${arch}
    stage=$work/$name
    mkdir -p "$stage"
    exe=meshjoin
    [[ $os == windows ]] && exe=meshjoin.exe
    echo "release: $os/$arch"
    CGO_ENABLED=0 GOOS=$os GOARCH=$arch $GO build -trimpath -ldflags "$LDFLAGS" -o "$stage/$exe" $PKG
    cp README.md "$stage/"
    cp -r "$work/docs/completions" "$stage/"
    if [[ $os == windows ]]; then
      # Windows has no man; the zip is what its users open. python3 is a `make deps` tool.
      (cd "$work" && python3 -m zipfile -c "../$name.zip" "$name")
    else
      cp -r "$work/docs/man" "$stage/"
      tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner --mtime="$DATE" -czf "$DIST/$name.tar.gz" "$name"
    fi
  done
done
(cd "$DIST" && sha256sum -- *.tar.gz *.zip > checksums.txt)

# Check what was built: six archives, checksums that verify, and the version in every binary
# (run where it can run, read from the build info elsewhere).
[[ $(ls "$DIST"/*.tar.gz "$DIST"/*.zip | wc -l) == 6 ]] || { echo "release: expected 6 archives" >&2; exit 1; }
(cd "$DIST" && sha256sum --quiet -c checksums.txt)
host=$($GO env GOOS)_$($GO env GOARCH)
for bin in "$work"/meshjoin_*/meshjoin "$work"/meshjoin_*/meshjoin.exe; do
  if [[ $bin == *_${host}/meshjoin ]]; then
    "$bin" version | grep -qF "meshjoin $VERSION (commit ${COMMIT:0:12}" || { echo "release: $bin version: $("$bin" version)" >&2; exit 1; }
  fi
  # -trimpath keeps -ldflags out of the build info (`go version -m`): look for the stamped strings.
  grep -aqF -- "$VERSION" "$bin" && grep -aqF -- "$COMMIT" "$bin" || { echo "release: $bin has no version stamped" >&2; exit 1; }
done
rm -rf "$work"
echo "release: $(ls "$DIST" | wc -l) files in $DIST/ for $VERSION"
cat "$DIST/checksums.txt"
