#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a short time (FUZZTIME,
# default 5s): a smoke run in "make test" that new crashers fail.
set -euo pipefail
fuzztime=${FUZZTIME:-5s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  dir=$(dirname "$file")
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    echo "fuzz ${dir#./} $target ($fuzztime)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=2s "$dir" >"$log" 2>&1 || {
      cat "$log"; exit 1; }
  done
done
