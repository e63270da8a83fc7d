#!/usr/bin/env python3
"""Writes fixtures/archive/events.jsonl: 240 canonical events received
between 2016-01-01 and 2016-04-30 (three types, two services, some null
aggregate and correlation ids, payloads with quotes, line breaks and
non-ASCII text), with a seeded generator so that the file is reproducible.
fixtures/archive/archived-before-2016-03.jsonl is `chronicle export --until
2016-03-01` of a store holding them, which tests/archive.rs also checks
against DuckDB's and pyarrow's reading of the archive."""
import datetime
import json
import random
import uuid

TYPES = ["payment-completed", "payment-refunded", "user-registered"]


def iso(ms):
    secs, milli = divmod(ms, 1000)
    t = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{milli:03d}Z"


def main():
    rng = random.Random(7)
    base = 1451606400000  # 2016-01-01T00:00:00Z
    span = 120 * 86400000
    out = []
    for i in range(240):
        received = base + rng.randrange(span)
        created = received - rng.randrange(3600000)
        meta = {"service": "core" if i % 3 else "legacy-payments", "type": TYPES[i % 3],
                "created_at": iso(created), "received_at": iso(received)}
        if i % 4:
            meta["aggregate_id"] = f"payment/{i // 2}"
        if i % 5 == 0:
            meta["correlation_id"] = f"user/{rng.randrange(50)}"
        payload = {"amount": f"{rng.randrange(1, 99999) / 100:.2f}/EUR", "n": i}
        if i % 7 == 0:
            payload["note"] = 'café "quoted"\nline\t€'
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"chronicle:fixture:{i}"))
        out.append(json.dumps({"id": event_id, "meta": meta, "payload": payload}, ensure_ascii=False))
    with open("fixtures/archive/events.jsonl", "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
