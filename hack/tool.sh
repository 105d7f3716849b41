#!/usr/bin/env bash
# Installs a Go tool at a pinned version from the Go module proxy into
# bin/<name>-<version> (once; later runs reuse it) and prints its path.
# usage: hack/tool.sh NAME PACKAGE VERSION
set -euo pipefail
name=$1 pkg=$2 version=$3
bin="$(cd "$(dirname "$0")/.." && pwd)/bin"
target="$bin/$name-$version"
if [ ! -x "$target" ]; then
  echo "installing $name $version from the Go module proxy" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" go install "$pkg@$version" >&2
  mkdir -p "$bin"
  mv "$tmp/$(basename "${pkg%/v[0-9]*}")" "$target"
fi
echo "$target"
