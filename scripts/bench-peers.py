#!/usr/bin/env python3
"""DuckDB's side of `scripts/bench.sh --peers`, one job per process so that
/usr/bin/time sees each job's own peak RSS, plus the untimed checks that both
sides produced the same events, and the summary table.

Timed jobs (DuckDB's default threads; the session time zone is UTC):
  import  DB CSV        CSV -> fresh table keyed by id, INSERT OR IGNORE, with
                        the events mapped exactly as scripts/bench-payments.toml
                        maps them (uuid5 ids, Europe/Berlin times, earliest in
                        the repeated hour, DST-gap rows dropped as chronicle
                        rejects them, note omitted when empty)
  archive DB OUT        COPY ... TO OUT (FORMAT parquet, COMPRESSION zstd,
                        PARTITION_BY (year, month)) from that table
  replay  DB ARCHIVE    fresh keyed table, INSERT OR IGNORE of
                        read_parquet('ARCHIVE/**/*.parquet')
  rebuild DB ARCHIVE    the monthly revenue report as one query over ARCHIVE
Checks (untimed): check-import, check-archive, check-replay, check-rebuild.
Summary: summary RESULTS_TSV.
"""
import os
import statistics
import sys
import time

SCHEMA = """
CREATE TABLE events (
  id UUID PRIMARY KEY,
  service VARCHAR NOT NULL,
  type VARCHAR NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  received_at TIMESTAMPTZ NOT NULL,
  aggregate_id VARCHAR,
  correlation_id VARCHAR,
  payload JSON NOT NULL
)"""

# uuid5(NAMESPACE_URL, "chronicle:legacy-payments:" + payment_id), as
# docs/schema.md defines it: SHA-1 of namespace || name, version nibble 5,
# variant bits 10 (the lookup maps nibble n to (n & 3) | 8).
UUID5 = r"""(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-5' || substr(h, 14, 3) || '-'
  || substr('89ab89ab89ab89ab', strpos('0123456789abcdef', substr(h, 17, 1)), 1)
  || substr(h, 18, 3) || '-' || substr(h, 21, 12))::UUID"""
NAMESPACE_URL = r"'\x6B\xA7\xB8\x11\x9D\xAD\x11\xD1\x80\xB4\x00\xC0\x4F\xD4\x30\xC8'::BLOB"

IMPORT = f"""
INSERT OR IGNORE INTO events
WITH rows AS (
  SELECT *, timezone('Europe/Berlin', created) AS local_utc,
         sha1({NAMESPACE_URL} || encode('chronicle:legacy-payments:' || payment_id)) AS h
  FROM read_csv(?, header = true, columns = {{
    'payment_id': 'VARCHAR', 'user_id': 'BIGINT', 'status': 'VARCHAR', 'amount': 'VARCHAR',
    'currency': 'VARCHAR', 'country': 'VARCHAR', 'created': 'TIMESTAMP', 'note': 'VARCHAR'}})
), mapped AS (
  SELECT *,
    -- a local time in the repeated hour: chronicle's default is the earliest
    CASE WHEN timezone('Europe/Berlin', local_utc - INTERVAL 1 HOUR) = created
         THEN local_utc - INTERVAL 1 HOUR ELSE local_utc END AS t
  FROM rows
  -- a local time in the daylight-saving gap does not exist: chronicle rejects it
  WHERE timezone('Europe/Berlin', local_utc) = created
)
SELECT {UUID5}, 'legacy-payments', 'payment-' || status, t, t,
  'payment/' || payment_id, 'user/' || user_id,
  CASE WHEN note IS NULL
    THEN json_object('amount', amount || '/' || currency, 'country', country, 'user_id', user_id)
    ELSE json_object('amount', amount || '/' || currency, 'country', country, 'note', note, 'user_id', user_id)
  END
FROM mapped
"""

