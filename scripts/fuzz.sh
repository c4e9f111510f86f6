#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/) once and runs each for SECONDS (default
# 60), two at a time; fails if any target finds a crash (a panic, a failed
# property, a timeout or running out of memory). Prints one line per target
# with libFuzzer's final figures.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      # default: every target
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --version 0.13.2 --locked`).
# It passes nightly flags to rustc, which the stable toolchain accepts with
# RUSTC_BOOTSTRAP=1. Each target's corpus grows in fuzz/work/TARGET (not
# committed), starting from the seeds in fuzz/corpus/TARGET; a crashing
# input is written to fuzz/artifacts/TARGET/, and its log to
# fuzz/work/TARGET.log. To replay a crash:
#
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-…
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-60}
shift || true
# Two at a time: the machines this runs on have two cores.
parallel=${FUZZ_JOBS:-2}
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# fuzz/Cargo.lock is committed, like the root's; cargo fuzz has no --locked.
if ! cargo metadata --locked --format-version 1 >/dev/null; then
  echo "fuzz/Cargo.lock is out of date: run \`cargo metadata --manifest-path fuzz/Cargo.toml --format-version 1 >/dev/null\` and commit it"
  exit 1
fi

# No sanitizer (-s none): unsafe code is forbidden throughout the workspace
# (`unsafe_code = "forbid"`), so AddressSanitizer would watch only the
# dependencies' unsafe code and libstd, at twice the build time and a
# fraction of the speed. What the targets look for are panics: failed
# properties, out-of-bounds slicing, unwraps, and (with -a, debug
# assertions and overflow checks, as in the test builds) arithmetic
# overflow. (cargo-fuzz's default of one codegen unit per crate costs no
# more build time here than 16: the crates build in parallel anyway.)
build_started=$(date +%s)
cargo fuzz build -s none -a
echo "fuzz targets built in $(( $(date +%s) - build_started ))s"

bin_dir=target/x86_64-unknown-linux-gnu/release
mkdir -p work

run_one() {
  local target=$1 status=0 dict=()
  mkdir -p "work/$target" "artifacts/$target"
  # Tokens the mutations insert (element names and URIs for PSKC).
  if [ -f "dict/$target.dict" ]; then dict=(-dict="dict/$target.dict"); fi
  # New inputs go to the first directory (work/), the seeds are read only.
  # A run that takes more than 10 s on one input, or 2 GB, is a failure.
  "$bin_dir/$target" "work/$target" "corpus/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="artifacts/$target/" "${dict[@]}" \
    >"work/$target.log" 2>&1 || status=$?
  echo "$status" >"work/$target.status"
}

summary() {
  local target=$1 status=$2 log="work/$1.log"
  local done_line execs rate
  done_line=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  local cov ft corp
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$done_line")
  printf '%-11s %-6s %12s execs %8s exec/s  cov %6s  ft %7s  corpus %6s\n' \
    "$target" "$status" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
}

printf 'running %s for %ss each, %s at a time\n' "${targets[*]}" "$seconds" "$parallel"
started=$(date +%s)
for target in "${targets[@]}"; do
  [ -x "$bin_dir/$target" ] || { echo "no fuzz target $target"; exit 2; }
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do
    wait -n || true
  done
  rm -f "work/$target.status"
  run_one "$target" &
done
wait
echo "fuzz runs took $(( $(date +%s) - started ))s"

failed=()
for target in "${targets[@]}"; do
  status=$(cat "work/$target.status" 2>/dev/null || echo "?")
  if [ "$status" = 0 ]; then
    summary "$target" ok
  else
    summary "$target" FAILED
    failed+=("$target")
  fi
done
for target in "${failed[@]}"; do
  echo
  echo "--- $target: libFuzzer exited with $(cat "work/$target.status" 2>/dev/null); the end of fuzz/work/$target.log:"
  tail -n 40 "work/$target.log"
  for input in "artifacts/$target"/*; do
    if [ -e "$input" ]; then echo "    input: fuzz/$input"; fi
  done
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "crashes in: ${failed[*]} (inputs in fuzz/artifacts/; each becomes a regression test)"
  exit 1
fi
