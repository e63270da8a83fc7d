#!/usr/bin/env python3
"""Data, SQL and expected events for the dump fixtures (fixtures/dumps/).

Used by scripts/make-dump-fixtures.sh. The rows are defined once here; this
script prints the SQL that loads them into PostgreSQL and MariaDB (so the
real pg_dump and mysqldump write the dumps), writes the MongoDB fixtures with
pymongo's bson package (an encoder independent of chronicle), and computes
the expected canonical events with Python's own uuid, zoneinfo, decimal and
json modules, never with chronicle.

Usage: make_dump_fixtures.py pg-sql | my-sql | mongo DIR | expected DIR
"""
import base64
import datetime as dt
import gzip
import json
import sys
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.timezone.utc

# payment_id, user_id, status, amount, currency, country, created (Berlin local), note
PAYMENTS = [
    ("P-0001", 42, "completed", "19.99", "EUR", "DE", "2016-01-01 13:00:00", "plain note"),
    ("P-0002", 7, "refunded", "0.50", "USD", "US", "2016-03-27 01:30:00", None),
    ("P-0003", 42, "failed", "1234567.89", "CHF", "CH", "2016-07-01 12:00:00",
     "tab\there\nnew line, back\\slash and \\N literally"),
    ("P-0004", 99, "completed", "5.00", "EUR", "FR", "2016-10-30 02:30:00",
     "quotes: \"double\" and 'single'"),
    ("P-0005", 13, "pending", "100.00", "GBP", "GB", "2016-12-31 23:59:59",
     "Zürich café naïve — 東京 🎉"),
    ("P-0006", 1, "completed", "0.01", "EUR", "DE", "2017-01-01 00:00:00", ""),
    ("P-0007", 5, "completed", "-3.50", "EUR", "AT", "2017-02-01 08:15:00",
     "carriage\r\nreturn; ctrl \x01 and \\. end"),
    # 02:30 does not exist in Berlin that night: rejected.
    ("P-0008", 8, "completed", "10.00", "EUR", "DE", "2016-03-27 02:30:00", "in the DST gap"),
    # Skipped by the mapping's [[skip]] rule.
    ("P-0009", 9, "completed", "1.00", "EUR", "DE", "2017-03-01 10:00:00", "TEST: smoke payment"),
]
ARCHIVE_PAYMENTS = [
    ("A-0001", 3, "completed", "2.00", "EUR", "DE", "2015-05-05 05:05:05", "archived"),
]

