#!/usr/bin/env bash
# History and report speed: `scalewall history`, `compare` and `report`
# over a database of 10,000 real-size stored runs (issue 14 targets:
# history and compare < 50 ms, a report < 300 ms), and `scalewall run` with
# no config (< 60 s).
#
#   bash bench/history.sh [RUNS]
#
# Builds release once, fills a scratch database with copies of a real run
# (82 KB each; eight metrics with ten samples), then times each command over 10 repeats
# (median wall time, whole process: start-up, SQLite open, query, render).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10000}"
cargo build --release --quiet
cargo build --release --quiet --example populate -p scalewall-history
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
db="$scratch/history.db"
start=$(date +%s.%N)
# Real-size runs: copies of a stored run of the built-in job (82 KB).
./target/release/examples/populate "$db" "$runs" tests/fixtures/run-v1.json
echo "stored $runs runs in $(echo "$(date +%s.%N) - $start" | bc) s ($(du -h "$db" | cut -f1))"

median_ms() {
  local times=()
  for _ in $(seq 10); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 5p | awk '{printf "%.1f", $1 / 1000}'
}

bin=./target/release/scalewall
printf '%-52s %10s\n' "command ($runs runs stored)" "median ms"
for cmd in "history" "history --subject bench -n 1000" "compare previous latest" "report latest" "report latest --format json"; do
  # shellcheck disable=SC2086
  printf '%-52s %10s\n' "scalewall $cmd" "$(median_ms $bin $cmd --history "$db")"
done

start=$(date +%s.%N)
(cd "$scratch" && "$OLDPWD/$bin" run --no-progress >/dev/null) || true
echo "scalewall run (no config): $(echo "$(date +%s.%N) - $start" | bc) s"
