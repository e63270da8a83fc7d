#!/usr/bin/env bash
# Where an archive run against MongoDB spends its time (docs/archive.md,
# "MongoDB breakdown"): N payments events (default 150,000) with
# received_at spread over two years are put into a fresh MongoDB database,
# then archived (write, verify, delete) once, measured three ways at once:
# - CHRONICLE_MONGO_PROFILE: wall time of each store operation (scan pages,
#   with the BSON decode apart; archived-id lookups; archived-id records;
#   the delete), which includes the server's time;
# - perf (sampling, DWARF call graphs): chronicle's CPU per thread, and on
#   the archiving thread the Parquet encode against the read-back;
# - strace -T: the wall time of every fsync/fdatasync.
# Usage: scripts/bench-mongo-archive.sh [N]. Uses MONGODB_URI when set, else
# starts a SecantusDB like scripts/ci/20-mongo.sh. Needs perf and strace.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-150000}
BENCH_DIR=${BENCH_DIR:-$PWD/bench-data}
mkdir -p "$BENCH_DIR"
cargo build --release --quiet
CHRONICLE=$PWD/target/release/chronicle

CLEANUP=()
trap 'for c in "${CLEANUP[@]}"; do eval "$c" || true; done' EXIT
# shellcheck source=/dev/null
source scripts/ci/20-mongo.sh
DB="chronicle_bench_archive_$$"
STORE=$(python3 scripts/mongo-db-uri.py "$MONGODB_URI" "$DB")
CLEANUP+=("python3 -c 'import sys, pymongo; pymongo.MongoClient(sys.argv[1]).drop_database(sys.argv[2])' '$MONGODB_URI' '$DB'")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/chronicle-mongo-archive.XXXXXX")
# KEEP_WORK=1 keeps the data, the perf profile and the strace log.
[ -n "${KEEP_WORK:-}" ] && echo "work folder: $WORK" || CLEANUP+=("rm -rf '$WORK'")
CSV=$BENCH_DIR/payments-$N-2y.csv
[ -s "$CSV" ] || python3 scripts/gen-payments.py --rows "$N" --seed 42 --years 2 --out "$CSV"
# received_at = created, as scripts/bench.d/40-archive.sh does; the events
# go in in received_at order, as a live store receives them.
sed '/^created_at = /{p;s/^created_at = /received_at = /}' scripts/bench-payments.toml >"$WORK/mapping.toml"
"$CHRONICLE" --quiet --store "sqlite:$WORK/staging.db" import csv "$CSV" --mapping "$WORK/mapping.toml" \
  --rejects "$WORK/rejects.csv" || [ $? -eq 1 ]
"$CHRONICLE" --quiet --store "sqlite:$WORK/staging.db" export -o "$WORK/events.jsonl"
EVENTS=$(wc -l <"$WORK/events.jsonl")
started=$(date +%s.%N)
"$CHRONICLE" --quiet --store "$STORE" import events "$WORK/events.jsonl"
echo "loaded $EVENTS events into $DB in $(python3 -c "import sys; print(round($(date +%s.%N) - $started, 1))") s"

# The server's CPU, when it runs on this machine.
server_pid=$(ss -ltnpH "sport = :$(python3 -c "import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1].split(',')[0]).port or 27017)" "$MONGODB_URI")" 2>/dev/null |
  sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
server_cpu() {
  [ -n "$server_pid" ] || { echo ""; return; }
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$server_pid/stat"
}

# perf's sampling rate: each sample stands for 1/HZ s of CPU.
HZ=99
cpu_before=$(server_cpu)
CHRONICLE_MONGO_PROFILE="$WORK/profile.jsonl" \
  perf record --quiet -F "$HZ" --call-graph dwarf,16384 -o "$WORK/perf.data" -- \
  strace -f -T -e trace=fsync,fdatasync -o "$WORK/strace.log" \
  "$CHRONICLE" --json --store "$STORE" archive --before 2100-01-01 --lag 0 --archive "$WORK/archive" >"$WORK/report.json"
cpu_after=$(server_cpu)

