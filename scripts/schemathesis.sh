#!/usr/bin/env bash
# The API checked against its own OpenAPI document by an independent client,
# schemathesis (https://schemathesis.readthedocs.io): every operation is
# called with examples generated from the document — valid ones and
# deliberately invalid ones — as an account's administrator, as the
# provider's operator and, for the validation API, as an API client. Each
# answer must be no server error, have a status the document declares for
# the operation, the content type it declares, and a body that matches the
# declared schema.
#
#   bash scripts/schemathesis.sh [MAX_EXAMPLES]
#
# GATEHOUSE_BIN selects the binary (default target/debug/gatehouse, built
# if missing). Reports go to target/schemathesis/.
set -euo pipefail
cd "$(dirname "$0")/.."

max_examples=${1:-20}
# How many operations must have answered a success at least once: the runs
# must reach the handlers, not only be refused at the door.
min_reached=${SCHEMATHESIS_MIN_REACHED:-25}
bin=${GATEHOUSE_BIN:-target/debug/gatehouse}
[ -x "$bin" ] || cargo build --locked --bin gatehouse
command -v schemathesis >/dev/null 2>&1 || pip install --quiet 'schemathesis==4.32.5'

work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export GATEHOUSE_DATA_DIR="$work"
# Schemathesis sends a few thousand requests from one address: the
# throttles stay on (their 429 is part of the contract), with room enough
# that most requests reach the handlers.
export GATEHOUSE_ADDRESS_FAILURE_LIMIT=100000
export GATEHOUSE_LOG_LEVEL=warn
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

# A world to call into: an account with an administrator and a user, the
# catalog, inventory, and tokens for each caller. `serve --demo` sends
# texts and calls to the virtual phone, so PhoneFactor can be ordered.
"$bin" migrate >/dev/null
account=$("$bin" account create --name "Example Co")
echo 'Sch3mathesis-admin!' | "$bin" user create --account "$account" --username admin1 \
  --email admin1@example.com --name "Ada Admin" --role admin --password-stdin >/dev/null
echo 'Sch3mathesis-user!' | "$bin" user create --account "$account" --username user1 \
  --email user1@example.com --name "Uma User" --role user --password-stdin >/dev/null
"$bin" price set --method symantec_vip --amount 300 --currency USD
"$bin" price set --method phonefactor --amount 500 --currency USD
"$bin" promo create --code WELCOME10 --percent-off 10
printf 'Master Services Agreement\n' > "$work/msa.txt"
"$bin" msa publish --version 2026-01 --file "$work/msa.txt"
"$bin" tokens issue-soft --count 3 >/dev/null
"$bin" serve --listen "127.0.0.1:$port" --demo > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null
operator=$(sed -n 's/^ *Username *//p' "$work/serve.log" | head -n 1)
[ "$operator" = operator ] || { echo "no first-run operator in the server's output"; cat "$work/serve.log"; exit 1; }
admin_token=$("$bin" api-token create --username admin1 --name schemathesis)
operator_token=$("$bin" api-token create --username operator --name schemathesis)
client_secret=$("$bin" api-client create --name schemathesis)

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
mkdir -p target/schemathesis
status=0
run() {
  local who=$1 token=$2
  shift 2
  echo "== schemathesis as $who"
  schemathesis run "$base/api/openapi.json" \
    --checks "$checks" \
    --max-examples "$max_examples" \
    --seed 1 \
    --workers 1 \
    --request-timeout 30 \
    --suppress-health-check too_slow \
    --report junit --report-junit-path "target/schemathesis/$who.xml" \
    -H "Authorization: Bearer $token" \
    "$@" || status=1
}
# The operations that end the caller's own credentials are left out of the
# runs that use them (revoking the token in use would leave the rest of the
# run unauthenticated); the access-matrix tests cover them.
# The signed-in user's own settings take a session cookie only (and a CSRF
# token on writes): a user signed in through the API, first (the
# administrator's run may reset that user's password). Signing out and
# changing the password would end the session the run uses.
curl -fsS -c "$work/cookies" -H 'Content-Type: application/json' \
  -d '{"username": "user1", "password": "Sch3mathesis-user!"}' "$base/api/v1/login" >/dev/null
csrf=$(curl -fsS -b "$work/cookies" "$base/api/v1/session" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["csrf_token"])')
session=$(awk '$6 == "gatehouse_session" { print $7 }' "$work/cookies")
[ -n "$session" ] || { echo "no session cookie from POST /api/v1/login"; exit 1; }
echo "== schemathesis as user (session)"
schemathesis run "$base/api/openapi.json" \
  --checks "$checks" --max-examples "$max_examples" --seed 1 --workers 1 \
  --request-timeout 30 --suppress-health-check too_slow \
  --report junit --report-junit-path "target/schemathesis/user-session.xml" \
  -H "Cookie: gatehouse_session=$session" -H "X-CSRF-Token: $csrf" \
  --include-path-regex '^/api/v1/(me/|session$)' --exclude-path /api/v1/me/password || status=1
run administrator "$admin_token" \
  --exclude-operation-id api_token_revoke --exclude-path-regex '^/api/v1/validate$'
run operator "$operator_token" \
  --exclude-operation-id api_token_revoke --exclude-operation-id api_client_revoke \
  --exclude-path-regex '^/api/v1/validate$'
run api-client "$client_secret" --include-path '/api/v1/validate'
if ! kill -0 "$server" 2>/dev/null; then
  echo "the server died during the run"; tail -n 50 "$work/serve.log"; exit 1
fi
# What the server answered, by status class, from its own request counter
# (read from this host): evidence that the runs reached the handlers and
# were not all refused at the door.
curl -fsS "$base/metrics" | python3 -c '
import re, sys, collections
by = collections.Counter()
ok = set()
for line in sys.stdin:
    m = re.match(r"gatehouse_http_requests_total\{(.*)\} (\d+)", line)
    if m and "/api/v1" in m.group(1):
        labels = dict(re.findall(r"(\w+)=\"([^\"]*)\"", m.group(1)))
        by[labels["status"]] += int(m.group(2))
        if labels["status"].startswith("2"):
            ok.add((labels["method"], labels["route"]))
print("API answers by status:", ", ".join(f"{k}: {v}" for k, v in sorted(by.items())))
print("operations answered with a success at least once:", len(ok))
if len(ok) < int(sys.argv[1]):
    sys.exit(f"fewer than {sys.argv[1]}: the runs did not reach the handlers")
' "$min_reached" || status=1
exit $status
