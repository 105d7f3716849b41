#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a short while (FUZZTIME,
# default 2000x): a smoke run in "make test" that new crashers fail.
# The budget is a count of executions, not a duration: a duration races
# the fuzz coordinator's deadline against a worker in flight on a loaded
# machine and fails with "context deadline exceeded" and no crasher
# (golang/go#75804, fixed in Go 1.27).
#
# Targets run FUZZJOBS at a time (default: the number of CPUs), each with
# one fuzz worker, so that one target's build and link overlap another's
# fuzzing. A failing target prints its log; the script then fails.
set -euo pipefail
export FUZZTIME=${FUZZTIME:-2000x}
jobs=${FUZZJOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
export FUZZLOGS=$logs

# one runs target $2 of package directory $1.
one() {
  local dir=$1 target=$2 log
  log="$FUZZLOGS/$(echo "$dir/$target" | tr '/.' '__').log"
  echo "fuzz ${dir#./} $target ($FUZZTIME)"
  if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" -fuzzminimizetime=200x -parallel=1 "$dir" >"$log" 2>&1; then
    echo "FAIL fuzz ${dir#./} $target"
    cat "$log"
    return 255 # stops xargs at the first failure
  fi
}
export -f one

grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    printf '%s %s\n' "$(dirname "$file")" "$target"
  done
done | xargs -P "$jobs" -L 1 bash -c 'one "$@"' _
