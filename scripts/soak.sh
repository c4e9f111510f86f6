#!/usr/bin/env bash
# Soak test (SPEC §9): MINUTES of mixed load at 64 connections against one
# release server on SQLite (or PostgreSQL via GATEHOUSE_DATABASE_URL):
#   - 32 connections: POST /api/v1/validate, every request a distinct valid
#     code (HOTP users, each user's counter advancing one code at a time)
#   -  8 connections: sign-ins with a Security Code (POST /api/v1/login,
#     GET /api/v1/session for the CSRF token, POST /api/v1/login/security-code;
#     TOTP users, each signing in once)
#   - 12 connections: the Users screen (GET /users, an administrator's session)
#   - 12 connections: anonymous page views (GET /login)
# Every minute: requests, errors and p50/p99 per kind and the server's peak
# RSS in that minute; at the end the database and WAL sizes.
#
#   bash scripts/soak.sh [MINUTES]
#
# Needs wrk, curl and python3. Sends traffic to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
hotp_users=2000      # 1,000 per wrk thread: one request in flight per user
totp_users=120000    # sign-ins: each user once
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin gatehouse
cargo build --release --quiet -p gatehouse-web --example bench_seed
bin=target/release/gatehouse
dir=$(mktemp -d)
port=${PORT:-18082}
base="http://127.0.0.1:$port"
target/release/examples/bench_seed "$dir" $((hotp_users + totp_users)) "$hotp_users"
"$bin" --data-dir "$dir" serve --listen "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
secret=$("$bin" --data-dir "$dir" api-client create --name soak | tail -n1)
# An administrator of the seeded account (bench_seed's number), whose Users
# screen lists all its users.
echo 'Soak-Password-2026' | "$bin" --data-dir "$dir" user create --account 99999999 --username soakadmin \
  --email soak@example.test --role admin --password-stdin >/dev/null
cookie=$(curl -fs -c - -o /dev/null -H 'Content-Type: application/json' \
  -d '{"username":"soakadmin","password":"Soak-Password-2026"}' "$base/api/v1/login" |
  awk '$6 ~ /gatehouse_session/ {print $6 "=" $7}')

# The codes, as Lua tables: HOTP counters 0… and TOTP steps of the run (the
# seeded credentials share one seed).
python3 - "$dir" "$minutes" <<'PY'
import hmac, hashlib, struct, sys, time
dir, minutes = sys.argv[1], int(sys.argv[2])
seed = b"12345678901234567890"
def code(c):
    h = hmac.new(seed, struct.pack(">Q", c), hashlib.sha1).digest()
    o = h[-1] & 15
    return "%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 1000000)
with open(f"{dir}/codes.lua", "w") as f:
    # up to 20,000 validations/s over 2,000 users: 10 per user per second
    f.write("hotp = {" + ",".join('"%s"' % code(c) for c in range(600 * (minutes + 1))) + "}\n")
    s0 = int(time.time()) // 30
    f.write("step0 = %d\n" % s0)
    f.write("totp = {" + ",".join('"%s"' % code(s) for s in range(s0, s0 + 2 * minutes + 8)) + "}\n")
PY

cat >"$dir/common.lua" <<LUA
dofile("$dir/codes.lua")
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("bad")
    io.write(string.format("next %d %d\n", t:get("id"), t:get("n")))
  end
  io.write(string.format("bad answers: %d\n", bad))
end
LUA
cat >"$dir/v.lua" <<LUA
dofile("$dir/common.lua")
offsets = { 0, 0 }
function init(args) n = offsets[id + 1]; bad = 0; per = 1000; first = id * per end
function request()
  local user = first + (n % per)
  local c = hotp[math.floor(n / per) + 1]
  n = n + 1
  return wrk.format("POST", "/api/v1/validate",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer $secret" },
    string.format('{"username":"bench%d","code":"%s"}', user, c))
end
function response(status, headers, body)
  if not string.find(body, '"result":true', 1, true) then bad = bad + 1 end
end
LUA
cat >"$dir/s.lua" <<LUA
dofile("$dir/common.lua")
-- One connection per thread: the three steps' state (cookie, CSRF
-- token) lives in the thread's Lua state, which its connections share.
offsets = { 0, 0, 0, 0, 0, 0, 0, 0 }
function init(args) n = offsets[id + 1]; bad = 0; step = 1; first = $hotp_users + id * 10000 end
function request()
  if step == 1 then
    local body = string.format('{"username":"bench%d","password":"Bench-Password-2026"}', first + n)
    n = n + 1
    return wrk.format("POST", "/api/v1/login", { ["Content-Type"] = "application/json" }, body)
  elseif step == 2 then
    return wrk.format("GET", "/api/v1/session", { ["Cookie"] = session })
  end
  local c = totp[math.floor(os.time() / 30) - step0 + 1]
  return wrk.format("POST", "/api/v1/login/security-code",
    { ["Content-Type"] = "application/json", ["Cookie"] = session, ["X-CSRF-Token"] = csrf },
    string.format('{"code":"%s"}', c))
