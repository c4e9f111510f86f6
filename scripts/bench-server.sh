#!/usr/bin/env bash
# Server benchmarks for BENCHMARKS.md: password sign-in throughput against the
# raw Argon2id rate, /healthz latency while sign-ins saturate the CPU, and
# memory (idle, and under 200 concurrent connections).
#
#   bash scripts/bench-server.sh            # SQLite in a temporary directory
#   GATEHOUSE_DATABASE_URL=postgres://… bash scripts/bench-server.sh
#
# Needs wrk (apt-get install wrk). Sends traffic to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin gatehouse
cargo build --release --quiet -p gatehouse-domain --example argon2_rate
bin=target/release/gatehouse
dir=$(mktemp -d)
port=${PORT:-18080}
base="http://127.0.0.1:$port"
"$bin" --data-dir "$dir" serve --listen "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
number=$("$bin" --data-dir "$dir" account create --name Bench | tail -n1)
echo 'Bench-Password-2026' | "$bin" --data-dir "$dir" user create --account "$number" --username bench \
  --email bench@example.test --role admin --password-stdin >/dev/null
token=$("$bin" --data-dir "$dir" api-token create --username bench | tail -n1)
sleep 2
rss() { awk '/^VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status"; }
peak() { awk '/^VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status"; }
echo "idle RSS: $(rss)"

cat >"$dir/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"username":"bench","password":"Bench-Password-2026"}'
wrk.headers["Content-Type"] = "application/json"
LUA
echo "--- raw Argon2id rate (all cores)"
target/release/examples/argon2_rate 10
echo "--- password sign-in alone: POST /api/v1/login, 16 connections, 15 s"
wrk -t1 -c16 -d15s -s "$dir/login.lua" "$base/api/v1/login" >"$dir/login.txt"
grep -E "Requests/sec|Non-2xx" "$dir/login.txt" | sed 's/^/login  /'
echo "--- /healthz (4 connections, 10 s) while sign-ins saturate the CPU"
wrk -t1 -c16 -d20s -s "$dir/login.lua" "$base/api/v1/login" >"$dir/login2.txt" &
wpid=$!
sleep 5
wrk -t1 -c4 -d10s --latency "$base/healthz" >"$dir/health.txt"
wait $wpid
grep -E "Requests/sec|50%|99%" "$dir/health.txt" | sed 's/^/healthz /'
echo "--- 200 concurrent connections: GET /api/v1/users (bearer), 15 s"
wrk -t2 -c200 -d15s --latency -H "Authorization: Bearer $token" "$base/api/v1/users" >"$dir/users.txt"
grep -E "Requests/sec|50%|99%|Non-2xx" "$dir/users.txt" | sed 's/^/users  /'
echo "RSS after: $(rss); peak RSS over the whole run: $(peak)"
