#!/usr/bin/env bash
# HTTP/2 stream multiplexing: scalewall --http2 --streams against h2load
# (nghttp2), in one run.
#
# nginx (one worker, cleartext HTTP/2 with prior knowledge, a 13-byte file)
# is pinned to core 0, each generator to core 1, one generator thread each.
# Rounds alternate h2load and scalewall at the same connections and streams
# per connection; each generator's own CPU time (user + sys, from
# /usr/bin/time) is divided by the requests it completed. Prints medians and
# the ratios scalewall/h2load, for each streams setting.
#
#   bench/http2.sh [ROUNDS=3] [SECONDS=5] [CONNECTIONS=32] [STREAMS="1 10"]
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=18990
URL="http://127.0.0.1:${PORT}/hello.txt"
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need h2load || [ ! -x /usr/bin/time ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light nghttp2-client time >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release -q
SCALEWALL=$PWD/target/release/scalewall

ROUNDS=${1:-3}
SECS=${2:-5}
CONNS=${3:-32}
STREAMS_LIST=${4:-"1 10"}

chmod 755 "$WORK"
printf 'hello, world\n' >"$WORK/hello.txt" # 13 bytes
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
  http2_max_concurrent_streams 1024;
  server { listen 127.0.0.1:${PORT} http2; root $WORK; }
}
CONF
taskset -c 0 "$NGINX" -c "$WORK/nginx.conf"
sleep 0.5
curl -sf --http2-prior-knowledge "$URL" >/dev/null || { echo "nginx did not start with HTTP/2" >&2; exit 1; }

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
run_timed() { # name, streams, command…
  local name=$1 streams=$2; shift 2
  /usr/bin/time -f '%U %S' -o "$WORK/time" taskset -c 1 "$@" >"$WORK/out" 2>"$WORK/err" || true
  local cpu; cpu=$(awk '{print $1 + $2}' "$WORK/time" | tail -n 1)
  local reqs rps
  case $name in
    h2load)
      # "finished in 5.00s, 61889.20 req/s, …" and "requests: N total, N started, N done, N succeeded, …"
      rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$WORK/out")
      reqs=$(awk '/^requests:/ {print $8}' "$WORK/out") ;;
    scalewall)
      read -r reqs rps < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requests"], d["rps"])' "$WORK/out") ;;
  esac
  [ -n "${reqs:-}" ] && echo -e "$name\t$streams\t$rps\t$reqs\t$cpu" >>"$RESULTS"
}

for round in $(seq "$ROUNDS"); do
  for streams in $STREAMS_LIST; do
    echo "round $round/$ROUNDS, $streams stream(s) per connection" >&2
    run_timed h2load "$streams" h2load -t 1 -c "$CONNS" -m "$streams" -D "$SECS" "$URL"
    run_timed scalewall "$streams" "$SCALEWALL" bench "$URL" --http2 --streams "$streams" -t 1 -c "$CONNS" \
      -d "${SECS}s" -o json --no-progress --no-history
  done
done

python3 - "$RESULTS" "$CONNS" "$SECS" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
by = {}
for name, streams, rps, reqs, cpu in rows:
    by.setdefault((int(streams), name), []).append((float(rps), int(float(reqs)), float(cpu)))
print(f"nginx 1 worker (core 0), HTTP/2 cleartext, 13-byte file; generators on core 1, one thread; "
      f"-c {sys.argv[2]}, {sys.argv[3]} s; medians of {max(len(v) for v in by.values())} rounds")
print(f"{'streams':>7} {'tool':<10} {'req/s':>12} {'CPU-µs/req':>11}   rounds (req/s)")
for streams in sorted({s for s, _ in by}):
    med = {}
    for name in ("h2load", "scalewall"):
        runs = by.get((streams, name))
        if not runs:
            print(f"{streams:>7} {name:<10} {'n/a':>12}"); continue
        rps = statistics.median(r for r, _, _ in runs)
        cpu_us = statistics.median(c / n * 1e6 for _, n, c in runs if n)
        med[name] = (rps, cpu_us)
        print(f"{streams:>7} {name:<10} {rps:>12,.0f} {cpu_us:>11.2f}   " + ", ".join(f"{r:,.0f}" for r, _, _ in runs))
    if len(med) == 2:
        s, h = med["scalewall"], med["h2load"]
        print(f"{streams:>7} scalewall/h2load: req/s {s[0]/h[0]:.3f}x, CPU per request {s[1]/h[1]:.3f}x")
PY