# entry id, kind, amount, occurred_at (aware), booked_on, attachment, details,
# approved, memo, flags (MariaDB only)
LEDGER = [
    (9007199254740993, "credit", "12345678901234.123456",
     dt.datetime(2016, 1, 1, 12, 0, 0, 123000, tzinfo=UTC), "2016-01-01",
     b"\x00\xff\x10'\\", {"b": [1, 2], "a": "x\ty"}, True,
     "backslash \\ tab\t bell\x07 formfeed\x0c vtab\x0b backspace\x08 quote ' dq \"", 21),
    (2, "debit", "-0.000001",
     dt.datetime(2016, 6, 15, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2016-06-15",
     None, None, False, None, None),
    # 01:30Z falls in Berlin's repeated hour; pg_dump writes it as 02:30+01.
    (3, "credit", "0", dt.datetime(2016, 10, 30, 1, 30, tzinfo=UTC), "2016-10-30",
     b"hello", {"nested": {"k": None}}, True, "Ünïcödé ✓", 0),
    # approved is NULL, which the mapping requires: rejected.
    (4, "debit", "7", dt.datetime(2017, 1, 2, 3, 4, 5, tzinfo=UTC), "2017-01-02",
     None, [], None, "approved is NULL", 1),
]


def pg_text(v):
    return "NULL" if v is None else f"$q${v}$q$"


def my_text(v):
    return "NULL" if v is None else f"CONVERT(X'{v.encode().hex()}' USING utf8mb4)"


def pg_sql():
    out = ["CREATE SCHEMA archive;"]
    for schema in ("public", "archive"):
        out.append(f"""CREATE TABLE {schema}.payments (
  payment_id text PRIMARY KEY, user_id integer, status text, amount numeric(12,2),
  currency char(3), country text, created timestamp without time zone, note text);""")
    for schema, rows in (("public", PAYMENTS), ("archive", ARCHIVE_PAYMENTS)):
        for r in rows:
            vals = [pg_text(r[0]), str(r[1]), pg_text(r[2]), r[3], pg_text(r[4]),
                    pg_text(r[5]), pg_text(r[6]), pg_text(r[7])]
            out.append(f"INSERT INTO {schema}.payments VALUES ({', '.join(vals)});")
    out.append("""CREATE TABLE public.ledger_entries (
  "Entry ID" bigint PRIMARY KEY, kind text NOT NULL, amount numeric(20,6),
  occurred_at timestamp with time zone, booked_on date, attachment bytea,
  details jsonb, approved boolean, memo text);""")
    for r in LEDGER:
        att = "NULL" if r[5] is None else f"'\\x{r[5].hex()}'::bytea"
        details = "NULL" if r[6] is None else pg_text(json.dumps(r[6]))
        approved = "NULL" if r[7] is None else ("true" if r[7] else "false")
        vals = [str(r[0]), pg_text(r[1]), r[2], pg_text(r[3].isoformat()), pg_text(r[4]),
                att, details, approved, pg_text(r[8])]
        out.append(f"INSERT INTO public.ledger_entries VALUES ({', '.join(vals)});")
    print("\n".join(out))


def my_sql():
    out = ["SET time_zone = '+00:00';",
           """CREATE TABLE payments (
  payment_id varchar(16) PRIMARY KEY, user_id int, status varchar(16), amount decimal(12,2),
  currency char(3), country varchar(2), created datetime, note text) DEFAULT CHARSET=utf8mb4;""",
           """CREATE TABLE ledger_entries (
  `Entry ID` bigint PRIMARY KEY, kind varchar(16) NOT NULL, amount decimal(20,6),
  occurred_at timestamp(3) NULL, booked_on date, attachment blob, details json,
  approved tinyint(1), memo text, flags bit(5)) DEFAULT CHARSET=utf8mb4;"""]
    for r in PAYMENTS:
        vals = [my_text(r[0]), str(r[1]), my_text(r[2]), r[3], my_text(r[4]), my_text(r[5]),
                my_text(r[6]), my_text(r[7])]
        out.append(f"INSERT INTO payments VALUES ({', '.join(vals)});")
    for r in LEDGER:
        occurred = r[3].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        att = "NULL" if r[5] is None else f"X'{r[5].hex()}'"
        details = "NULL" if r[6] is None else my_text(json.dumps(r[6]))
        approved = "NULL" if r[7] is None else ("1" if r[7] else "0")
        flags = "NULL" if r[9] is None else str(r[9])
        vals = [str(r[0]), my_text(r[1]), r[2], my_text(occurred), my_text(r[4]), att, details,
                approved, my_text(r[8]), flags]
        out.append(f"INSERT INTO ledger_entries VALUES ({', '.join(vals)});")
    print("\n".join(out))


def orders():
    from bson import Binary, Decimal128, Int64, ObjectId
    from bson.binary import UuidRepresentation
    oid = lambda n: ObjectId(f"5f1e9b3c2a4d6e8f102030{n:02x}")
    t = lambda *a: dt.datetime(*a, tzinfo=UTC)
    return [
        {"_id": oid(0x40), "status": "paid", "placed_at": t(2016, 1, 1, 12, 0, 0, 123000),
         "customer": {"id": Int64(9007199254740993), "name": "Zoë Ünal",
                      "address": {"city": "Zürich"}},
         "total": Decimal128("1234.50"),
         "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
         "note": "tab\there\nline \"quoted\" back\\slash",
         "attachment": Binary(b"\x00\xff\x10", 0),
         "ref": Binary.from_uuid(uuid.UUID("11223344-5566-7788-99aa-bbccddeeff00"),
                                 UuidRepresentation.STANDARD),
         "score": 4.5},
        # No customer name, no city, no attachment: nulls, not crashes.
        {"_id": oid(0x41), "status": "refunded", "placed_at": t(2016, 3, 27, 1, 30),
         "customer": {"id": Int64(7)}, "total": Decimal128("-0.01"), "items": [],
         "note": None, "score": 1.0},
        {"_id": oid(0x42), "status": "paid", "placed_at": t(1969, 12, 31, 23, 59, 59, 999000),
         "customer": {"id": Int64(-5), "name": "李雷"}, "total": Decimal128("1E+3"),
         "items": [{"sku": "C-3", "qty": Int64(10)}], "note": "pre-epoch"},
        # No status: event.type cannot be built, so it is rejected.
        {"_id": oid(0x43), "placed_at": t(2017, 1, 1), "customer": {"id": Int64(1)},
         "total": Decimal128("1"), "items": []},
        {"_id": oid(0x44), "status": "paid", "placed_at": t(2020, 2, 29, 23, 59, 59, 1000),
         "customer": {"id": Int64(1), "name": ""}, "total": Decimal128("0.000001"),
         "items": [{"sku": "D-4", "qty": 1}], "note": "", "score": float("nan")},
    ]


def mongo(out_dir):
    from bson import encode
    from bson.json_util import CANONICAL_JSON_OPTIONS, RELAXED_JSON_OPTIONS, dumps
    docs = orders()
    raw = b"".join(encode(d) for d in docs)
    with open(f"{out_dir}/orders.bson", "wb") as f:
        f.write(raw)
    with gzip.GzipFile(f"{out_dir}/orders.bson.gz", "wb", mtime=0) as f:
        f.write(raw)
    with open(f"{out_dir}/orders.metadata.json", "w") as f:
        json.dump({"indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}],
                   "uuid": "0123456789abcdef0123456789abcdef",
                   "collectionName": "orders", "type": "collection"}, f)
    with open(f"{out_dir}/orders.canonical.jsonl", "w") as f:
        for d in docs:
            f.write(dumps(d, json_options=CANONICAL_JSON_OPTIONS) + "\n")
    with open(f"{out_dir}/orders.relaxed.jsonl", "w") as f:
        for d in docs:
            f.write(dumps(d, json_options=RELAXED_JSON_OPTIONS) + "\n")
    with open(f"{out_dir}/orders.array.json", "w") as f:
        f.write("[" + ",\n".join(dumps(d, json_options=RELAXED_JSON_OPTIONS) for d in docs) + "]\n")
    # The rejected document's byte offset, for the tests.
    offsets, pos = [], 0
    for d in docs:
        offsets.append(pos)
        pos += len(encode(d))
    with open(f"{out_dir}/orders.offsets.json", "w") as f:
        json.dump(offsets, f)


def millis(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def event(service, etype, key, created, payload, aggregate=None, correlation=None):
    meta = {"service": service, "type": etype, "created_at": millis(created.astimezone(UTC))}
    if aggregate is not None:
        meta["aggregate_id"] = aggregate
    if correlation is not None:
        meta["correlation_id"] = correlation
    eid = uuid.uuid5(uuid.NAMESPACE_URL, f"chronicle:{service}:{key}")
    return {"id": str(eid), "meta": meta, "payload": payload}


def berlin(local):
    """Earliest instant for a Berlin wall-clock time; None in the DST gap."""
    naive = dt.datetime.strptime(local, "%Y-%m-%d %H:%M:%S")
    aware = naive.replace(tzinfo=BERLIN, fold=0)
    back = aware.astimezone(UTC).astimezone(BERLIN).replace(tzinfo=None)
    return aware if back == naive else None


def payment_events():
    out = []
    for pid, user, status, amount, currency, country, created, note in PAYMENTS:
        when = berlin(created)
        if when is None or (note or "").startswith("TEST:"):
            continue
        payload = {"amount": str(Decimal(amount).quantize(Decimal("0.01"))),
                   "country": country, "currency": currency, "user_id": user}
        if note:
            payload["note"] = note
        out.append(event("legacy-payments", f"payment-{status}", pid, when, payload,
                         f"payment/{pid}", f"user/{user}"))
    return out


def ledger_events(mysql):
    out = []
    for eid, kind, amount, occurred, booked, att, details, approved, memo, flags in LEDGER:
        if approved is None:
            continue
        payload = {
            "entry_id": eid,
            "amount": format(Decimal(amount).quantize(Decimal("0.000001")), "f"),
            "booked_on": booked + "T00:00:00.000Z",
            "attachment": None if att is None else "\\x" + att.hex(),
            "approved": approved,
            "memo": memo,
        }
        if details is not None:
            payload["details"] = details
        if mysql and flags is not None:
            payload["flags"] = flags
        out.append(event("ledger", f"entry-{kind}", str(eid), occurred, payload, f"entry/{eid}"))
    return out


def order_events():
    from bson import Binary, Decimal128, ObjectId

    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    out = []
    for d in orders():
        if "status" not in d:
            continue
        cust = d["customer"]
        total = d["total"].to_decimal()
        payload = {
            "customer_id": int(cust["id"]),
            "city": cust.get("address", {}).get("city"),
            # Exact, without an exponent: Decimal128("1E+3") is 1000.
            "total": format(total, "f"),
            "items": plain(d["items"]),
            "note": d.get("note"),
            "attachment": (base64.b64encode(bytes(d["attachment"])).decode()
                           if "attachment" in d else None),
        }
        if cust.get("name"):
            payload["customer_name"] = cust["name"]
        if d["items"]:
            payload["first_sku"] = d["items"][0]["sku"]
        if "ref" in d:
            payload["ref"] = str(d["ref"].as_uuid())
        if "score" in d:
            payload["score"] = repr(d["score"]).replace("nan", "NaN")
        assert isinstance(d["_id"], ObjectId) and isinstance(d["total"], Decimal128)
        assert "attachment" not in d or isinstance(d["attachment"], Binary)
        out.append(event("shop", f"order-{d['status']}", str(d["_id"]), d["placed_at"],
                         payload, f"customer/{int(cust['id'])}"))
    return out


def write_expected(path, events):
    events = sorted(events, key=lambda e: e["id"])
    with open(path, "w", encoding="utf-8") as f:
        for e in events:
            e["payload"] = dict(sorted(e["payload"].items()))
            f.write(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n")


def main():
    cmd = sys.argv[1]
    if cmd == "pg-sql":
        pg_sql()
    elif cmd == "my-sql":
        my_sql()
    elif cmd == "mongo":
        mongo(sys.argv[2])
    elif cmd == "expected":
        d = sys.argv[2]
        write_expected(f"{d}/payments.expected.jsonl", payment_events())
        write_expected(f"{d}/ledger-pg.expected.jsonl", ledger_events(mysql=False))
        write_expected(f"{d}/ledger-my.expected.jsonl", ledger_events(mysql=True))
        write_expected(f"{d}/orders.expected.jsonl", order_events())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
