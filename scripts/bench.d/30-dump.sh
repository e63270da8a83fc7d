# Sourced by scripts/bench.sh: `import dump` of a pg_dump COPY block holding
# the same rows as the bench CSV (converted by scripts/csv-to-pgdump.py),
# into a fresh store. Target: at least the CSV import's events/s, <= 150 MB.
PGDUMP_SQL=$BENCH_DIR/payments-$ROWS.pgdump.sql
if [ ! -s "$PGDUMP_SQL" ]; then
  python3 scripts/csv-to-pgdump.py "$CSV" "$PGDUMP_SQL"
fi
DUMP_DB=$BENCH_DIR/store-dump-$ROWS.db
rm -f "$DUMP_DB" "$DUMP_DB"-wal "$DUMP_DB"-shm
measure "import dump (pg_dump COPY) -> sqlite (fresh)" "$ROWS" \
  "$CHRONICLE" --quiet --store "sqlite:$DUMP_DB" import dump "$PGDUMP_SQL" \
  --mapping scripts/bench-payments-pgdump.toml --rejects "$BENCH_DIR/dump-rejects.jsonl"
