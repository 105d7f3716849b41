#!/usr/bin/env bash
# Runs the kernel tests of Go packages (files with the build tag kerneltest)
# as root inside Debian's own kernel, booted under qemu with TCG (no KVM
# needed), and exits with the tests' exit code.
# usage: hack/kernel-test.sh PKG... [go test flags...]
#   e.g. hack/kernel-test.sh ./agent/linux/... -run 'TestKernelRig'
#
# It builds each package's test binary (static, -tags kerneltest), packs an
# initramfs of a static busybox, the modules of hack/kernel.sh (tls, bonding
# with max_bonds=0, veth), the binaries and the packages' testdata folders,
# and boots it with 512 MiB and one CPU, without a network card. The VM's
# /init runs each binary with -test.v in its package's copy (with
# NODEWRIGHT_KERNEL_VM=1; see internal/kernelvm), prints go test's "ok" or
# "FAIL" line per package and a last line NODEWRIGHT-KERNEL-TEST-EXIT=<code>,
# and powers off. The console streams to stdout; a run without that last
# line (kernel panic, timeout, qemu failure) fails.
#
# Flags are test flags (-run, -count, -timeout, -failfast, ...), passed to the
# binaries as -test.*; build flags are not taken.
# KERNEL_TEST_TIMEOUT (seconds, default 600) bounds the whole VM run; each
# binary gets -test.timeout 8m unless the flags say otherwise. Temporary
# files are removed and qemu is stopped on exit, Ctrl-C and SIGTERM.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
limit="${KERNEL_TEST_TIMEOUT:-600}"
sentinel=NODEWRIGHT-KERNEL-TEST-EXIT

say() { echo "kernel-test: $*" >&2; }
die() { echo "kernel-test: $*" >&2; exit 2; }

