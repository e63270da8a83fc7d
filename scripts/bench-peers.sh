#!/usr/bin/env bash
# chronicle side by side with DuckDB (issue 13): `scripts/bench.sh --peers [ROWS]`
# (ROUNDS=3 by default; KEEP=1 keeps each round's files; CHRONICLE=BIN benches
# BIN instead of building this tree). Generates ROWS payments (1,000,000) with `created`
# spread over two years in time order, mapped by scripts/bench-payments.toml
# plus received_at = created, and runs four jobs on both sides in interleaved
# rounds (the side that goes first alternates), each job as its own process
# under /usr/bin/time (wall time, peak RSS):
#   import   chronicle import csv -> fresh SQLite store | DuckDB CSV -> table keyed by id, INSERT OR IGNORE
#   archive  chronicle archive (write, verify, delete)   | COPY ... (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (year, month))
#   replay   chronicle replay -> fresh store             | INSERT OR IGNORE of read_parquet('archive/**/*.parquet') into a keyed table
#   rebuild  the revenue table projection from the archive | the same report as one SQL query over the same Parquet files
# Replay and rebuild read chronicle's archive on both sides (the same files).
# After each job, untimed checks compare the two sides' events, counts and
# totals, and print a MISMATCH line if they differ. DuckDB comes from PyPI
# (duckdb==2.0.1, else the newest) in a venv of its own, with default threads.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-${ROWS:-1000000}}
ROUNDS=${ROUNDS:-3}
BENCH_DIR=${BENCH_DIR:-$PWD/bench-data}
PEERS_DIR=$BENCH_DIR/peers
mkdir -p "$PEERS_DIR"
# CHRONICLE=/path/to/chronicle benches that binary instead of building this tree.
if [ -z "${CHRONICLE:-}" ]; then
  cargo build --release --quiet
  CHRONICLE=$PWD/target/release/chronicle
fi
PEERS_PY=$PWD/scripts/bench-peers.py

VENV=$BENCH_DIR/.venv-peers
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import duckdb' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "duckdb==2.0.1" || "$VENV/bin/pip" install --quiet --upgrade duckdb
fi
PY=$VENV/bin/python
DUCKDB_VERSION=$("$PY" -c 'import duckdb; print(duckdb.__version__)')

CSV=$PEERS_DIR/payments-$ROWS.csv
if [ ! -s "$CSV" ]; then
  python3 scripts/gen-payments.py --rows "$ROWS" --seed 42 --years 2 --sorted --out "$CSV.tmp"
  mv "$CSV.tmp" "$CSV"
fi
MAPPING=$PEERS_DIR/bench-payments-peers.toml
sed '/^created_at = /{p;s/^created_at = /received_at = /}' scripts/bench-payments.toml >"$MAPPING"

RESULTS=$PEERS_DIR/results-$ROWS.tsv
: >"$RESULTS"
MISMATCHES=0

# timed JOB SIDE ROUND EVENTS CMD...: runs CMD under /usr/bin/time, appends
# "JOB SIDE ROUND SECS RSS_KB EVENTS INNER_SECS" to $RESULTS and prints it
# (INNER_SECS: DuckDB's time after importing duckdb, else SECS).
timed() {
  local job=$1 side=$2 round=$3 events=$4 stats rc=0
  shift 4
  stats=$(mktemp)
  rm -f "$PEERS_DIR/inner"
  PEERS_INNER=$PEERS_DIR/inner /usr/bin/time -f "%e %M" -o "$stats" "$@" >"$PEERS_DIR/last-$side.out" 2>&1 || rc=$?
  # chronicle exits 1 when an import finished with rejects (the DST-gap rows).
  if [ "$rc" -ne 0 ] && ! { [ "$rc" -eq 1 ] && [ "$side" = chronicle ] && [ "$job" = import ]; }; then
    echo "$job ($side) failed with exit $rc:"
    cat "$PEERS_DIR/last-$side.out" "$stats"
    exit 1
  fi
  read -r secs rss_kb < <(tail -n 1 "$stats")
  rm -f "$stats"
  inner=$secs
  [ ! -s "$PEERS_DIR/inner" ] || inner=$(cat "$PEERS_DIR/inner")
  echo "$job $side $round $secs $rss_kb $events $inner" >>"$RESULTS"
  awk -v j="$job" -v s="$side" -v t="$secs" -v r="$rss_kb" -v e="$events" \
    'BEGIN {printf "  %-8s %-9s %7.2f s %12.0f events/s  peak RSS %6.1f MB\n", j, s, t, e / t, r / 1024}'
}