end
function response(status, headers, body)
  if step == 1 then
    local c = headers["Set-Cookie"] or headers["set-cookie"] or ""
    session = string.match(c, "([^;]*gatehouse_session=[^;]*)") or ""
    if status ~= 200 then bad = bad + 1 else step = 2 end
  elseif step == 2 then
    csrf = string.match(body, '"csrf_token":"([^"]*)"') or ""
    step = 3
  else
    if not string.find(body, '"authenticated"', 1, true) then bad = bad + 1 end
    step = 1
  end
end
LUA

# Each minute goes on where the last one stopped: the next HOTP counter of
# every validation user, the next sign-in user.
printf "%-6s %-10s %9s %7s %8s %9s %9s\n" minute kind requests errors timeouts p50 p99
peak_rss=()
for m in $(seq 1 "$minutes"); do
  if [ "$m" -gt 1 ]; then
    v0=$(awk '$1 == "next" && $2 == 0 {print $3}' "$dir/v.txt")
    v1=$(awk '$1 == "next" && $2 == 1 {print $3}' "$dir/v.txt")
    s=$(awk '$1 == "next" {o[$2] = $3} END {for (i = 0; i < 8; i++) printf "%s%d", (i ? ", " : ""), o[i]}' "$dir/s.txt")
    sed -i "s/^offsets = .*/offsets = { $v0, $v1 }/" "$dir/v.lua"
    sed -i "s/^offsets = .*/offsets = { $s }/" "$dir/s.lua"
  fi
  wrk -t2 -c32 -d60s --latency -s "$dir/v.lua" "$base" >"$dir/v.txt" &
  wrk -t8 -c8 -d60s --latency -s "$dir/s.lua" "$base" >"$dir/s.txt" &
  wrk -t1 -c12 -d60s --latency -H "Cookie: $cookie" "$base/users" >"$dir/u.txt" &
  wrk -t1 -c12 -d60s --latency "$base/login" >"$dir/a.txt" &
  max=0
  for _ in $(seq 1 12); do
    sleep 5
    r=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    [ "$r" -gt "$max" ] && max=$r
  done
  wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
  peak_rss+=("$max")
  for k in v:validate s:sign-in u:users a:anonymous; do
    f="$dir/${k%%:*}.txt"
    reqs=$(awk '/requests in/ {print $1}' "$f")
    # errors: non-2xx answers, wrong answers, failed connections, reads and
    # writes; timeouts (no answer within wrk's 2 s) are shown apart.
    errs=$(awk '/Non-2xx/ {e += $NF} /Socket errors/ {gsub(",", ""); e += $4 + $6 + $8} /bad answers/ {e += $3} END {print e + 0}' "$f")
    touts=$(awk '/Socket errors/ {gsub(",", ""); t += $10} END {print t + 0}' "$f")
    p50=$(awk '$1 == "50%" {print $2}' "$f")
    p99=$(awk '$1 == "99%" {print $2}' "$f")
    printf "%-6s %-10s %9s %7s %8s %9s %9s\n" "$m" "${k##*:}" "$reqs" "$errs" "$touts" "$p50" "$p99"
  done
  printf "%-6s %-10s %s MiB\n" "$m" "peak RSS" "$((max / 1024))"
done
if [ "${#peak_rss[@]}" -ge 2 ]; then
  second=${peak_rss[1]}
  last=${peak_rss[-1]}
  echo "peak RSS: minute 2 $((second / 1024)) MiB, last minute $((last / 1024)) MiB ($(( (last - second) * 100 / second )) %)"
fi
if [ -z "${GATEHOUSE_DATABASE_URL:-}" ]; then
  echo "database $(du -h "$dir/gatehouse.db" | cut -f1), WAL $(du -h "$dir/gatehouse.db-wal" 2>/dev/null | cut -f1 || echo 0)"
fi
echo "server warnings and errors: $(grep -ciE 'WARN|ERROR' "$dir/server.log" || true)"
grep -iE 'WARN|ERROR' "$dir/server.log" | sed -E 's/^[^ ]+ +//' | cut -c1-160 | sort | uniq -c | sort -rn | head -5 || true
