#!/usr/bin/env bash
# RADIUS front end benchmark (SPEC §9): Access-Requests with valid codes
# from a code-only client (target ≥ 5,000 Access-Accept/s), and with
# password and code (target ≥ 90 % of the raw Argon2id rate, measured in
# the same run). Real RADIUS packets over loopback UDP
# (crates/radius/examples/radius_load.rs), each a distinct valid code.
#
#   bash scripts/bench-radius.sh [USERS] [SECONDS]
#
# Sends traffic to 127.0.0.1/127.0.0.2 only.
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-150000}
seconds=${2:-10}
cargo build --release --quiet --bin gatehouse
cargo build --release --quiet -p gatehouse-web --example bench_seed
cargo build --release --quiet -p gatehouse-radius --example radius_load
cargo build --release --quiet -p gatehouse-domain --example argon2_rate
bin=target/release/gatehouse
dir=$(mktemp -d)
port=${PORT:-18083}
rport=${RADIUS_PORT:-18123}
target/release/examples/bench_seed "$dir" "$users"
printf '[radius]\nlisten = "127.0.0.1:%s"\n' "$rport" >"$dir/gatehouse.toml"
code_secret=$("$bin" --data-dir "$dir" radius-client create --name bench-code --account 99999999 \
  --address 127.0.0.1 --mode code-only | tail -n1)
pw_secret=$("$bin" --data-dir "$dir" radius-client create --name bench-password --account 99999999 \
  --address 127.0.0.2 | tail -n1)
"$bin" --data-dir "$dir" serve --listen "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
sleep 1
load=target/release/examples/radius_load
# Two thirds of the users for the code-only run, the rest for the password
# run: no code is sent twice across the two.
code_users=$((users * 2 / 3))
echo "--- code-only: Access-Requests with valid codes, 64 in flight, ${seconds} s (users 0…$((code_users - 1)))"
"$load" "127.0.0.1:$rport" "$code_secret" "$code_users" "$seconds" 64
echo "--- raw Argon2id rate (all cores)"
target/release/examples/argon2_rate 10
echo "--- password and code: 16 in flight, 15 s (users from $code_users on)"
"$load" "127.0.0.1:$rport" "$pw_secret" "$((users - code_users))" 15 16 Bench-Password-2026 127.0.0.2 "$code_users"
echo "RSS: $(awk '/^VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
echo "server warnings and errors: $(grep -cE 'WARN|ERROR' "$dir/server.log" || true)"
grep -E 'WARN|ERROR' "$dir/server.log" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-200 | sort | uniq -c | sort -rn | head -5 || true
