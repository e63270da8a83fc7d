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

# The slim build: no optional backend (cargo features mongodb, postgres),
# the embedded store and a local archive only. It must build, lint clean,
# pass the library's tests and refuse the missing backends' URIs clearly.
echo "== cargo build --no-default-features"
cargo build --no-default-features
echo "== cargo clippy --no-default-features"
cargo clippy --no-default-features --all-targets -- -D warnings
echo "== cargo test --no-default-features (lib, backends)"
cargo test --no-default-features --lib --test backends