# Inclusive CPU samples of the functions that make up each phase, per thread.
perf report -i "$WORK/perf.data" --stdio --children --sort comm,sym \
  --percent-limit 0 -g none 2>/dev/null >"$WORK/perf.txt" || true
perf report -i "$WORK/perf.data" --stdio --no-children --sort comm -g none 2>/dev/null >"$WORK/perf-threads.txt" || true

python3 - "$WORK" "$EVENTS" "$cpu_before" "$cpu_after" "$HZ" <<'PY'
import json, re, sys
work, events, cpu_before, cpu_after, hz = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
report = json.load(open(f"{work}/report.json"))
wall = report["elapsed_s"]
ops = {}
for line in open(f"{work}/profile.jsonl"):
    for op, v in json.loads(line)["ops"].items():
        t = ops.setdefault(op, {"s": 0.0, "calls": 0, "docs": 0})
        for k in t:
            t[k] += v[k]
fsync = [float(m.group(1)) for m in re.finditer(r"<([0-9.]+)>", open(f"{work}/strace.log").read())]

# perf: each sample is 1/HZ s of CPU; --children gives each function's inclusive share.
threads = {}
for line in open(f"{work}/perf-threads.txt"):
    m = re.match(r"\s*([0-9.]+)%\s+(.+?)\s*$", line)
    if m:
        threads[m.group(2)] = float(m.group(1))
header = open(f"{work}/perf.txt").read()
samples = re.search(r"# Samples: (\d+)", open(f"{work}/perf-threads.txt").read())
cpu_all = int(samples.group(1)) / hz if samples else 0.0
# strace and perf's own samples are not chronicle's.
cpu_total = cpu_all * sum(v for k, v in threads.items() if not k.startswith(("strace", "perf"))) / 100
def children(comm, pattern):
    best = 0.0
    for line in header.splitlines():
        m = re.match(r"\s*([0-9.]+)%\s+[0-9.]+%\s+(\S.*?)\s{2,}\[.\]\s+(.*)$", line)
        if m and m.group(2).startswith(comm) and re.search(pattern, m.group(3)):
            best = max(best, float(m.group(1)))
    return best / 100.0 * cpu_all

encode = children("chronicle", r"PartWriter.*(push|finish)")
readback = children("chronicle", r"parquet.*for_each_row|file_sha256")
decode_cpu = children("store scanner", r"doc_to_event")

def s(op):
    return ops.get(op, {}).get("s", 0.0)
scan = s("scan")
rows = [
    ("scan: server and network (scanner thread)", scan - s("scan.decode")),
    ("scan: BSON -> event decode (scanner thread)", s("scan.decode")),
    ("scan: archived-id lookups per page (scanner thread)", s("archived.lookup")),
    ("encode: Parquet rows, zstd (archiving thread, CPU)", encode),
    ("fsync: part files, folders, manifests (strace)", sum(fsync)),
    ("read-back: re-read, compare, sha256 (archiving thread, CPU)", readback),
    ("delete: archived-id records upserted", s("archived.records")),
    ("delete: live events counted by id (for an exact count on retry)", s("delete.count")),
    ("delete: live events deleted by id", s("delete") - s("delete.count")),
    ("month counts (progress total), locks", s("counts") + s("lock")),
]
print(f"archive of {events:,} events ({report['archived']:,} archived, {report['deleted']:,} deleted) from MongoDB: "
      f"{wall:.1f} s wall, {events / wall:,.0f} events/s, chronicle CPU {cpu_total:.1f} s"
      + (f", server CPU {float(cpu_after) - float(cpu_before):.1f} s" if cpu_before else ""))
print(f"{'phase':<62} {'seconds':>8} {'% of wall':>9}")
for label, secs in rows:
    print(f"{label:<62} {secs:>8.2f} {secs / wall * 100:>8.1f}%")
print(f"(scan and archived-id lookups run on the scanner thread, overlapping encode, fsync and read-back;"
      f" {len(fsync)} fsync calls; chronicle CPU by thread: "
      + ", ".join(f"{k} {v:.0f}%" for k, v in sorted(threads.items(), key=lambda kv: -kv[1])[:4]) + ")")
print("store operations:", json.dumps(ops, sort_keys=True))
PY
