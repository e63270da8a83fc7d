# Sourced by scripts/bench.sh: projection rebuilds (issue 5). Builds a store
# of the generated payments with received_at spread over four years (a copy
# of created_at), archives the older half, then measures
#   - the monthly revenue table rebuilt from archive + live (target >= 1M events/s),
#   - a pure scan of the archived half (dry run over an empty store, >= 2.5M events/s),
# with peak RSS (target <= 300 MB). Uses $CHRONICLE, $CSV, $MAPPING, $ROWS,
# $BENCH_DIR and `measure` from scripts/bench.sh.

REBUILD_DIR=$BENCH_DIR/rebuild-$ROWS
if [ ! -s "$REBUILD_DIR/ready" ]; then
  rm -rf "$REBUILD_DIR"
  mkdir -p "$REBUILD_DIR"
  "$CHRONICLE" --quiet --store "sqlite:$REBUILD_DIR/tmp.db" import csv "$CSV" --mapping "$MAPPING" \
    --rejects "$REBUILD_DIR/rejects.csv" || [ $? -eq 1 ]
  # received_at := created_at, so that partitions by received_at hold years;
  # stored in received_at order, as a live store receives them.
  "$CHRONICLE" --quiet --store "sqlite:$REBUILD_DIR/tmp.db" export |
    python3 -c '
import re, sys
pat = re.compile(r"\"received_at\":\"[^\"]*\"")
for line in sys.stdin:
    created = line[line.index("\"created_at\":\"") + 14:][:24]
    sys.stdout.write(created + "\t" + pat.sub("\"received_at\":\"" + created + "\"", line, count=1))
' | LC_ALL=C sort -t "$(printf '\t')" -k1,1 -S 200M | cut -f2- >"$REBUILD_DIR/spread.jsonl"
  rm -f "$REBUILD_DIR"/tmp.db*
  "$CHRONICLE" --quiet --store "sqlite:$REBUILD_DIR/store.db" import events "$REBUILD_DIR/spread.jsonl"
  rm -f "$REBUILD_DIR/spread.jsonl"
  "$CHRONICLE" --quiet --store "sqlite:$REBUILD_DIR/store.db" archive --before 2017-01-01 --lag 0 --archive "$REBUILD_DIR/archive"
  # An empty store for the dry-run scan: only import, archive and replay create one.
  : | "$CHRONICLE" --quiet --store "sqlite:$REBUILD_DIR/empty.db" import events -
  echo ok >"$REBUILD_DIR/ready"
fi
{
  echo "archive = \"$REBUILD_DIR/archive\""
  sed "s|REPORTS_DB|$REBUILD_DIR/reports.db|" scripts/bench-revenue.toml
  cat <<TOML

[projections.scan]
kind = "exec"
types = ["payment-completed", "payment-refunded", "payment-failed", "payment-pending"]
command = ["true"]
TOML
} >"$REBUILD_DIR/chronicle.toml"
REBUILD_LIVE=$("$CHRONICLE" --json --config "$REBUILD_DIR/chronicle.toml" --store "sqlite:$REBUILD_DIR/store.db" status |
  python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["live_total"], (r.get("archive") or {}).get("total", 0))')
read -r REBUILD_LIVE_N REBUILD_ARCHIVED_N <<<"$REBUILD_LIVE"
echo "rebuild data: $REBUILD_ARCHIVED_N archived + $REBUILD_LIVE_N live events"
measure "rebuild revenue table (archive + live)" "$((REBUILD_ARCHIVED_N + REBUILD_LIVE_N))" \
  "$CHRONICLE" --quiet --config "$REBUILD_DIR/chronicle.toml" --store "sqlite:$REBUILD_DIR/store.db" rebuild revenue
measure "scan archived half (rebuild --dry-run)" "$REBUILD_ARCHIVED_N" \
  "$CHRONICLE" --quiet --config "$REBUILD_DIR/chronicle.toml" --store "sqlite:$REBUILD_DIR/empty.db" rebuild scan --dry-run
