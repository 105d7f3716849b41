#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a short while (FUZZTIME,
# default 2000x): a smoke run in "make test" that new crashers fail.
# The budget is a count of executions, not a duration: a duration races
# the fuzz coordinator's deadline against a worker in flight on a loaded
# machine and fails with "context deadline exceeded" and no crasher
# (golang/go#75804, fixed in Go 1.27).
set -euo pipefail
fuzztime=${FUZZTIME:-2000x}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  dir=$(dirname "$file")
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    echo "fuzz ${dir#./} $target ($fuzztime)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=200x "$dir" >"$log" 2>&1 || {
      cat "$log"; exit 1; }
  done
done
