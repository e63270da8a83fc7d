# Sourced by scripts/bench.sh after 50-rebuild.sh: the same monthly revenue
# rebuild run by DuckDB from the SQL of `rebuild revenue --emit-sql duckdb`
# (docs/scale-out.md), over the archived half plus the live half exported as
# JSON lines; the export is measured on its own. The DuckDB table must equal
# the one chronicle rebuilt. Uses $REBUILD_DIR and the counts of
# 50-rebuild.sh, and `measure` from scripts/bench.sh.

EMIT_NOW=2100-01-01T00:00:00Z
"$CHRONICLE" --quiet --config "$REBUILD_DIR/chronicle.toml" --store "sqlite:$REBUILD_DIR/store.db" \
  rebuild revenue --now "$EMIT_NOW"
"$CHRONICLE" --config "$REBUILD_DIR/chronicle.toml" rebuild revenue --emit-sql duckdb \
  --live-part "$REBUILD_DIR/live.jsonl" --now "$EMIT_NOW" >"$REBUILD_DIR/revenue.duckdb.sql"
EMIT_EXPORT=$(sed -n 's/^--   chronicle //p' "$REBUILD_DIR/revenue.duckdb.sql")
# shellcheck disable=SC2086
measure "export live part (jsonl) for the emitted SQL" "$REBUILD_LIVE_N" \
  "$CHRONICLE" --quiet --config "$REBUILD_DIR/chronicle.toml" --store "sqlite:$REBUILD_DIR/store.db" $EMIT_EXPORT
measure "rebuild revenue via emitted SQL on DuckDB" "$((REBUILD_ARCHIVED_N + REBUILD_LIVE_N))" \
  python3 tests/support/run_duckdb.py "$REBUILD_DIR/revenue.duckdb.sql"
python3 - "$REBUILD_DIR" <<'PY'
import json, sqlite3, subprocess, sys
d = sys.argv[1]
ours = sorted(tuple(None if v is None else str(v) for v in r)
              for r in sqlite3.connect(f"{d}/reports.db").execute("SELECT * FROM revenue"))
out = subprocess.run([sys.executable, "tests/support/run_duckdb.py", f"{d}/revenue.duckdb.sql"],
                     capture_output=True, text=True, check=True, cwd=".")
theirs = sorted(tuple(None if v is None else str(v) for v in r) for r in json.loads(out.stdout)["rows"])
print(f"emitted SQL on DuckDB: {len(theirs)} rows, {'equal to' if ours == theirs else 'DIFFERENT from'} chronicle's {len(ours)}")
PY
