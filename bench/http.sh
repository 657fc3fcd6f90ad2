#!/usr/bin/env bash
# HTTP/1.1 keep-alive comparison of scalewall with wrk and oha, in one run.
#
# nginx (one worker, a 13-byte file) is pinned to core 0, every generator to
# core 1. Rounds alternate wrk, oha, scalewall; each generator's own CPU time
# (user + sys, from /usr/bin/time) is divided by the requests it completed.
# Prints medians and the ratios scalewall/wrk and scalewall/oha.
#
#   bench/http.sh [ROUNDS=5] [SECONDS=5] [CONNECTIONS=32]
#   bench/http.sh --rss [REQUESTS=10000000]   # generator RSS over many requests
#   bench/http.sh --open                      # open-model rate accuracy at 80 % of capacity
#   bench/http.sh --lag                       # open-model send lag at 1,000, 5,000 and 20,000/s
#   bench/http.sh --checks [ROUNDS=5]         # req/s with a status check and a 3-column feed, vs plain and wrk
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=18989
URL="http://127.0.0.1:${PORT}/hello.txt"
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need wrk || [ ! -x /usr/bin/time ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk time >/dev/null
fi
if ! need oha; then
  echo "installing oha (cargo install oha; several minutes on 2 cores)…" >&2
  cargo install oha --locked >/dev/null 2>&1 || echo "oha could not be installed; its rows will be empty" >&2
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release -q
SCALEWALL=$PWD/target/release/scalewall

chmod 755 "$WORK"
printf 'hello, world\n' >"$WORK/hello.txt" # 13 bytes
chmod 644 "$WORK/hello.txt"
cat >"$WORK/nginx.conf" <<EOF
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
EOF
taskset -c 0 "$NGINX" -c "$WORK/nginx.conf"
sleep 0.5
curl -sf "$URL" >/dev/null || { echo "nginx did not start" >&2; exit 1; }

if [ "${1:-}" = "--rss" ]; then
  N=${2:-10000000}
  for n in $((N / 10)) "$N"; do
    /usr/bin/time -f '%M' -o "$WORK/rss" taskset -c 1 "$SCALEWALL" bench "$URL" -c 32 -t 1 -n "$n" -o json --no-progress >"$WORK/out.json"
    python3 - "$WORK/out.json" "$WORK/rss" "$n" <<'PY'
import json, sys
out = json.load(open(sys.argv[1])); rss_kib = int(open(sys.argv[2]).read().split()[-1])
print(f"requests {int(sys.argv[3]):>10,}  completed {out['requests']:>10,}  max RSS {rss_kib/1024:.1f} MiB  ({out['rps']:,.0f} req/s)")
PY
  done
  exit 0
fi

if [ "${1:-}" = "--lag" ]; then
  # Open-model sends on time (issue 18, item 3): against nginx (service time
  # well under 1 ms), how late each send left (schedule lag), the corrected
  # and uncorrected p50/p99, and the generator's CPU per request.
  for RATE in 1000 5000 20000; do
    taskset -c 1 "$SCALEWALL" bench "$URL" -c 64 -r "$RATE" -d 5s -o json --no-progress --no-history >"$WORK/lag.json"
    python3 - "$WORK/lag.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c, u, l = d["latency_ms"], d["uncorrected_latency_ms"], d["schedule_lag_ms"]
cpu = (d.get("resources") or {}).get("generator_cpu_s")
per = f"{cpu / d['requests'] * 1e6:.1f} CPU-µs/request" if cpu else "CPU n/a"
print(f"{d['target_rate_per_s']:>8,.0f}/s: corrected p50/p99 {c['p50']:.3f}/{c['p99']:.3f} ms, "
      f"uncorrected {u['p50']:.3f}/{u['p99']:.3f} ms, send lag {l['p50']:.3f}/{l['p99']:.3f} ms, {per}")
PY
  done
  exit 0
fi

if [ "${1:-}" = "--checks" ]; then
  # Issue 19: what a check and a data feed cost. Rounds alternate wrk,
  # plain scalewall, scalewall with --check status=200, and with that check
  # and a 3-column feed filling the query; medians of the req/s.
  ROUNDS=${2:-5}
  python3 -c "
print('a,b,c')
for i in range(10000): print(f'{i},user-{i},{i * 7 % 1000}')" >"$WORK/feed.csv"
  : >"$WORK/checks.tsv"
  for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS" >&2
    wrk -t1 -c32 -d5s "$URL" >"$WORK/wrk.out" 2>&1 || true
    echo -e "wrk\t$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")" >>"$WORK/checks.tsv"
    for variant in plain check feed; do
      case $variant in
        plain) extra=() ; target="$URL" ;;
        check) extra=(--check status=200) ; target="$URL" ;;
        feed) extra=(--check status=200 --data "$WORK/feed.csv") ; target="$URL?a={{a}}&b={{b}}&c={{c}}" ;;
      esac
      taskset -c 1 "$SCALEWALL" bench "$target" -t 1 -c 32 -d 5s -o json --no-progress --no-history "${extra[@]}" >"$WORK/v.json"
      echo -e "$variant\t$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rps"])' "$WORK/v.json")" >>"$WORK/checks.tsv"
    done
  done
  python3 - "$WORK/checks.tsv" <<'PY'
