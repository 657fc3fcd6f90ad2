#!/usr/bin/env bash
# Protocol drivers against their peer tools, same machine, same run, same
# clients (BENCHMARKS.md): Redis GET/SET vs redis-benchmark -c 32 with
# pipelining off and on, PostgreSQL select-only vs pgbench -S -c 8 -j 2, and
# WebSocket echo messages/s with 64-byte messages against demo-server.
# Targets: ≥ 0.9× the peer tool; WebSocket > 200,000 msg/s is a goal.
# Needs redis-server on 6379 and PostgreSQL on 5432 (database `test`).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
cargo build --release --quiet
SW=target/release/scalewall
ratio() { python3 -c "print(f'{$1/$2:.2f}x')"; }
rps() { python3 -c "import json,sys; print(round(json.load(sys.stdin)['rps']))"; }
printf '%-34s %14s %14s %8s\n' workload scalewall peer ratio

for P in 1 16; do
  for CMD in GET SET; do
    peer=$(redis-benchmark -q -c 32 -P "$P" -r 100000 -d 3 -t "$CMD" -n $((P == 1 ? 300000 : 2000000)) --csv \
      | awk -F'"' 'NR==2 {print int($4)}')
    ours=$($SW bench redis://127.0.0.1:6379 --command "$CMD" --pipeline "$P" --keyspace 100000 -c 32 -t 1 \
      -d "${DURATION}s" --warmup 1s -o json --no-progress | rps)
    printf '%-34s %14s %14s %8s\n' "redis $CMD -c 32 -P $P" "$ours" "$peer" "$(ratio "$ours" "$peer")"
  done
done

createdb_if() { psql -h 127.0.0.1 -U postgres -d test -tAc "SELECT 1 FROM pgbench_accounts LIMIT 1" >/dev/null 2>&1 \
  || pgbench -h 127.0.0.1 -U postgres -i -s 1 -q test >/dev/null 2>&1; }
createdb_if
ours=$($SW bench postgres://postgres@127.0.0.1/test -c 8 -t 2 -d "${DURATION}s" --warmup 1s \
  --query 'SELECT abalance FROM pgbench_accounts WHERE aid = $1' --query-param random:1..100000 \
  -o json --no-progress | rps)
# scalewall always prepares; pgbench's default is the simple protocol (parse per query).
for MODE in simple prepared; do
  peer=$(pgbench -h 127.0.0.1 -U postgres -S -M "$MODE" -c 8 -j 2 -T "$DURATION" test 2>/dev/null \
    | awk '/^tps/ {print int($3)}')
  printf '%-34s %14s %14s %8s\n' "postgres select-only -c 8 vs $MODE" "$ours" "$peer" "$(ratio "$ours" "$peer")"
done

$SW demo-server --listen 127.0.0.1:18090 --threads 1 >/dev/null &
DEMO=$!
trap 'kill $DEMO 2>/dev/null' EXIT
sleep 0.5
for P in 1 32; do
  ours=$($SW bench ws://127.0.0.1:18090/ws --message-size 64 --pipeline "$P" -c 8 -t 1 -d "${DURATION}s" \
    --warmup 1s -o json --no-progress | rps)
  printf '%-34s %14s %14s %8s\n' "websocket echo 64 B, $P in flight" "$ours" "-" "-"
done
