#!/usr/bin/env bash
# False alarms and detection delay of the regression gate (issue 14): RUNS
# unchanged `scalewall run`s of one bench scenario against demo-server (5 ms
# hold, 8 connections, 1 s), counting MEDIUM-or-worse regression findings
# (target: at most 1 in 200 comparisons); then a real change on a fresh
# history, twice: the hold 5 ms → 8 ms (p99 +60 %: caught on the first run
# after it) and 5 ms → 6.25 ms (throughput −20 %: caught within two runs).
#
#   bash bench/false_alarms.sh [RUNS]        # default 200 (~8 min)
#
# The gate is the one `scalewall run` and `scalewall watch` use
# (crates/job/src/findings.rs::regression_severity).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-200}"
cargo build --release --quiet
SW="$PWD/target/release/scalewall"
scratch="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$scratch"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

start_server() { # HOLD
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  "$SW" demo-server --listen "127.0.0.1:$port" --latency "$1" >/dev/null 2>&1 &
  server=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.05; done
  echo "demo-server did not start" >&2; exit 1
}

cat >"$scratch/scalewall.toml" <<EOF
name = "false-alarms"
[[service]]
name = "demo"
url = "http://127.0.0.1:$port"
[[scenario]]
name = "get"
service = "demo"
kind = "bench"
connections = 8
duration = "1s"
EOF

# One run; prints the MEDIUM-or-worse regression findings as "metric change".
one_run() { # HISTORY
  "$SW" run -f "$scratch/scalewall.toml" --history "$1" --report-dir "$scratch/reports" \
    --no-progress -o json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for f in d["findings"]:
    if f["severity"] in ("MEDIUM", "HIGH", "CRITICAL") and "regressed" in f["message"]:
        print(f["subject"], f["evidence"].split(" (")[0])
' || true
}

start_server 5ms
alarms=0
comparisons=0
for i in $(seq "$runs"); do
  found=$(one_run "$scratch/unchanged.db")
  [ "$i" -gt 1 ] && comparisons=$((comparisons + 1))
  if [ -n "$found" ]; then
    alarms=$((alarms + 1))
    echo "run $i: false alarm: $found"
  fi
done
echo "unchanged: $alarms MEDIUM-or-worse regression findings in $comparisons comparisons (target ≤ 1 in 200)"

detect() { # LABEL NEW_HOLD
  start_server 5ms
  rm -f "$scratch/change.db"
  for _ in $(seq 12); do one_run "$scratch/change.db" >/dev/null; done
  start_server "$2"
  for k in 1 2 3 4 5; do
    found=$(one_run "$scratch/change.db")
    if [ -n "$found" ]; then
      echo "$1: caught on run $k after the change: $found"
      return
    fi
  done
  echo "$1: NOT caught within 5 runs"
}
detect "hold 5 ms → 8 ms" 8ms
detect "hold 5 ms → 6.25 ms (−20 % throughput)" 6250us
