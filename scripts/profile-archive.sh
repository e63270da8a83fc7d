#!/usr/bin/env bash
# Profiles `chronicle archive` on a SQLite store (docs/archive.md, "Where the
# time goes"): the peers bench's ROWS payments (scripts/bench-peers.sh, two
# years in time order, received_at = created), imported once into a
# template store; each run archives a fresh copy of it.
#   scripts/profile-archive.sh [ROWS]     # ROWS=1000000
# Prints the run's wall time and peak RSS, the CPU samples per phase (perf,
# by the function each phase runs under, children included) and the wall
# time spent in fsync (strace). Needs perf (`apt-get install linux-perf`)
# and strace. CHRONICLE=/path/to/chronicle profiles that binary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-${ROWS:-1000000}}
BENCH_DIR=${BENCH_DIR:-$PWD/bench-data}
DIR=$BENCH_DIR/profile-archive
mkdir -p "$DIR" "$BENCH_DIR/peers"
if [ -z "${CHRONICLE:-}" ]; then
  cargo build --release --quiet
  CHRONICLE=$PWD/target/release/chronicle
fi
CSV=$BENCH_DIR/peers/payments-$ROWS.csv
if [ ! -s "$CSV" ]; then
  python3 scripts/gen-payments.py --rows "$ROWS" --seed 42 --years 2 --sorted --out "$CSV.tmp"
  mv "$CSV.tmp" "$CSV"
fi
TEMPLATE=$DIR/template-$ROWS.db
if [ ! -e "$TEMPLATE.done" ]; then
  rm -f "$TEMPLATE" "$TEMPLATE"-wal "$TEMPLATE"-shm
  sed '/^created_at = /{p;s/^created_at = /received_at = /}' scripts/bench-payments.toml >"$DIR/mapping.toml"
  "$CHRONICLE" --quiet --store "sqlite:$TEMPLATE" import csv "$CSV" --mapping "$DIR/mapping.toml" \
    --rejects "$DIR/rejects.csv" || [ $? -eq 1 ]
  touch "$TEMPLATE.done"
fi

fresh() {
  rm -rf "$DIR/run.db" "$DIR/run.db-wal" "$DIR/run.db-shm" "$DIR/archive"
  cp "$TEMPLATE" "$DIR/run.db"
  sync
}
ARCHIVE=("$CHRONICLE" --quiet --store "sqlite:$DIR/run.db" archive --before 2100-01-01 --lag 0 --archive "$DIR/archive")

echo "archive of $ROWS rows, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
fresh
/usr/bin/time -f "  plain run: %e s wall, %U s user, %S s system, peak RSS %M KB" "${ARCHIVE[@]}"

fresh
perf record -q -F 499 --call-graph dwarf,32768 -o "$DIR/perf.data" -- "${ARCHIVE[@]}" 2>/dev/null
perf report -i "$DIR/perf.data" --children --sort sym --stdio 2>/dev/null >"$DIR/report.txt"
echo "  perf: $DIR/report.txt ($(grep -m1 '^# Samples' "$DIR/report.txt" | sed 's/^# //'))"
# phase NAME PATTERN: the largest children share of a symbol matching PATTERN.
phase() {
  local share
  share=$(grep -E "$2" "$DIR/report.txt" | grep -E '^ +[0-9.]+%' | head -1 | awk '{print $1}' || true)
  printf "  %-44s %8s of CPU samples\n" "$1" "${share:-0%}"
}
phase "scan (SqliteStore::scan_page)" 'SqliteStore as chronicle::store::Store>::scan_page'
phase "archived-id lookups while scanning" 'SqliteStore as chronicle::store::Store>::get_archived'
phase "encode (PartWriter::push)" 'PartWriter>::push|PartWriter::push'
phase "encode, flush (PartWriter::finish)" 'PartWriter>::finish|PartWriter::finish'
phase "read back and compare (for_each_row)" 'parquet::for_each_row'
phase "SHA-256 of parts (file_sha256)" 'parquet::file_sha256'
phase "re-check before delete (recheck)" 'recheck::recheck'
phase "delete phase (flush_deletes)" 'archive::flush_deletes'
phase "  of which: delete from events (delete_by_id)" 'sqlite::delete_by_id'
phase "  of which: filter update (add_to_filter)" 'sqlite::add_to_filter'
phase "  of which: insert archived-id records" 'sqlite3BtreeInsert'
phase "  b-tree cell removal (freeSpace, self)" '\] freeSpace$'
phase "zstd (all)" 'ZSTD_compress|ZSTD_compressBlock'

fresh
strace -f -qq -e trace=fsync,fdatasync -T -o "$DIR/strace.txt" "${ARCHIVE[@]}"
awk -F'<' '/fsync|fdatasync/ {gsub(/>/, "", $NF); s += $NF; n++} END {printf "  fsync: %d calls, %.2f s wall (strace)\n", n, s}' "$DIR/strace.txt"
