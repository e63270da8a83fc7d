#!/usr/bin/env python3
# The MongoDB server's own insert throughput, for comparison with chronicle's
# `import csv` into MongoDB in scripts/bench.d/20-mongo.sh: pymongo inserts
# ROWS documents shaped like chronicle's (same layout and indexes, similar
# sizes) with unordered insert_many in batches, into a fresh collection.
# Usage: bench-mongo-raw.py URI DATABASE ROWS [BATCH]
import datetime
import random
import sys
import time
import uuid

import pymongo

uri, database, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
batch = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
client = pymongo.MongoClient(uri)
client.drop_database(database)
events = client[database]["events"]
events.create_index([("meta.received_at", 1), ("_id", 1)])
events.create_index([("meta.type", 1), ("meta.received_at", 1), ("_id", 1)])
events.create_index([("meta.aggregate_id", 1)])
rng = random.Random(42)
statuses = ["completed", "pending", "refunded", "failed"]
countries = ["DE", "AT", "FR", "US", "GB", "ES", "CH"]
start = time.perf_counter()
received = datetime.datetime.now(datetime.timezone.utc)
written = 0
while written < rows:
    docs = []
    for i in range(written, min(rows, written + batch)):
        payload = {
            "amount": f"{rng.randint(1, 99999) / 100:.2f}/EUR",
            "country": rng.choice(countries),
            "user_id": rng.randint(1, 500000),
        }
        if rng.random() < 0.45:
            payload["note"] = "customer asked for a receipt, sent by mail"
        docs.append({
            "_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"chronicle:legacy-payments:P-{i:08d}")),
            "meta": {
                "service": "legacy-payments",
                "type": "payment-" + rng.choice(statuses),
                "created_at": received - datetime.timedelta(days=rng.randint(0, 3000)),
                "received_at": received,
                "aggregate_id": f"payment/P-{i:08d}",
                "correlation_id": f"user/{payload['user_id']}",
            },
            "payload": payload,
            "write_id": 1,
        })
    events.insert_many(docs, ordered=False)
    written += len(docs)
elapsed = time.perf_counter() - start
print(f"{'pymongo insert_many -> mongodb (server raw)':<48} {rows:>10,} events {elapsed:>7.2f} s {rows / elapsed:>12,.0f} events/s")
client.drop_database(database)
