# Archive-boundary budgets (sourced by scripts/bench.sh), see docs/archive.md
# "Archived ids": a store whose archive holds BOUNDARY_ARCHIVED events
# (default 10 x ROWS: 10,000,000) is built once and kept in $BENCH_DIR; then
#  - the live store's extra size per archived event: the pages of the
#    `archived_ids` table (data and its only index, the table itself) and of
#    `archived_filter` and `archived_filter_bits`, from SQLite's dbstat,
#    divided by the number of records (budget: <= 64 bytes);
#  - importing the CSV bench's ROWS new events into a copy of that store,
#    against importing them into a fresh store with no archive (budget:
#    within 10%). Each import runs BOUNDARY_ROUNDS (3) times, alternating,
#    best wall time and best CPU time (user + sys) kept, because the machine
#    may be shared.
BOUNDARY_ARCHIVED=${BOUNDARY_ARCHIVED:-$((ROWS * 10))}
BOUNDARY_DB=$BENCH_DIR/boundary-store-$BOUNDARY_ARCHIVED.db
BOUNDARY_ARCHIVE=$BENCH_DIR/boundary-archive-$BOUNDARY_ARCHIVED
if [ ! -s "$BOUNDARY_DB.done" ]; then
  rm -rf "$BOUNDARY_DB" "$BOUNDARY_DB"-wal "$BOUNDARY_DB"-shm "$BOUNDARY_ARCHIVE"
  python3 scripts/gen-archived-events.py --events "$BOUNDARY_ARCHIVED" \
    | "$CHRONICLE" --quiet --store "sqlite:$BOUNDARY_DB" import events -
  measure "archive $BOUNDARY_ARCHIVED events (+ archived-id records)" "$BOUNDARY_ARCHIVED" \
    "$CHRONICLE" --quiet --store "sqlite:$BOUNDARY_DB" archive --before 2020-01-01 --lag 0 --to "$BOUNDARY_ARCHIVE"
  echo "$BOUNDARY_ARCHIVED" >"$BOUNDARY_DB.done"
fi
python3 - "$BOUNDARY_DB" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
n = con.execute("SELECT count(*) FROM archived_ids").fetchone()[0]
pages, payload = con.execute(
    "SELECT sum(pgsize), sum(payload) FROM dbstat WHERE name = 'archived_ids'").fetchone()
filt = con.execute("SELECT sum(pgsize) FROM dbstat WHERE name IN ('archived_filter', 'archived_filter_bits')").fetchone()[0] or 0
print(f"{'archived-id records + filter':<48} {n:>10,} records {(pages + filt) / 2**20:8.1f} MB: "
      f"{(pages + filt) / n:.1f} bytes per archived event with index space "
      f"(records {pages / n:.1f}, of which payload {payload / n:.1f}; filter {filt / n:.1f}); budget 64")
PY
BOUNDARY_COPY=$BENCH_DIR/boundary-import.db
BOUNDARY_FRESH=$BENCH_DIR/boundary-fresh.db
# timed_import DB: one import of the bench CSV into DB; prints "wall cpu"
# (user + sys seconds), for the CPU time moves less than the wall time when
# the machine is shared. An import that fails (exit above 1: 1 only means
# rejected rows) fails the bench: it runs in a command substitution, where
# bash drops `set -e`, so it must say so itself rather than be timed.
timed_import() {
  local stats status=0
  stats=$(mktemp)
  /usr/bin/time -f "%e %U %S" -o "$stats" \
    "$CHRONICLE" --quiet --store "sqlite:$1" import csv "$CSV" --mapping "$MAPPING" \
    --rejects "$BENCH_DIR/rejects.csv" || status=$?
  if [ "$status" -gt 1 ]; then
    echo "import into $1 failed (exit $status)" >&2
    rm -f "$stats"
    return 1
  fi
  tail -n 1 "$stats" | awk '{ print $1, $2 + $3 }'
  rm -f "$stats"
}
times_with=""
times_without=""
for round in $(seq "${BOUNDARY_ROUNDS:-3}"); do
  rm -f "$BOUNDARY_FRESH" "$BOUNDARY_FRESH"-wal "$BOUNDARY_FRESH"-shm
  sync
  times_without="$times_without $(timed_import "$BOUNDARY_FRESH" | tr ' ' /)"
  rm -f "$BOUNDARY_COPY" "$BOUNDARY_COPY"-wal "$BOUNDARY_COPY"-shm
  cp "$BOUNDARY_DB" "$BOUNDARY_COPY"
  # The copy leaves gigabytes of dirty pages that the kernel would write
  # back during the import, stalling its fsyncs: a cost of the bench, not
  # of the store, so flush them first (and before the other import too).
  sync
  times_with="$times_with $(timed_import "$BOUNDARY_COPY" | tr ' ' /)"
done
python3 - "$ROWS" "$BOUNDARY_ARCHIVED" "$times_without" "$times_with" <<'PY'
import sys
rows, archived = int(sys.argv[1]), int(sys.argv[2])
def parse(arg):
    pairs = [tuple(map(float, t.split("/"))) for t in arg.split()]
    return min(w for w, _ in pairs), min(c for _, c in pairs), len(pairs)
(wall0, cpu0, n), (wall1, cpu1, _) = parse(sys.argv[3]), parse(sys.argv[4])
print(f"{f'import csv -> sqlite, no archive (best of {n})':<48} {rows:>10,} events {wall0:7.2f} s {rows / wall0:12,.0f} events/s  {cpu0:6.2f} CPU-s")
print(f"{f'import csv -> sqlite, {archived:,} archived (best of {n})':<48} {rows:>10,} events {wall1:7.2f} s {rows / wall1:12,.0f} events/s  {cpu1:6.2f} CPU-s"
      f"  (wall {(wall1 / wall0 - 1) * 100:+.1f}%, CPU {(cpu1 / cpu0 - 1) * 100:+.1f}%; budget +10%)")
PY
rm -f "$BOUNDARY_COPY" "$BOUNDARY_COPY"-wal "$BOUNDARY_COPY"-shm "$BOUNDARY_FRESH" "$BOUNDARY_FRESH"-wal "$BOUNDARY_FRESH"-shm
