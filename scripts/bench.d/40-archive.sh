# Archive benchmarks (sourced by scripts/bench.sh): the CSV bench's events,
# imported with received_at = created (four years of monthly partitions) and
# then re-imported in received_at order, as a live store receives them;
# archived to Parquet with verification and delete, replayed into a fresh
# store, verified; and the archive's size against DuckDB's zstd Parquet of
# the same events.
ARCHIVE_MAPPING=$BENCH_DIR/bench-payments-archive.toml
sed '/^created_at = /{p;s/^created_at = /received_at = /}' "$MAPPING" >"$ARCHIVE_MAPPING"
ARCHIVE_DB=$BENCH_DIR/archive-store-$ROWS.db
ARCHIVE_OUT=$BENCH_DIR/archive-$ROWS
REPLAY_DB=$BENCH_DIR/replay-store-$ROWS.db
rm -rf "$ARCHIVE_DB" "$ARCHIVE_DB"-wal "$ARCHIVE_DB"-shm "$ARCHIVE_OUT" "$REPLAY_DB" "$REPLAY_DB"-wal "$REPLAY_DB"-shm
STAGING_DB=$BENCH_DIR/archive-staging-$ROWS.db
rm -f "$STAGING_DB" "$STAGING_DB"-wal "$STAGING_DB"-shm
"$CHRONICLE" --quiet --store "sqlite:$STAGING_DB" import csv "$CSV" --mapping "$ARCHIVE_MAPPING" \
  --rejects "$BENCH_DIR/archive-rejects.csv" || [ $? -eq 1 ]
"$CHRONICLE" --quiet --store "sqlite:$STAGING_DB" export -o "$BENCH_DIR/archive-input.jsonl"
"$CHRONICLE" --quiet --store "sqlite:$ARCHIVE_DB" import events "$BENCH_DIR/archive-input.jsonl"
rm -f "$STAGING_DB" "$STAGING_DB"-wal "$STAGING_DB"-shm "$BENCH_DIR/archive-input.jsonl"
ARCHIVE_EVENTS=$("$CHRONICLE" --json --store "sqlite:$ARCHIVE_DB" status | python3 -c 'import json,sys; print(json.load(sys.stdin)["live_total"])')

measure "archive sqlite -> parquet (verify, delete)" "$ARCHIVE_EVENTS" \
  "$CHRONICLE" --quiet --store "sqlite:$ARCHIVE_DB" archive --before 2100-01-01 --lag 0 --archive "$ARCHIVE_OUT"
measure "replay parquet -> fresh sqlite" "$ARCHIVE_EVENTS" \
  "$CHRONICLE" --quiet --store "sqlite:$REPLAY_DB" replay --archive "$ARCHIVE_OUT"
measure "verify archive (+ live lookups)" "$ARCHIVE_EVENTS" \
  "$CHRONICLE" --quiet --store "sqlite:$ARCHIVE_DB" verify --archive "$ARCHIVE_OUT"

python3 - "$ARCHIVE_OUT" "$BENCH_DIR" <<'PY'
import glob, os, sys, duckdb
root, bench = sys.argv[1], sys.argv[2]
parts = glob.glob(f"{root}/**/*.parquet", recursive=True)
ours = sum(os.path.getsize(p) for p in parts)
con = duckdb.connect()
single = f"{bench}/duckdb-zstd.parquet"
split = f"{bench}/duckdb-zstd-partitioned"
events = f"(SELECT * FROM read_parquet('{root}/**/*.parquet') ORDER BY received_at, id)"
con.sql(f"COPY {events} TO '{single}' (FORMAT parquet, COMPRESSION zstd)")
con.sql(f"COPY (SELECT *, year(received_at AT TIME ZONE 'UTC') AS year, month(received_at AT TIME ZONE 'UTC') AS month FROM {events}) "
        f"TO '{split}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (year, month), OVERWRITE_OR_IGNORE)")
theirs = os.path.getsize(single)
theirs_split = sum(os.path.getsize(p) for p in glob.glob(f"{split}/**/*.parquet", recursive=True))
print(f"{'archive size':<48} {ours/2**20:>8.1f} MB in {len(parts)} files; DuckDB zstd: {theirs/2**20:.1f} MB one file "
      f"({ours/theirs:.2f}x), {theirs_split/2**20:.1f} MB partitioned the same way ({ours/theirs_split:.2f}x)")
PY
