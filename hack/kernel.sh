#!/usr/bin/env bash
# Sets up what hack/kernel-test.sh boots: qemu-system-x86 and a static
# busybox (installed through apt-get when missing and run as root; otherwise
# it names the packages to install and fails), and Debian's cloud kernel,
# vmlinuz and the modules the kernel tests load (tls, bonding, veth and what
# they depend on), unpacked into bin/kernel/<kernel release>/. Prints that
# directory on stdout.
#
# The kernel is the one the metapackage linux-image-cloud-amd64 points at
# (its ABI number moves with Debian's updates), fetched with apt-get download
# and unpacked with dpkg -x. A warm tree only checks which version is current
# (asking apt-cache, about a second, only when the package lists changed) and
# prints the directory. The directory holds:
#   vmlinuz        the kernel
#   modules/*.ko   the modules, uncompressed
#   modules.load   their file names in load order (dependencies first)
#   .stamp         package, version and module list it was made from
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_base="${KERNEL_DIR:-$root/bin/kernel}"
meta=linux-image-cloud-amd64
wanted=(tls bonding veth)

say() { echo "kernel: $*" >&2; }
die() { echo "kernel: $*" >&2; exit 1; }

# --- programs: qemu-system-x86_64 and a static busybox -------------------

installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed; }

apt_updated=${NODEWRIGHT_KERNEL_APT_UPDATED:+true}
apt_updated=${apt_updated:-false}
apt_update() {
  $apt_updated && return 0
  apt-get update -qq
  apt_updated=true
}

missing=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
# The initramfs needs a busybox that runs without shared libraries; Debian's
# busybox package is dynamic, busybox-static (which replaces it) is not.
if command -v dpkg-query >/dev/null 2>&1; then
  installed busybox-static || missing+=(busybox-static)
else
  command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing: ${missing[*]} (first run only, about a minute)"
    export DEBIAN_FRONTEND=noninteractive
    apt_update
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    die "missing programs; install the Debian packages: ${missing[*]} (apt-get install --no-install-recommends ${missing[*]})"
  fi
fi

# --- the kernel -------------------------------------------------------------

# resolve prints the versioned kernel package the metapackage depends on and
# its version, from the candidate's "Depends: linux-image-X (= V)" (one
# apt-cache call: without apt's binary cache each one reads every package
# list, most of a second). The answer is kept in bin/kernel/.resolved and
# reused while no package list is newer than it.
lists=/var/lib/apt/lists
resolved="$out_base/.resolved"
resolve() {
  if [ -s "$resolved" ] && [ -d "$lists" ] && [ -z "$(find "$lists" -maxdepth 1 -newer "$resolved" -name '*Packages*' -print -quit)" ]; then
    cat "$resolved"
    return 0
  fi
  local answer
  answer="$(apt-cache show --no-all-versions "$meta" 2>/dev/null |
    awk '$1 == "Depends:" { for (i = 2; i <= NF; i++) if ($i ~ /^linux-image-[0-9]/) { v = $(i+2); sub(/\)?,?$/, "", v); print $i, v; exit } }')"
  [ -n "$answer" ] || return 1
  mkdir -p "$out_base" && echo "$answer" > "$resolved"
  echo "$answer"
}

read -r pkg version < <(resolve || true) || true
if [ -z "${pkg:-}" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt_update
  read -r pkg version < <(resolve || true) || true
fi
if [ -z "${pkg:-}" ]; then
  # No package lists (and no root to fetch them): a kernel unpacked before
  # still serves.
  cached="$(ls -1d "$out_base"/*/vmlinuz 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$cached" ] || die "apt-cache knows no $meta: run apt-get update (as root)"
  say "apt-cache knows no $meta; using the kernel unpacked before"
  dirname "$cached"
  exit 0
fi

release="${pkg#linux-image-}"
out="$out_base/$release"
want="$(printf 'package %s %s\nmodules %s\n' "$pkg" "$version" "${wanted[*]}")"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$want" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/modules.load" ]; then
  echo "$out"
  exit 0
fi

mkdir -p "$out_base"
work="$(mktemp -d "$out_base/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT

say "downloading $pkg $version"
start=$(date +%s)
# As root, apt-get hands the download to its unprivileged _apt user, which
# cannot write a private temporary folder: download as root instead.
sandbox=()
[ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
if ! (cd "$work" && apt-get download -qq "${sandbox[@]}" "$pkg=$version" >/dev/null); then
  if [ "$(id -u)" -eq 0 ] && [ -z "${NODEWRIGHT_KERNEL_APT_UPDATED:-}" ]; then
    # Stale package lists name a file the mirror no longer has: fetch new
    # ones and start over (the current kernel may have moved on).
    say "download failed; updating the package lists and trying again"
    rm -rf "$work"
    apt_update
    NODEWRIGHT_KERNEL_APT_UPDATED=1 exec "$0" "$@"
  fi
  die "apt-get download $pkg=$version failed (stale package lists? run apt-get update as root)"
fi
deb="$(ls -1 "$work"/*.deb)"
dpkg -x "$deb" "$work/x"

moddir="$work/x/lib/modules/$release"
[ -f "$work/x/boot/vmlinuz-$release" ] || die "$pkg has no boot/vmlinuz-$release"
[ -d "$moddir/kernel" ] || die "$pkg has no lib/modules/$release/kernel"

# The package ships no modules.dep (depmod writes it on installation): index
# the module files by name, and read each module's dependencies from its
# .modinfo section ("depends=a,b"). Names treat - and _ alike, as the kernel
# does.
declare -A path_of
while IFS= read -r file; do
  name="$(basename "$file")"
  name="${name%%.ko*}"
  path_of[${name//-/_}]="$file"
done < <(cd "$moddir" && find kernel -name '*.ko*')
builtin=" $(sed -e 's,.*/,,' -e 's,\.ko$,,' -e 's,-,_,g' "$moddir/modules.builtin" 2>/dev/null | tr '\n' ' ') "

stage="$work/out"
mkdir -p "$stage/modules"
cp "$work/x/boot/vmlinuz-$release" "$stage/vmlinuz"
: > "$stage/modules.load"

# visit NAME copies NAME's dependencies, then NAME, into the stage and
# appends them to modules.load (once each; built-in ones are skipped).
order=()
declare -A seen
visit() {
  local name="${1//-/_}" src dst dep
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  [[ "$builtin" == *" $name "* ]] && return 0
  [ -n "${path_of[$name]:-}" ] || die "$pkg has no module $name"
  src="$moddir/${path_of[$name]}"
  dst="$stage/modules/$name.ko"
  # busybox insmod reads plain modules only.
  case "$src" in
    *.ko) cp "$src" "$dst" ;;
    *.ko.xz) xz -dc "$src" > "$dst" ;;
    *.ko.gz) gzip -dc "$src" > "$dst" ;;
    *.ko.zst) command -v zstd >/dev/null 2>&1 || die "$src is zstd-compressed: install zstd"; zstd -qdc "$src" > "$dst" ;;
    *) die "unknown module format: $src" ;;
  esac
  for dep in $(tr '\0' '\n' < "$dst" | sed -n 's/^depends=//p' | tr ',' ' '); do
    visit "$dep"
  done
  order+=("$name")
  echo "$name.ko" >> "$stage/modules.load"
}
for m in "${wanted[@]}"; do visit "$m"; done
echo "$want" > "$stage/.stamp"

rm -rf "$out"
mv "$stage" "$out"
say "unpacked vmlinuz and ${order[*]} into $out in $(( $(date +%s) - start ))s"
echo "$out"
