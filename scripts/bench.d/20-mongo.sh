# Sourced by scripts/bench.sh: `import csv` of the bench CSV into MongoDB,
# optionally a re-run (all duplicates), and the server's own insert throughput for
# comparison (pymongo insert_many of as many similar documents). Uses
# MONGODB_URI when set, else starts a SecantusDB like scripts/ci/20-mongo.sh.
# It also splits CPU time between chronicle and the server, which shows
# where the bottleneck is. MONGO_ROWS=N benches N rows instead of ROWS
# (SecantusDB writes about 3,000 documents per second here, so 1,000,000
# rows take about 6 minutes); MONGO_RERUN=1 adds the all-duplicates re-run.
MONGO_ROWS=${MONGO_ROWS:-$ROWS}
MONGO_CSV=$CSV
if [ "$MONGO_ROWS" != "$ROWS" ]; then
  MONGO_CSV=$BENCH_DIR/payments-$MONGO_ROWS.csv
  [ -s "$MONGO_CSV" ] || python3 scripts/gen-payments.py --rows "$MONGO_ROWS" --seed 42 --out "$MONGO_CSV"
fi
bench_mongo_pid=""
if [ -z "${MONGODB_URI:-}" ]; then
  CLEANUP=()
  # shellcheck source=/dev/null
  source scripts/ci/20-mongo.sh
  bench_mongo_pid=$(sed -n 's/^kill \([0-9]*\) .*/\1/p' <<<"${CLEANUP[0]}")
  trap 'for c in "${CLEANUP[@]}"; do eval "$c" || true; done' EXIT
fi
BENCH_DB="chronicle_bench_$$"
BENCH_STORE=$(python3 scripts/mongo-db-uri.py "$MONGODB_URI" "$BENCH_DB")

# server_cpu: CPU seconds the local server used so far ("" when remote).
server_cpu() {
  [ -n "$bench_mongo_pid" ] || return 0
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$bench_mongo_pid/stat"
}
# cpu_split LABEL BEFORE AFTER CPUFILE: chronicle's CPU vs the server's.
cpu_split() {
  local chronicle_cpu
  # The last line: /usr/bin/time puts "Command exited with non-zero
  # status 1" (an import with rejects) before it.
  chronicle_cpu=$(tail -n 1 "$4" | awk '{printf "%.2f", $1 + $2}')
  if [ -n "$bench_mongo_pid" ]; then
    echo "  $1: CPU chronicle ${chronicle_cpu} s, server $(awk -v a="$2" -v b="$3" 'BEGIN {printf "%.2f", b - a}') s"
  else
    echo "  $1: CPU chronicle ${chronicle_cpu} s (server is remote)"
  fi
}

cpu_file=$(mktemp)
before=$(server_cpu)
measure "import csv -> mongodb (fresh database)" "$MONGO_ROWS" \
  /usr/bin/time -f "%U %S" -o "$cpu_file" \
  "$CHRONICLE" --quiet --store "$BENCH_STORE" import csv "$MONGO_CSV" --mapping "$MAPPING" --rejects "$BENCH_DIR/rejects-mongo.csv"
cpu_split "import" "$before" "$(server_cpu)" "$cpu_file"
if [ -n "${MONGO_RERUN:-}" ]; then
  # Every event is looked up to tell duplicates from conflicts; SecantusDB
  # answers about 1,500 lookups per second, so this is off by default.
  before=$(server_cpu)
  measure "import csv -> mongodb (re-run, all duplicates)" "$MONGO_ROWS" \
    /usr/bin/time -f "%U %S" -o "$cpu_file" \
    "$CHRONICLE" --quiet --store "$BENCH_STORE" import csv "$MONGO_CSV" --mapping "$MAPPING" --rejects "$BENCH_DIR/rejects-mongo.csv"
  cpu_split "re-run" "$before" "$(server_cpu)" "$cpu_file"
fi
rm -f "$cpu_file"
python3 - "$MONGODB_URI" "$BENCH_DB" <<'PY'
import sys, pymongo
pymongo.MongoClient(sys.argv[1]).drop_database(sys.argv[2])
PY
before=$(server_cpu)
python3 scripts/bench-mongo-raw.py "$MONGODB_URI" "${BENCH_DB}_raw" "$MONGO_ROWS" 1000
[ -z "$bench_mongo_pid" ] || echo "  raw insert: CPU server $(awk -v a="$before" -v b="$(server_cpu)" 'BEGIN {printf "%.2f", b - a}') s"
if [ -n "$bench_mongo_pid" ]; then
  for c in "${CLEANUP[@]}"; do eval "$c" || true; done
  CLEANUP=()
  trap - EXIT
  unset MONGODB_URI
fi