# pair JOB ROUND EVENTS 'chronicle command' 'duckdb command': both sides, the
# first side alternating by round.
pair() {
  local job=$1 round=$2 events=$3 chron=$4 duck=$5
  if [ $((round % 2)) -eq 1 ]; then
    timed "$job" chronicle "$round" "$events" bash -c "$chron"
    timed "$job" duckdb "$round" "$events" bash -c "$duck"
  else
    timed "$job" duckdb "$round" "$events" bash -c "$duck"
    timed "$job" chronicle "$round" "$events" bash -c "$chron"
  fi
}

check() { "$PY" "$PEERS_PY" "$@" || MISMATCHES=$((MISMATCHES + 1)); }
live_total() {
  "$CHRONICLE" --json --store "sqlite:$1" status | python3 -c 'import json,sys; print(json.load(sys.stdin)["live_total"])'
}

echo "chronicle vs DuckDB $DUCKDB_VERSION: $ROWS rows, $ROUNDS rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), data in $PEERS_DIR"
"$PY" -c 'import time; t = time.time(); import duckdb; duckdb.connect(); print(f"  (DuckDB times include starting python and importing duckdb: {time.time() - t:.2f} s here)")'
for round in $(seq 1 "$ROUNDS"); do
  R=$PEERS_DIR/round-$round
  rm -rf "$R"
  mkdir -p "$R"
  echo "round $round (load $(cut -d' ' -f1-3 /proc/loadavg))"

  pair import "$round" "$ROWS" \
    "'$CHRONICLE' --quiet --store 'sqlite:$R/chronicle.db' import csv '$CSV' --mapping '$MAPPING' --rejects '$R/rejects.csv'" \
    "'$PY' '$PEERS_PY' import '$R/duck.db' '$CSV'"
  EVENTS=$(live_total "$R/chronicle.db")
  if [ "$round" -eq 1 ]; then
    # The whole content, once: chronicle's export against DuckDB's table.
    "$CHRONICLE" --quiet --store "sqlite:$R/chronicle.db" export -o "$R/export.jsonl"
    check check-import "$R/duck.db" "$R/export.jsonl" "$EVENTS"
    rm -f "$R/export.jsonl"
  else
    check check-replay "$R/duck.db" "$EVENTS" "$EVENTS" import
  fi

  pair archive "$round" "$EVENTS" \
    "'$CHRONICLE' --quiet --store 'sqlite:$R/chronicle.db' archive --before 2100-01-01 --lag 0 --archive '$R/archive'" \
    "'$PY' '$PEERS_PY' archive '$R/duck.db' '$R/duck-archive'"
  check check-archive "$R/duck-archive" "$R/archive" "$EVENTS" "$(live_total "$R/chronicle.db")"

  pair replay "$round" "$EVENTS" \
    "'$CHRONICLE' --quiet --store 'sqlite:$R/replay.db' replay --archive '$R/archive'" \
    "'$PY' '$PEERS_PY' replay '$R/duck-replay.db' '$R/archive'"
  check check-replay "$R/duck-replay.db" "$(live_total "$R/replay.db")" "$EVENTS"
  rm -f "$R"/replay.db* "$R/duck-replay.db"

  # The revenue projection of scripts/bench.d/50-rebuild.sh, over the archive (the
  # store's live window is empty after the archive job).
  {
    echo "archive = \"$R/archive\""
    sed "s|REPORTS_DB|$R/reports.db|" scripts/bench-revenue.toml
  } >"$R/chronicle.toml"
  pair rebuild "$round" "$EVENTS" \
    "'$CHRONICLE' --quiet --config '$R/chronicle.toml' --store 'sqlite:$R/chronicle.db' rebuild revenue" \
    "'$PY' '$PEERS_PY' rebuild '$R/duck-reports.db' '$R/archive'"
  check check-rebuild "$R/duck-reports.db" "$R/reports.db"
  [ -n "${KEEP:-}" ] || rm -rf "$R"
done

echo
echo "chronicle $(git describe --always --dirty) vs DuckDB $DUCKDB_VERSION (pip, default threads), $ROWS rows, median of $ROUNDS rounds, load after the run $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$PEERS_PY" summary "$RESULTS"
if [ "$MISMATCHES" -ne 0 ]; then
  echo "!!!!!!!! $MISMATCHES CHECKS FOUND A MISMATCH: the figures above do not compare the same work !!!!!!!!"
  exit 1
fi