pkgs=() flags=()
for arg in "$@"; do
  if [ ${#flags[@]} -eq 0 ] && [[ "$arg" != -* ]]; then
    pkgs+=("$arg")
  else
    flags+=("$arg")
  fi
done
[ ${#pkgs[@]} -gt 0 ] || die "usage: hack/kernel-test.sh PKG... [go test flags...]"

kernel="$("$root/hack/kernel.sh")"
busybox="$(command -v busybox)" || die "no busybox: run hack/kernel.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/nodewright-kernel-test.XXXXXX")"
qemu_pid= filter_pid=
cleanup() {
  local pid
  for pid in $qemu_pid $filter_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# --- the test binaries --------------------------------------------------------

start=$(date +%s.%N)
cd "$root"
# Each package with test files, as "import path<TAB>directory".
mapfile -t listed < <(go list -tags kerneltest -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{"\t"}}{{.Dir}}{{end}}' "${pkgs[@]}")
[ ${#listed[@]} -gt 0 ] || die "no test files in ${pkgs[*]}"

rootfs="$tmp/root"
mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp,root,modules,pkg}
# Static for the initramfs, which has no libc; for the VM's x86-64 CPU
# whatever the host is; without symbols and DWARF, which only make the
# initramfs bigger (panics still name functions, files and lines).
import_paths=()
for i in "${!listed[@]}"; do
  ip="${listed[$i]%%$'\t'*}"
  import_paths+=("$ip")
done
mkdir -p "$tmp/bin"
GOOS=linux GOARCH=amd64 GOAMD64=v1 CGO_ENABLED=0 \
  go test -c -tags kerneltest -ldflags='-s -w' -o "$tmp/bin/" "${import_paths[@]}"

# Per package: /pkg/<n>/test.bin and its testdata, where the test runs.
run_lines=""
for i in "${!listed[@]}"; do
  ip="${listed[$i]%%$'\t'*}"
  dir="${listed[$i]#*$'\t'}"
  bin="$tmp/bin/$(basename "$ip").test"
  [ -f "$bin" ] || die "go test -c wrote no $bin"
  mkdir -p "$rootfs/pkg/$i"
  mv "$bin" "$rootfs/pkg/$i/test.bin"
  [ -d "$dir/testdata" ] && cp -rL "$dir/testdata" "$rootfs/pkg/$i/"
  run_lines+="run $i '$ip'"$'\n'
done
built=$(date +%s.%N)

# --- the initramfs ------------------------------------------------------------

cp "$busybox" "$rootfs/bin/busybox"
for applet in sh mount insmod poweroff ip awk cat dmesg tail; do
  ln -s busybox "$rootfs/bin/$applet"
done
cp "$kernel"/modules/*.ko "$rootfs/modules/"
insmods=""
while IFS= read -r ko; do
  params=""
  # max_bonds=0: no bond0 until a test makes one.
  [ "$ko" = bonding.ko ] && params=" max_bonds=0"
  insmods+="insmod /modules/$ko$params || fail 'insmod $ko failed'"$'\n'
done < "$kernel/modules.load"

# The go test flags, each single-quoted for the VM's shell; -run and the
# like become the binary's -test.run.
test_flags=""
for f in "${flags[@]}"; do
  case "$f" in
    -test.*|--test.*) ;;
    --*) f="--test.${f#--}" ;;
    -*) f="-test.${f#-}" ;;
  esac
  test_flags+=" '${f//\'/\'\\\'\'}'"
done

cat > "$rootfs/init" <<EOF
#!/bin/sh
# PID 1 of the kernel-test VM, written by hack/kernel-test.sh.
export PATH=/bin HOME=/root TMPDIR=/tmp NODEWRIGHT_KERNEL_VM=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Kernel messages (a bond's refusals among them) stay off the console while
# the tests print; they follow a failed run.
dmesg -n 1
done_() { echo "$sentinel=\$1"; poweroff -f; }
fail() { echo "kernel-test: \$*"; done_ 2; }
ip link set lo up || fail 'lo up failed'
${insmods}
code=0
run() {
  t0=\$(awk '{print \$1}' /proc/uptime)
  cd /pkg/\$1
  ./test.bin -test.v -test.count=1 -test.timeout=8m${test_flags}
  rc=\$?
  cd /
  t=\$(awk -v t0="\$t0" '{printf "%.3fs", \$1 - t0}' /proc/uptime)
  if [ \$rc -eq 0 ]; then
    printf 'ok  \t%s\t%s\n' "\$2" "\$t"
  else
    printf 'FAIL\t%s\t%s\n' "\$2" "\$t"
    code=\$rc
  fi
}
${run_lines}
if [ \$code -ne 0 ]; then
  echo "--- kernel log (last 40 lines)"
  dmesg | tail -n 40
fi
done_ \$code
EOF
chmod 0755 "$rootfs/init"
(cd "$rootfs" && find . | "$busybox" cpio -o -H newc 2>/dev/null) | gzip -1 > "$tmp/initrd.gz"
packed=$(date +%s.%N)

# --- the VM -------------------------------------------------------------------

say "booting $(basename "$kernel") under qemu (TCG) for ${import_paths[*]} ($(du -h "$tmp/initrd.gz" | cut -f1) initramfs)"
console="$tmp/console.log"
# The serial console goes through $tmp/console to the filter, which prints
# it to stdout without carriage returns and terminal control sequences
# (the firmware's reset and no-wrap), and, through the chardev's log file,
# to $console, where the exit line is read. No monitor: stdin is not read.
# timeout runs qemu in a process group of its own, so Ctrl-C reaches this
# script, whose trap stops it.
mkfifo "$tmp/console"
sed -u -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[c78]//g' < "$tmp/console" &
filter_pid=$!
timeout -k 5 "$limit" qemu-system-x86_64 -accel tcg -m 512 -smp 1 \
  -nographic -monitor none -no-reboot -nic none \
  -chardev "stdio,id=console,signal=off,logfile=$console" -serial chardev:console \
  -kernel "$kernel/vmlinuz" -initrd "$tmp/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1" </dev/null >"$tmp/console" &
qemu_pid=$!
rc=0
wait "$qemu_pid" || rc=$?
qemu_pid=
wait "$filter_pid" || true
filter_pid=
booted=$(date +%s.%N)

code="$(tr -d '\r' < "$console" 2>/dev/null | sed -n "s/^$sentinel=\([0-9][0-9]*\)\$/\1/p" | tail -n 1)"
timing="$(awk -v a="$start" -v b="$built" -v c="$packed" -v d="$booted" \
  'BEGIN { printf "build %.1fs, initramfs %.1fs, VM %.1fs", b - a, c - b, d - c }')"
if [ -z "$code" ]; then
  if [ "$rc" -eq 124 ]; then
    say "the VM did not finish within ${limit}s ($timing)"
  else
    say "the VM stopped without an exit code (qemu exit $rc; a kernel panic or a crash of /init?) ($timing)"
  fi
  exit 1
fi
say "exit $code ($timing)"
exit "$code"
