#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 60), one
# after the other, and prints per target the executions, CPU time and what was
# found. Exits non-zero when any target crashed, hung or ran out of memory;
# the input that did it is under fuzz/artifacts/<target>/ (see docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). Works on the stable
# toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly flags, and
# the sanitizer defaults to none (set FUZZ_SANITIZER=address where the ASan
# runtime exists). Run it niced on a shared machine: `nice -n 19 scripts/fuzz.sh`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECONDS_PER_TARGET="${1:-60}"
shift || true
SANITIZER="${FUZZ_SANITIZER:-none}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
  exit 2
fi

if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo fuzz list)
fi

cargo fuzz build --sanitizer "$SANITIZER" >/dev/null

# Seeds made from the test fixtures at run time rather than committed as
# copies: `seed TARGET SELECTOR FILE...` writes corpus/TARGET/fixture-NAME,
# with the byte that picks the target's mapping in front when SELECTOR is
# not `-` (the csv, pgdump and mysqldump targets read it first).
seed() {
  local target=$1 selector=$2 file name
  shift 2
  mkdir -p "corpus/$target"
  for file in "$@"; do
    name="corpus/$target/fixture-$selector-$(basename "$file")"
    if [ "$selector" = - ]; then
      cp "../$file" "$name"
    else
      { printf "\\x$selector"; cat "../$file"; } >"$name"
    fi
  done
}
seed csv 00 fixtures/csv/legacy-payments.csv fixtures/csv/legacy-payments.csv.gz
seed csv 01 fixtures/csv/legacy-payments.cp1252.csv
seed csv 02 fixtures/csv/typed-noheader.tsv
for sel in 00 01; do
  seed pgdump "$sel" fixtures/dumps/pg-plain.sql fixtures/dumps/pg-inserts.sql fixtures/dumps/pg-column-inserts.sql
  seed mysqldump "$sel" fixtures/dumps/my-extended.sql fixtures/dumps/my-complete-hex.sql
done
seed bson - fixtures/dumps/orders.bson
seed extjson - fixtures/dumps/orders.array.json fixtures/dumps/orders.canonical.jsonl fixtures/dumps/orders.relaxed.jsonl

LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT
failed=0
printf '%-16s %8s %8s %12s  %s\n' target wall_s cpu_s execs findings
for target in "${TARGETS[@]}"; do
  log="$LOGS/$target.log"
  mkdir -p "corpus/$target"
  start=$(date +%s)
  status=0
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: memory
  # must stay bounded whatever the input.
  /usr/bin/time -f 'cpu_seconds %U %S' -o "$LOGS/$target.time" \
    cargo fuzz run --sanitizer "$SANITIZER" "$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  wall=$(($(date +%s) - start))
  cpu=$(awk '/^cpu_seconds/ {printf "%.0f", $2 + $3}' "$LOGS/$target.time" 2>/dev/null || echo "?")
  # The line is `stat::number_of_executed_units: N`: the count is the last field.
  execs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log" | tail -n 1)
  findings=$(grep -o 'Test unit written to [^ ]*' "$log" | sed 's/Test unit written to //' | tr '\n' ' ' || true)
  if [ "$status" -ne 0 ]; then
    failed=1
    [ -n "$findings" ] || findings="exit status $status (see below)"
  fi
  printf '%-16s %8s %8s %12s  %s\n' "$target" "$wall" "${cpu:-?}" "${execs:-?}" "${findings:-none}"
  if [ "$status" -ne 0 ]; then
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY|deadly signal|timeout|out-of-memory' "$log" | head -n 20 >&2 || tail -n 20 "$log" >&2
  fi
done
exit "$failed"
