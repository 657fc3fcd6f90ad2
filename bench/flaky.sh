#!/usr/bin/env bash
# Flaky tests (issue 29, item 9): runs the README's test command N times and
# lists every test that ever failed, with how often. A flaky test fails a
# submission at random and a user's first `cargo test`; the target is N
# full runs in a row with none.
#
#   bash bench/flaky.sh [N] [-- CARGO TEST ARGS…]   # default 10 (~10 min a run)
#   bash bench/flaky.sh 50 -- --test responses     # one test binary, 50 times
#
# Run it on an otherwise idle machine: the load tests' bounds are set for a
# busy 2-core host, not for one running two test suites at once.
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"
shift || true
[ "${1:-}" = "--" ] && shift
extra=("$@")
cargo test --no-run --quiet "${extra[@]}" >/dev/null 2>&1 || { echo "the tests do not build"; exit 1; }
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed_runs=0
for run in $(seq "$runs"); do
  start=$(date +%s)
  if cargo test --no-fail-fast "${extra[@]}" >"$scratch/run-$run.log" 2>&1; then
    status="passed"
  else
    status="FAILED"
    failed_runs=$((failed_runs + 1))
  fi
  # Lines such as "test name ... FAILED" or "name --- FAILED" (quiet mode).
  grep -E -o '^(test )?[A-Za-z0-9_:]+( \.\.\.)? ?-*-? ?FAILED' "$scratch/run-$run.log" \
    | sed -E 's/^test //; s/ \.\.\. FAILED$//; s/ --- FAILED$//' >>"$scratch/failures"
  printf 'run %3d/%d: %s in %d s\n' "$run" "$runs" "$status" "$(( $(date +%s) - start ))"
done
echo
echo "$((runs - failed_runs)) of $runs full runs passed"
if [ -s "$scratch/failures" ]; then
  echo "tests that failed at least once (count, name):"
  sort "$scratch/failures" | uniq -c | sort -rn
else
  echo "no test failed"
fi
[ "$failed_runs" -eq 0 ]
