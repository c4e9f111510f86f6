#!/usr/bin/env bash
# Validation API benchmark (SPEC §9): POST /api/v1/validate with valid TOTP
# codes, 64 connections, SQLite (or PostgreSQL via GATEHOUSE_DATABASE_URL).
# Every request validates a different (user, time step) pair, so each code
# is genuinely accepted once; the script counts true results.
#
#   bash scripts/bench-validate.sh [USERS] [SECONDS]
#
# Needs wrk and python3. Sends traffic to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-100000}
seconds=${2:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin gatehouse
cargo build --release --quiet -p gatehouse-web --example bench_seed
dir=$(mktemp -d)
port=${PORT:-18081}
target/release/examples/bench_seed "$dir" "$users"
target/release/gatehouse --data-dir "$dir" serve --listen "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
secret=$(target/release/gatehouse --data-dir "$dir" api-client create --name bench | tail -n1)
# Codes for this time step and the next (both valid within ±1 step for the run).
read -r code0 code1 < <(python3 - <<'PY'
import hmac, hashlib, struct, time
seed = b"12345678901234567890"
def code(step):
    h = hmac.new(seed, struct.pack(">Q", step), hashlib.sha1).digest()
    o = h[-1] & 15
    return "%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 1000000)
s = int(time.time()) // 30
print(code(s), code(s + 1))
PY
)
cat >"$dir/validate.lua" <<LUA
local users = $users
local codes = { "$code0", "$code1" }
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  n = 0
  ok = 0
  fail = 0
  per = math.floor(users / 2)
  first = id * per
end
function request()
  local i = n % per
  local round = math.floor(n / per) + 1
  n = n + 1
  if round > 2 then round = 2 end
  local body = string.format('{"username":"bench%d","code":"%s"}', first + i, codes[round])
  return wrk.format("POST", "/api/v1/validate",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer $secret" }, body)
end
function response(status, headers, body)
  if string.find(body, '"result":true', 1, true) then ok = ok + 1 else fail = fail + 1 end
end
function done(summary, latency, requests)
  local t_ok, t_fail = 0, 0
  for _, t in ipairs(threads) do
    t_ok = t_ok + t:get("ok")
    t_fail = t_fail + t:get("fail")
  end
  io.write(string.format("results: %d true, %d false\n", t_ok, t_fail))
end
LUA
echo "--- POST /api/v1/validate, $users users, 64 connections, ${seconds} s"
wrk -t2 -c64 -d"${seconds}s" --latency -s "$dir/validate.lua" "http://127.0.0.1:$port" | grep -E "Requests/sec|50%|90%|99%|results|Non-2xx|Socket"
echo "RSS: $(awk '/^VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
# The HTTP ceiling of this server on this machine, measured in the same run:
# GET /healthz (no database) at the same 64 connections.
echo "--- GET /healthz, 64 connections, 5 s (same server)"
wrk -t2 -c64 -d5s --latency "http://127.0.0.1:$port/healthz" | grep -E "Requests/sec|99%"
if [ -n "${GATEHOUSE_DATABASE_URL:-}" ]; then :; else
  echo "SQLite files: db $(du -h "$dir/gatehouse.db" | cut -f1), wal $(du -h "$dir/gatehouse.db-wal" 2>/dev/null | cut -f1)"
fi
