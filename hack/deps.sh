#!/usr/bin/env bash
# Installs the programs the tests and the demo drive for real (git, gpg,
# ssh-keygen, headless chromium for the dashboard test, and losetup for the
# volume checksum tests on loop devices) when they are
# missing: through apt-get when run as root,
# otherwise it names what to install and fails.
set -euo pipefail

declare -A pkg=([git]=git [gpg]=gnupg [gpg-agent]=gpg-agent [ssh-keygen]=openssh-client [chromium]=chromium [losetup]=mount)
missing=()
for tool in git gpg gpg-agent ssh-keygen chromium losetup; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "missing programs; install the Debian packages: ${missing[*]}" >&2
  exit 1
fi
