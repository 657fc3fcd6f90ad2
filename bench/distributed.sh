#!/usr/bin/env bash
# Distributed runs on one machine (issue 15): what the coordinator and
# the NATS plane cost, in one run.
#
# 1. The merge cost (release build): 100 workers' synthetic interval
#    snapshots decoded and merged, per snapshot and projected to 100 and
#    1,000 workers (crates/fleet/examples/merge_cost.rs).
# 2. Overhead on loopback: nginx (one worker, a 13-byte file) loaded by
#    one local `bench` with 2 generator threads, then by 2 workers of one
#    thread each through a private nats-server, the same 64 connections
#    and time. Rounds alternate; prints the median req/s of each and the
#    ratio distributed/local (target ≥ 0.9: same machine, so it measures
#    overhead, not scale).
#
#   bench/distributed.sh [ROUNDS=3] [SECONDS=8] [CONNECTIONS=64]
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-3}
SECONDS_EACH=${2:-8}
CONNECTIONS=${3:-64}
PORT=18990
NATS_PORT=14990
URL="http://127.0.0.1:${PORT}/hello.txt"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  kill "${PIDS[@]}" 2>/dev/null || true
  kill "$(cat "$WORK/nginx.pid" 2>/dev/null)" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
NATS=$(command -v nats-server || echo /usr/sbin/nats-server)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release -q
SCALEWALL=$PWD/target/release/scalewall

echo "== merge cost =="
cargo run --release -q -p scalewall-fleet --example merge_cost

chmod 755 "$WORK"
printf 'hello, world\n' >"$WORK/hello.txt"
chmod 644 "$WORK/hello.txt"
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $WORK/nginx.pid;
error_log $WORK/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server { listen 127.0.0.1:${PORT}; root $WORK; }
}
CONF
"$NGINX" -c "$WORK/nginx.conf"
"$NATS" -a 127.0.0.1 -p "$NATS_PORT" >"$WORK/nats.log" 2>&1 &
PIDS+=($!)
sleep 0.5
for w in w1 w2; do
  "$SCALEWALL" worker --nats "nats://127.0.0.1:${NATS_PORT}" --name "$w" 2>"$WORK/$w.log" &
  PIDS+=($!)
done
sleep 1
curl -sf "$URL" >/dev/null || { echo "nginx did not start" >&2; exit 1; }

echo "== overhead: ${CONNECTIONS} connections, ${SECONDS_EACH} s, ${ROUNDS} rounds =="
for round in $(seq "$ROUNDS"); do
  "$SCALEWALL" bench "$URL" -c "$CONNECTIONS" -d "${SECONDS_EACH}s" -t 2 -o json --no-progress >"$WORK/local-$round.json"
  "$SCALEWALL" bench "$URL" -c "$CONNECTIONS" -d "${SECONDS_EACH}s" -t 1 -o json --no-progress \
    --workers "nats://127.0.0.1:${NATS_PORT}" --min-workers 2 >"$WORK/fleet-$round.json"
done
python3 - "$WORK" "$ROUNDS" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def rps(kind):
    return [json.load(open(f"{work}/{kind}-{r}.json"))["rps"] for r in range(1, rounds + 1)]
local, fleet = rps("local"), rps("fleet")
last = json.load(open(f"{work}/fleet-{rounds}.json"))
print(f"local bench (2 threads)        median {statistics.median(local):>10,.0f} req/s  {[round(x) for x in local]}")
print(f"2 workers × 1 thread via NATS  median {statistics.median(fleet):>10,.0f} req/s  {[round(x) for x in fleet]}")
print(f"distributed / local            {statistics.median(fleet) / statistics.median(local):.3f}  (target ≥ 0.9)")
for w in last["workers"]:
    print(f"  {w['name']}: {w['connections']} connections, {w['requests']:,} requests, p99 {w['latency_ms']['p99']} ms, generator CPU {w['generator_cpu_s']:.2f} s, bound {w['generator_bound']}")
PY
