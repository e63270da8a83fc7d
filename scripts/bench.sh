#!/usr/bin/env bash
# Benchmarks every job in a release build on data it generates itself, and
# prints events/s and peak RSS for each. Usage: scripts/bench.sh [ROWS]
# `scripts/bench.sh --peers [ROWS]` compares chronicle with DuckDB instead
# (scripts/bench-peers.sh).
# Each scripts/bench.d/*.sh adds the jobs of one feature; they share the
# variables and the `measure` function defined here.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --peers ]; then
  shift
  exec scripts/bench-peers.sh "$@"
fi

ROWS=${1:-${ROWS:-1000000}}
BENCH_DIR=${BENCH_DIR:-$PWD/bench-data}
mkdir -p "$BENCH_DIR"
cargo build --release --quiet
CHRONICLE=$PWD/target/release/chronicle
CSV=$BENCH_DIR/payments-$ROWS.csv
MAPPING=$PWD/scripts/bench-payments.toml
if [ ! -s "$CSV" ]; then
  python3 scripts/gen-payments.py --rows "$ROWS" --seed 42 --out "$CSV"
fi

# measure LABEL EVENTS CMD...: runs CMD, prints events/s and peak RSS.
measure() {
  local label=$1 events=$2
  shift 2
  local stats
  stats=$(mktemp)
  /usr/bin/time -f "%e %M" -o "$stats" "$@" >/dev/null || {
    local rc=$?
    # Exit 1 means "finished with rejects/conflicts", which benches may expect.
    [ "$rc" -eq 1 ] || { echo "$label: failed with exit $rc"; cat "$stats"; return 1; }
  }
  read -r secs rss_kb < <(tail -n 1 "$stats")
  rm -f "$stats"
  python3 - "$label" "$events" "$secs" "$rss_kb" <<'PY'
import sys
label, events, secs, rss = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rate = events / secs if secs > 0 else float("inf")
print(f"{label:<48} {events:>10,} events {secs:>7.2f} s {rate:>12,.0f} events/s  peak RSS {rss/1024:>7.1f} MB")
PY
}

echo "chronicle bench: $ROWS rows, $(nproc) cores, data in $BENCH_DIR"
STORE_DB=$BENCH_DIR/store-$ROWS.db
rm -f "$STORE_DB" "$STORE_DB"-wal "$STORE_DB"-shm
measure "import csv -> sqlite (fresh store)" "$ROWS" \
  "$CHRONICLE" --quiet --store "sqlite:$STORE_DB" import csv "$CSV" --mapping "$MAPPING" --rejects "$BENCH_DIR/rejects.csv"
measure "import csv -> sqlite (re-run, all duplicates)" "$ROWS" \
  "$CHRONICLE" --quiet --store "sqlite:$STORE_DB" import csv "$CSV" --mapping "$MAPPING" --rejects "$BENCH_DIR/rejects.csv"
measure "export sqlite -> jsonl" "$ROWS" \
  "$CHRONICLE" --quiet --store "sqlite:$STORE_DB" export -o "$BENCH_DIR/export.jsonl"

for part in scripts/bench.d/*.sh; do
  [ -e "$part" ] || continue
  # shellcheck source=/dev/null
  source "$part"
done