REVENUE = """
CREATE TABLE revenue AS
SELECT month, currency, completed_payments, completed_amount, refunded_amount,
       completed_amount - refunded_amount AS net_revenue
FROM (
  SELECT strftime(created_at, '%Y-%m') AS month,
         split_part(json_extract_string(payload, '$.amount'), '/', 2) AS currency,
         count(*) FILTER (WHERE type = 'payment-completed') AS completed_payments,
         sum(split_part(json_extract_string(payload, '$.amount'), '/', 1)::DECIMAL(18,2))
           FILTER (WHERE type = 'payment-completed') AS completed_amount,
         sum(split_part(json_extract_string(payload, '$.amount'), '/', 1)::DECIMAL(18,2))
           FILTER (WHERE type = 'payment-refunded') AS refunded_amount
  FROM read_parquet(?, hive_partitioning = false)
  WHERE type IN ('payment-completed', 'payment-refunded')
  GROUP BY ALL
)
"""

COLUMNS = "id, service, type, created_at, received_at, aggregate_id, correlation_id, payload"


def connect(path=":memory:"):
    import duckdb

    con = duckdb.connect(path)
    con.execute("SET TimeZone = 'UTC'")
    return con


def parts(root):
    return f"{root}/**/*.parquet"


def job_import(db, csv):
    con = connect(db)
    con.execute(SCHEMA)
    con.execute(IMPORT, [csv])
    con.close()


def job_archive(db, out):
    con = connect(db)
    con.execute(
        f"COPY (SELECT *, year(received_at) AS year, month(received_at) AS month FROM events) "
        f"TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (year, month))"
    )
    con.close()


def job_replay(db, archive):
    con = connect(db)
    con.execute(SCHEMA)
    con.execute(
        f"INSERT OR IGNORE INTO events SELECT {COLUMNS} FROM read_parquet(?, hive_partitioning = false)",
        [parts(archive)],
    )
    con.close()


def job_rebuild(db, archive):
    con = connect(db)
    con.execute(REVENUE, [parts(archive)])
    con.close()


def verdict(job, ok, detail):
    if ok:
        print(f"  check {job}: same on both sides ({detail})")
    else:
        print(f"  !!!!!!!! MISMATCH in {job}: {detail} !!!!!!!!")
    return 0 if ok else 1


def check_import(db, export, chronicle_count):
    """Every event of chronicle's export is in DuckDB's table with the same content."""
    con = connect()
    con.execute(f"ATTACH '{db}' AS duck (READ_ONLY)")
    ours = con.execute("SELECT count(*) FROM duck.events").fetchone()[0]
    con.execute(
        "CREATE TEMP TABLE chron AS SELECT id, meta, payload FROM read_json(?, format = 'newline_delimited', "
        "columns = {'id': 'UUID', 'meta': 'STRUCT(service VARCHAR, type VARCHAR, created_at TIMESTAMPTZ, "
        "received_at TIMESTAMPTZ, aggregate_id VARCHAR, correlation_id VARCHAR)', 'payload': 'JSON'})",
        [export],
    )
    differ = con.execute(
        """SELECT count(*) FROM chron c FULL JOIN duck.events d USING (id)
           WHERE c.id IS NULL OR d.id IS NULL
              OR c.meta.service IS DISTINCT FROM d.service OR c.meta.type IS DISTINCT FROM d.type
              OR c.meta.created_at IS DISTINCT FROM d.created_at
              OR c.meta.received_at IS DISTINCT FROM d.received_at
              OR c.meta.aggregate_id IS DISTINCT FROM d.aggregate_id
              OR c.meta.correlation_id IS DISTINCT FROM d.correlation_id
              OR c.payload::VARCHAR IS DISTINCT FROM d.payload::VARCHAR"""
    ).fetchone()[0]
    ok = ours == int(chronicle_count) and differ == 0
    return verdict("import", ok, f"chronicle {int(chronicle_count):,} events, DuckDB {ours:,}, {differ:,} differ")


def count_parquet(con, root):
    return con.execute("SELECT count(*) FROM read_parquet(?, hive_partitioning = false)", [parts(root)]).fetchone()[0]


def check_archive(duck_archive, chronicle_archive, expected, chronicle_live_after):
    con = connect()
    ours, theirs = count_parquet(con, chronicle_archive), count_parquet(con, duck_archive)
    ok = ours == theirs == int(expected) and int(chronicle_live_after) == 0
    return verdict(
        "archive", ok,
        f"chronicle archived {ours:,} (live left {int(chronicle_live_after):,}), DuckDB wrote {theirs:,}, "
        f"expected {int(expected):,}",
    )


