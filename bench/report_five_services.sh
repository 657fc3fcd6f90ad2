#!/usr/bin/env bash
# The report a team lead opens (issue 16): five scenarios against real
# services — an HTTP bench and an HTTP sweep of a gateway (the built-in
# demo server: 2 ms, σ 0.02, κ 0.005, so N* ≈ 14), Redis GET, a PostgreSQL
# query and NATS request/reply — with a capacity plan and thresholds, run
# twice (the second run compares with the first). Prints the Markdown
# summary (what the HTML's first screen holds), the HTML's size, and writes
# a 1280×900 screenshot of the HTML's first screen when Chromium is here.
#
#   bash bench/report_five_services.sh [OUT_DIR]     # default target/report-five
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/report-five}"
cargo build --release --quiet
SW="$PWD/target/release/scalewall"
rm -rf "$out" && mkdir -p "$out"
out="$(cd "$out" && pwd)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
"$SW" demo-server --listen "127.0.0.1:$port" --latency 2ms --sigma 0.02 --kappa 0.005 --threads 2 >/dev/null 2>&1 &
pids+=($!)
sleep 0.3
cat > "$out/scalewall.toml" <<TOML
name = "agent-platform"
history = "$out/history.db"
[[service]]
name = "gateway"
url = "http://127.0.0.1:$port"
[[service]]
name = "cache"
url = "redis://127.0.0.1:6379"
[[service]]
name = "db"
url = "postgres://postgres@127.0.0.1:5432/test"
[[service]]
name = "bus"
url = "nats://127.0.0.1:4222"
[[scenario]]
name = "gw-get"
service = "gateway"
kind = "bench"
connections = 8
duration = "5s"
warmup = "500ms"
[[scenario]]
name = "gw-scaling"
service = "gateway"
kind = "sweep"
concurrency = [1, 2, 4, 8, 16, 32]
step = "2s"
warmup = "300ms"
[[scenario]]
name = "cache-get"
service = "cache"
kind = "bench"
connections = 8
duration = "5s"
command = "GET {key}"
keyspace = 1000
[[scenario]]
name = "db-query"
service = "db"
kind = "bench"
connections = 4
duration = "5s"
query = "SELECT 1"
[[scenario]]
name = "bus-request"
service = "bus"
kind = "bench"
connections = 4
duration = "5s"
nats_mode = "request"
subject = "scalewall.echo"
[plan]
scales = { agents = [100, 200, 400] }
[[plan.driver]]
name = "agents"
current = 40
[[plan.component]]
service = "gateway"
demand = { agents = "10/s" }
capacity_from = "gw-scaling"
cost_per_instance = 40
[[plan.component]]
service = "db"
demand = { agents = "2/s" }
capacity_from = "db-query"
scaling = "single"
cost_per_instance = 120
[[threshold]]
metric = "gw-get.p99_ms"
warning = 5
critical = 50
[[threshold]]
metric = "db-query.p99_ms"
warning = 20
critical = 100
TOML
for k in 1 2; do
  "$SW" run -f "$out/scalewall.toml" --report-dir "$out/reports" --no-progress -o md > "$out/run$k.md" || true
done
id=$("$SW" history --history "$out/history.db" -n 1 | awk 'NR==2 {print $1}')
html="$out/reports/$id.html"
echo "== the summary of the second run ($out/run2.md) =="
sed -n '/^## Summary/,/^## Findings/p' "$out/run2.md" | sed '$d'
echo "== HTML report: $html ($(wc -c < "$html") bytes)"
if [ -x /usr/bin/chromium ]; then
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 \
    --screenshot="$out/first-screen.png" "file://$html" >/dev/null 2>&1
  echo "== first screen at 1280x900: $out/first-screen.png"
fi
