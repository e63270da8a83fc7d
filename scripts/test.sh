#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need,
# starts the servers they talk to (scripts/ci/*.sh, in name order), then runs
# formatting, lint and every test. The README and .ci/run call this script.
set -euo pipefail
cd "$(dirname "$0")/.."

CLEANUP=()
cleanup() {
  local c
  for c in "${CLEANUP[@]}"; do eval "$c" || true; done
}
trap cleanup EXIT

for step in scripts/ci/*.sh; do
  echo "== ${step}"
  # shellcheck source=/dev/null
  source "${step}"
done

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
cargo test --all-targets