def check_replay(db, chronicle_count, expected, job="replay"):
    con = connect()
    con.execute(f"ATTACH '{db}' AS duck (READ_ONLY)")
    ours = con.execute("SELECT count(*) FROM duck.events").fetchone()[0]
    ok = ours == int(chronicle_count) == int(expected)
    return verdict(job, ok, f"chronicle {int(chronicle_count):,} events, DuckDB {ours:,}, expected {int(expected):,}")


def check_rebuild(db, reports):
    """Same groups with the same counts and exact totals."""
    import sqlite3
    from decimal import Decimal

    def norm(row):
        return (row[0], row[1], int(row[2] or 0), Decimal(str(row[3] or 0)), Decimal(str(row[4] or 0)))

    with sqlite3.connect(reports) as lite:
        chron = sorted(norm(r) for r in lite.execute(
            "SELECT month, currency, completed_payments, completed_amount, refunded_amount FROM revenue"))
    con = connect()
    con.execute(f"ATTACH '{db}' AS duck (READ_ONLY)")
    duck = sorted(norm(r) for r in con.execute(
        "SELECT month, currency, completed_payments, completed_amount::VARCHAR, refunded_amount::VARCHAR "
        "FROM duck.revenue").fetchall())
    total = lambda rows, i: sum(r[i] for r in rows)  # noqa: E731
    detail = (f"{len(chron)} / {len(duck)} groups; completed {total(chron, 2):,} / {total(duck, 2):,} payments, "
              f"{total(chron, 3)} / {total(duck, 3)}; refunded {total(chron, 4)} / {total(duck, 4)}")
    return verdict("rebuild", chron == duck and len(chron) > 0, detail)


JOBS = [
    ("import", "import csv -> fresh keyed store"),
    ("archive", "archive (chronicle: write, verify, delete)"),
    ("replay", "replay archive -> fresh keyed store"),
    ("rebuild", "rebuild monthly revenue from the archive"),
]


def summary(path):
    rows = {}
    for line in open(path):
        job, side, _round, secs, rss_kb, events, inner = line.split()
        rows.setdefault((job, side), []).append((float(secs), int(rss_kb), int(events), float(inner)))
    print()
    print("| job | chronicle events/s | DuckDB events/s | ratio (chronicle / DuckDB) | per-round ratios "
          "| ratio without python start | chronicle peak RSS | DuckDB peak RSS |")
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    for job, label in JOBS:
        c, d = rows.get((job, "chronicle")), rows.get((job, "duckdb"))
        if not c or not d:
            continue
        cs, ds = statistics.median(r[0] for r in c), statistics.median(r[0] for r in d)
        events = c[0][2]
        inner = statistics.median(r[3] for r in d)
        per_round = ", ".join(f"{dr[0] / cr[0]:.2f}" for cr, dr in zip(c, d))
        print(f"| {label} | {events / cs:,.0f} | {events / ds:,.0f} | **{ds / cs:.2f}×** | {per_round} "
              f"| {inner / cs:.2f}× | {max(r[1] for r in c) / 1024:.0f} MB | {max(r[1] for r in d) / 1024:.0f} MB |")
    print()
    print("events/s from the median wall time of the rounds (/usr/bin/time); peak RSS is the largest of the rounds.")
    print("'without python start': DuckDB's time measured inside its process, after `import duckdb`.")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd in ("import", "archive", "replay", "rebuild"):
        # The job's time without starting python and importing duckdb, which
        # /usr/bin/time counts (chronicle starts in milliseconds).
        import duckdb  # noqa: F401

        start = time.perf_counter()
        globals()[f"job_{cmd}"](*args)
        if os.environ.get("PEERS_INNER"):
            with open(os.environ["PEERS_INNER"], "w") as f:
                f.write(f"{time.perf_counter() - start:.3f}\n")
        return
    handlers = {
        "import": job_import, "archive": job_archive, "replay": job_replay, "rebuild": job_rebuild,
        "check-import": check_import, "check-archive": check_archive, "check-replay": check_replay,
        "check-rebuild": check_rebuild, "summary": summary,
    }
    sys.exit(handlers[cmd](*args) or 0)


if __name__ == "__main__":
    main()
