#!/usr/bin/env python3
"""What deleting one archived partition costs in SQLite, per store layout
(docs/archive.md, "Store layout"). Builds N events shaped like the bench's
payments (random 16-byte ids, in received_at order, chronicle's pragmas and
indexes) and times, each on a fresh copy:

  today     the events table with its id, (received_at, id) and
            (type, received_at, id) indexes: DELETE ... WHERE id IN (500 ids)
            in received_at order, as chronicle's put_archived does;
  by-seq    the same rows deleted by rowid (what knowing each row's seq
            would save: the id lookup, not the index maintenance);
  monthly   one table per partition without an id index, plus a global
            WITHOUT ROWID id table: the partition's ids deleted from the id
            table in id order, then DROP TABLE of the partition's table;
  drop      the DROP TABLE alone (what remains if no global id index had to
            be maintained).

Usage: sqlite-delete-layouts.py [N] (default 1000000). Single-threaded;
python's own per-statement cost is included in every figure alike."""
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
TYPES = ["payment-completed", "payment-refunded", "payment-failed"]


def connect(path):
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in ("page_size=16384", "journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
        con.execute(f"PRAGMA {pragma}")
    return con


def build(path, ids):
    con = connect(path)
    con.execute("""CREATE TABLE events (seq INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,
        received_at INTEGER NOT NULL, created_at INTEGER NOT NULL, service TEXT NOT NULL,
        type TEXT NOT NULL, aggregate_id TEXT, correlation_id TEXT, payload TEXT NOT NULL)""")
    con.execute("CREATE INDEX events_received ON events(received_at, id)")
    con.execute("CREATE INDEX events_type_received ON events(type, received_at, id)")
    con.execute("CREATE TABLE ids (id BLOB PRIMARY KEY, part INTEGER NOT NULL) WITHOUT ROWID")
    rows = (
        (ids[i], 1420070400000 + i * 60000, 1420070400000 + i * 60000, "legacy-payments", TYPES[i % 3],
         f"payment/P{i}", f"user/{i % 9999}",
         '{"amount":"%d.%02d/EUR","country":"DE","note":"x","user_id":%d}' % (i % 999, i % 100, i % 9999))
        for i in range(N))
    con.execute("BEGIN")
    con.executemany("INSERT INTO events (id, received_at, created_at, service, type, aggregate_id, "
                    "correlation_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("INSERT INTO ids SELECT id, 201601 FROM events ORDER BY id")
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def in_chunks(con, sql, values):
    for k in range(0, len(values), 500):
        chunk = values[k:k + 500]
        con.execute(sql % ",".join("?" * len(chunk)), chunk)


def main():
    rng = random.Random(1)
    ids = [rng.randbytes(16) for _ in range(N)]
    tmp = tempfile.mkdtemp(prefix="sqlite-delete-")
    template = os.path.join(tmp, "template.db")
    build(template, ids)
    for layout in ("today", "by-seq", "monthly", "drop"):
        path = os.path.join(tmp, f"{layout}.db")
        shutil.copy(template, path)
        con = connect(path)
        started = time.time()
        con.execute("BEGIN IMMEDIATE")
        if layout == "today":
            in_chunks(con, "DELETE FROM events WHERE id IN (%s)", ids)
        elif layout == "by-seq":
            in_chunks(con, "DELETE FROM events WHERE seq IN (%s)", list(range(1, N + 1)))
        elif layout == "monthly":
            in_chunks(con, "DELETE FROM ids WHERE id IN (%s)", sorted(ids))
            con.execute("DROP TABLE events")
        else:
            con.execute("DROP TABLE events")
        con.execute("COMMIT")
        print(f"{layout:<8} {N:>10,} rows {time.time() - started:7.2f} s")
        con.close()
        os.remove(path)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
