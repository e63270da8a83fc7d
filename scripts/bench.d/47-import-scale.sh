# The import at scale (sourced by scripts/bench.sh; issue 13, docs/performance.md
# "The 10M import"): the same generated events (scripts/gen-archived-events.py:
# random v4 ids, received_at in order) imported into a fresh store, ROWS of them
# and SCALE_FACTOR (10) times as many, from files written first so that the
# generator does not bound the import. Prints both rates and the larger
# import's events/s as a share of the smaller's (goal: at least 80%).
# SCALE_FACTOR=0 skips it; the files stay in $BENCH_DIR for the next run.
SCALE_FACTOR=${SCALE_FACTOR:-10}
if [ "$SCALE_FACTOR" -gt 0 ]; then
  scale_rates=""
  for scale_n in "$ROWS" "$((ROWS * SCALE_FACTOR))"; do
    scale_file=$BENCH_DIR/scale-events-$scale_n.jsonl
    if [ ! -s "$scale_file" ]; then
      python3 scripts/gen-archived-events.py --events "$scale_n" --out "$scale_file.tmp"
      mv "$scale_file.tmp" "$scale_file"
    fi
    scale_db=$BENCH_DIR/scale-store.db
    rm -f "$scale_db" "$scale_db"-wal "$scale_db"-shm
    sync
    scale_stats=$(mktemp)
    /usr/bin/time -f "%e %U %S %M" -o "$scale_stats" \
      "$CHRONICLE" --quiet --store "sqlite:$scale_db" import events "$scale_file"
    read -r scale_secs scale_user scale_sys scale_rss < <(tail -n 1 "$scale_stats")
    rm -f "$scale_stats" "$scale_db" "$scale_db"-wal "$scale_db"-shm
    scale_rates="$scale_rates $scale_n/$scale_secs/$scale_user/$scale_sys/$scale_rss"
  done
  python3 - $scale_rates <<'PY'
import sys
rows = []
for arg in sys.argv[1:]:
    n, secs, user, sys_, rss = arg.split("/")
    n, secs = int(n), float(secs)
    rows.append(n / secs)
    print(f"{f'import jsonl -> fresh sqlite, {n:,} events':<48} {n:>10,} events {secs:>7.2f} s {n / secs:>12,.0f} events/s  "
          f"peak RSS {int(rss) / 1024:>7.1f} MB  ({float(user):.1f} user + {float(sys_):.1f} sys CPU-s)")
share = rows[1] / rows[0]
print(f"{'import at scale: larger / smaller events/s':<48} {share:>10.0%}  (goal: at least 80%)")
PY
fi
