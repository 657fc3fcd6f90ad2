#!/usr/bin/env bash
# The watch daemon at rest (issue 14 targets): 10 jobs every hour, each run
# once at start, then idle: CPU over SECONDS (< 0.1 % of a core) and RSS
# (< 30 MiB); then the dashboard, /api/status and /metrics response times
# (median of 10) with STORED real-size runs already in the history of one
# job (default 10,000; the dashboard < 100 ms, /api/status < 50 ms).
#
#   bash bench/watch_idle.sh [SECONDS] [STORED]     # defaults 60 and 10000
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
stored="${2:-10000}"
cargo build --release --quiet
cargo build --release --quiet --example populate -p scalewall-history
SW="$PWD/target/release/scalewall"
scratch="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$scratch"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
target=$(free_port)
port=$(free_port)
"$SW" demo-server --listen "127.0.0.1:$target" >/dev/null 2>&1 &
pids+=($!)

{
  printf '[[service]]\nname = "api"\nurl = "http://127.0.0.1:%s"\n' "$target"
  printf '[[scenario]]\nname = "get"\nservice = "api"\nkind = "bench"\nconnections = 1\nduration = "100ms"\n'
  printf '[watch]\nlisten = "127.0.0.1:%s"\n' "$port"
  # job1 is "bench": the populated runs are its history.
  printf '[[job]]\nname = "bench"\nevery = "1h"\n'
  for i in $(seq 2 10); do
    printf '[[job]]\nname = "job%s"\nevery = "1h"\n' "$i"
  done
} >"$scratch/scalewall.toml"
mkdir -p "$scratch/.scalewall"
./target/release/examples/populate "$scratch/.scalewall/history.db" "$stored" tests/fixtures/run-v1.json
echo "stored $stored real-size runs of job bench"

(cd "$scratch" && exec "$SW" watch) 2>/dev/null &
daemon=$!
pids+=("$daemon")
for _ in $(seq 600); do
  runs=$(curl -sf "http://127.0.0.1:$port/api/status" | python3 -c 'import json,sys; print(sum(j["runs"] for j in json.load(sys.stdin)["jobs"]))' 2>/dev/null || echo 0)
  [ "$runs" -ge 10 ] && break
  sleep 0.2
done
echo "10 jobs ran once; measuring ${seconds} s of rest"
sleep 2
ticks() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
t0=$(ticks)
sleep "$seconds"
t1=$(ticks)
hz=$(getconf CLK_TCK)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$daemon/status")
python3 -c "print(f'idle CPU: {($t1 - $t0) / $hz:.3f} CPU-s in $seconds s = {100 * ($t1 - $t0) / $hz / $seconds:.3f} % of a core (target < 0.1 %)')"
python3 -c "print(f'RSS: {$rss / 1024:.1f} MiB (target < 30 MiB)')"

median_ms() {
  for _ in $(seq 10); do curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port$1"; done \
    | sort -n | sed -n 5p | awk '{printf "%.1f", $1 * 1000}'
}
for path in / /api/status /metrics /health; do
  printf '%-12s %6s ms (median of 10)\n' "$path" "$(median_ms "$path")"
done
