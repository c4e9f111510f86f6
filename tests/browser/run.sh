#!/usr/bin/env bash
# Headless-Chromium tests of the portal pages.
# Usage (from anywhere): bash tests/browser/run.sh
# GATEHOUSE_BIN: the gatehouse binary (default: target/debug/gatehouse of this repo).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

export GATEHOUSE_BIN="${GATEHOUSE_BIN:-$root/target/debug/gatehouse}"
case "$GATEHOUSE_BIN" in
  /*) ;;
  *) GATEHOUSE_BIN="$PWD/$GATEHOUSE_BIN" ;;
esac
if [ ! -x "$GATEHOUSE_BIN" ]; then
  echo "run.sh: building gatehouse (no binary at $GATEHOUSE_BIN)" >&2
  (cd "$root" && cargo build --bin gatehouse)
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "run.sh: installing Debian's chromium" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

if ! python3 -c 'import pskc' 2>/dev/null; then
  echo "run.sh: installing python-pskc (writes the vendor seed files of the tests)" >&2
  python3 -m pip install --quiet python-pskc
fi
if [ ! -x "$root/target/debug/authenticator" ] && [ -z "${AUTHENTICATOR_BIN:-}" ]; then
  # The workspace's test-mode selection (as `cargo test --workspace`), so
  # that after the test suite only the binary itself is linked; `-p` would
  # unify features differently and rebuild its dependencies.
  (cd "$root" && cargo build --workspace --bins --tests --examples)
fi

cd "$here"
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund
fi

status=0
node --test --test-concurrency=1 --test-timeout=90000 ./*.test.mjs || status=$?
exit "$status"
