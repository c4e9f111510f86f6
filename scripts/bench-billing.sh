#!/usr/bin/env bash
# Billing benchmark (SPEC §9): `gatehouse billing run` for 100,000
# subscriptions across 1,000 accounts, first run (closes the month) and a
# re-run (reads the stored statements). SQLite in a temporary data directory,
# or PostgreSQL when GATEHOUSE_DATABASE_URL is set (use an empty database).
#
#   bash scripts/bench-billing.sh [ACCOUNTS] [SUBSCRIPTIONS_PER_ACCOUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
accounts=${1:-1000}
subs=${2:-100}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin gatehouse
cargo build --release --quiet -p gatehouse-store --example billing_seed
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
url=${GATEHOUSE_DATABASE_URL:-sqlite://$dir/gatehouse.db}
period=$("$target/release/examples/billing_seed" "$url" "$accounts" "$subs")
for run in first re-run; do
  start=$(date +%s.%N)
  "$target/release/gatehouse" --data-dir "$dir" billing run --period "$period" --csv "$dir/statements.csv" >"$dir/out.txt"
  end=$(date +%s.%N)
  printf '%-7s %s: %.2f s, %s statements, %s CSV lines, %s\n' "$run" "$period" \
    "$(echo "$end - $start" | bc)" "$(grep -c ' line(s), ' "$dir/out.txt")" \
    "$(($(wc -l <"$dir/statements.csv") - 1))" "$(tail -n1 "$dir/out.txt")"
done