import statistics, sys
by = {}
for line in open(sys.argv[1]):
    name, rps = line.split("\t")
    if rps.strip():
        by.setdefault(name, []).append(float(rps))
med = {k: statistics.median(v) for k, v in by.items()}
for name, label in (("wrk", "wrk"), ("plain", "scalewall"), ("check", "scalewall --check status=200"), ("feed", "… and a 3-column --data feed")):
    if name in med:
        ratio = f"  ({med[name] / med['plain']:.3f}x plain scalewall)" if "plain" in med and name != "plain" else ""
        print(f"{label:<32} {med[name]:>10,.0f} req/s{ratio}   rounds: " + ", ".join(f"{r:,.0f}" for r in by[name]))
PY
  exit 0
fi

if [ "${1:-}" = "--open" ]; then
  # Open-model accuracy: capacity = median of 3 closed runs; then 80 % of it.
  caps=()
  for _ in 1 2 3; do
    taskset -c 1 "$SCALEWALL" bench "$URL" -c 32 -t 1 -d 3s -o json --no-progress >"$WORK/cap.json"
    caps+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rps"])' "$WORK/cap.json")")
  done
  CAP=$(printf '%s\n' "${caps[@]}" | sort -n | sed -n 2p)
  RATE=$(python3 -c "print(round(0.8 * $CAP))")
  taskset -c 1 "$SCALEWALL" bench "$URL" -c 128 -t 1 -r "$RATE" -d 5s -o json --no-progress >"$WORK/open.json"
  python3 - "$WORK/open.json" "$CAP" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); cap = float(sys.argv[2])
t = d["target_rate_per_s"]; a = d["rps"]
print(f"capacity (closed, -c 32) {cap:,.0f} req/s; open model at 80 %: target {t:,.0f}, achieved {a:,.0f} req/s ({(a/t-1)*100:+.2f} %), "
      f"schedule kept: {d['schedule_kept']}; corrected p99 {d['latency_ms']['p99']:.3f} ms, uncorrected p99 {d['uncorrected_latency_ms']['p99']:.3f} ms, send lag p99 {d['schedule_lag_ms']['p99']:.3f} ms")
PY
  exit 0
fi

ROUNDS=${1:-5}
SECS=${2:-5}
CONNS=${3:-32}
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

run_timed() { # name, command…
  local name=$1; shift
  /usr/bin/time -f '%U %S' -o "$WORK/time" taskset -c 1 "$@" >"$WORK/out" 2>"$WORK/err" || true
  local cpu; cpu=$(awk '{print $1 + $2}' "$WORK/time" | tail -n 1)
  local reqs rps
  case $name in
    wrk)
      reqs=$(awk '/requests in/ {print $1}' "$WORK/out")
      rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/out") ;;
    oha)
      read -r reqs rps < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["summary"]; print(round(s["requestsPerSec"]*s["total"]), s["requestsPerSec"])' "$WORK/out") ;;
    scalewall)
      read -r reqs rps < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requests"], d["rps"])' "$WORK/out") ;;
  esac
  [ -n "${reqs:-}" ] && echo -e "$name\t$rps\t$reqs\t$cpu" >>"$RESULTS"
}

for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  run_timed wrk wrk -t1 -c"$CONNS" -d"${SECS}s" "$URL"
  if need oha; then run_timed oha oha -z "${SECS}s" -c "$CONNS" --no-tui --output-format json "$URL"; fi
  run_timed scalewall "$SCALEWALL" bench "$URL" -t 1 -c "$CONNS" -d "${SECS}s" -o json --no-progress
done

python3 - "$RESULTS" "$CONNS" "$SECS" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
by = {}
for name, rps, reqs, cpu in rows:
    by.setdefault(name, []).append((float(rps), int(float(reqs)), float(cpu)))
med = {}
print(f"nginx 1 worker (core 0), 13-byte file, keep-alive; generators on core 1; -c {sys.argv[2]}, {sys.argv[3]} s; medians of {max(len(v) for v in by.values())} rounds")
print(f"{'tool':<10} {'req/s':>12} {'CPU-µs/req':>11}   rounds (req/s)")
for name in ("wrk", "oha", "scalewall"):
    if name not in by:
        print(f"{name:<10} {'n/a':>12}"); continue
    rps = statistics.median(r for r, _, _ in by[name])
    cpu_us = statistics.median(c / n * 1e6 for _, n, c in by[name] if n)
    med[name] = (rps, cpu_us)
    print(f"{name:<10} {rps:>12,.0f} {cpu_us:>11.2f}   " + ", ".join(f"{r:,.0f}" for r, _, _ in by[name]))
if "scalewall" in med:
    s = med["scalewall"]
    for peer in ("wrk", "oha"):
        if peer in med:
            p = med[peer]
            print(f"scalewall/{peer}: req/s {s[0]/p[0]:.3f}x, CPU per request {s[1]/p[1]:.3f}x")
PY
