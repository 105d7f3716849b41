#!/usr/bin/env bash
# Builds the control plane that the envtest integration tests run (a real
# kube-apiserver and etcd) into bin/k8s/, from the Go module proxy, at the
# versions pinned by the tools modules under hack/tools/controlplane/.
#
# A warm tree does nothing: the binaries are rebuilt only when one is missing
# or when bin/k8s/.stamp (the pinned versions and a digest of the tools
# modules) no longer matches. Point KUBEBUILDER_ASSETS at the output
# directory to use them (the Makefile does).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/hack/tools/controlplane"
out="${CONTROLPLANE_DIR:-$root/bin/k8s}"
stamp="$out/.stamp"

# pinned prints the version that a tools module's go.mod requires of a module.
pinned() {
  awk -v m="$2" '($1 == m && $2 ~ /^v/) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$1/go.mod"
}

kube_version="$(pinned "$tools/kube-apiserver" k8s.io/kubernetes)"
etcd_version="$(pinned "$tools/etcd" go.etcd.io/etcd/server/v3)"
[ -n "$kube_version" ] && [ -n "$etcd_version" ] || { echo "controlplane: cannot read the pinned versions under $tools" >&2; exit 2; }

want="$(
  echo "kube-apiserver $kube_version"
  echo "etcd $etcd_version"
  cd "$tools" && cat kube-apiserver/go.mod kube-apiserver/go.sum etcd/go.mod etcd/go.sum etcd/main.go | sha256sum | awk '{print "tools " $1}'
)"

rebuild_all=false
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  rebuild_all=true
fi
if ! $rebuild_all && [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ]; then
  exit 0
fi

# A machine-wide cache keyed by the stamp lets a fresh clone on a machine
# that built the control plane before reuse it instead of building again.
cache="${NODEWRIGHT_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/nodewright}/controlplane/$(echo "$want" | sha256sum | cut -c1-16)"
mkdir -p "$out"
if [ -x "$cache/kube-apiserver" ] && [ -x "$cache/etcd" ]; then
  cp -f "$cache/kube-apiserver" "$cache/etcd" "$out/"
  echo "$want" > "$stamp"
  echo "controlplane: kube-apiserver $kube_version and etcd $etcd_version from the machine cache"
  exit 0
fi
# The tools modules are built on their own: no go.work of the caller, static
# binaries without debug information (they are only run, never debugged).
export GOWORK=off CGO_ENABLED=0

# build NAME VERSION DIR PACKAGE [GO BUILD FLAGS...] builds one binary into a
# temporary file and moves it into place, so an interrupted build leaves
# nothing half-written behind.
build() {
  local name="$1" version="$2" dir="$3" pkg="$4"
  shift 4
  if ! $rebuild_all && [ -x "$out/$name" ]; then
    return 0
  fi
  echo "controlplane: building $name $version from the Go module proxy (first run only, a few minutes)"
  local start tmp
  start=$(date +%s)
  tmp="$(mktemp "$out/.$name.XXXXXX")"
  if ! (cd "$dir" && go build -trimpath "$@" -o "$tmp" "$pkg"); then
    rm -f "$tmp"
    echo "controlplane: building $name failed" >&2
    return 1
  fi
  chmod 0755 "$tmp"
  mv -f "$tmp" "$out/$name"
  echo "controlplane: built $out/$name in $(( $(date +%s) - start ))s"
}

rm -f "$stamp"
kube_minor="${kube_version#v1.}"
kube_minor="${kube_minor%%.*}"
# The version variables make /version and the apiserver's own compatibility
# version report the pinned release instead of a development build.
build kube-apiserver "$kube_version" "$tools/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver \
  -ldflags="-s -w \
    -X k8s.io/component-base/version.gitVersion=$kube_version \
    -X k8s.io/component-base/version.gitMajor=1 \
    -X k8s.io/component-base/version.gitMinor=$kube_minor \
    -X k8s.io/component-base/version.gitTreeState=clean"
build etcd "$etcd_version" "$tools/etcd" . -ldflags="-s -w"
echo "$want" > "$stamp"
if mkdir -p "$cache" 2>/dev/null; then
  cp -f "$out/kube-apiserver" "$out/etcd" "$cache/" 2>/dev/null || true
fi
