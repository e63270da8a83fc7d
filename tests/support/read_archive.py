#!/usr/bin/env python3
"""Independent reader for the archive tests: reads a chronicle archive folder
with DuckDB or pyarrow (never chronicle code), checks the Parquet logical
types, and prints every event as a canonical JSON line in (received_at, id)
order, for comparison with `chronicle export`.
Usage: read_archive.py ARCHIVE_DIR duckdb|pyarrow"""
import datetime
import glob
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = ["id", "service", "type", "aggregate_id", "correlation_id", "created_at", "received_at", "payload"]


def iso(ms):
    secs, milli = divmod(ms, 1000)
    t = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{milli:03d}Z"


def check_types(root):
    files = glob.glob(f"{root}/**/*.parquet", recursive=True)
    if not files:
        sys.exit(f"no parquet files under {root}")
    for f in files:
        schema = pq.ParquetFile(f).schema
        names = [schema.column(i).name for i in range(len(schema))]
        if names != COLUMNS:
            sys.exit(f"{f}: columns {names}")
        payload = schema.column(7).logical_type
        if str(payload.type) != "JSON":
            sys.exit(f"{f}: payload logical type is {payload}")
        for i in (5, 6):
            lt = schema.column(i).logical_type
            info = json.loads(lt.to_json())
            if lt.type != "TIMESTAMP" or not info.get("isAdjustedToUTC") or info.get("timeUnit") != "milliseconds":
                sys.exit(f"{f}: {names[i]} logical type is {lt.to_json()}")


def rows_duckdb(root):
    import duckdb

    con = duckdb.connect()
    return con.sql(
        f"""SELECT id, service, type, aggregate_id, correlation_id,
                   epoch_ms(created_at), epoch_ms(received_at), payload::VARCHAR
            FROM read_parquet('{root}/**/*.parquet', hive_partitioning = true)
            ORDER BY received_at, id"""
    ).fetchall()


def rows_pyarrow(root):
    import pyarrow.dataset as ds

    table = ds.dataset(root, format="parquet", partitioning="hive").to_table(columns=COLUMNS)
    table = table.sort_by([("received_at", "ascending"), ("id", "ascending")])
    cols = []
    for name in COLUMNS:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64())
        elif isinstance(col.type, pa.ExtensionType):
            col = col.cast(col.type.storage_type)
        cols.append(col.to_pylist())
    return list(zip(*cols))


def main():
    root, engine = sys.argv[1], sys.argv[2]
    check_types(root)
    rows = rows_duckdb(root) if engine == "duckdb" else rows_pyarrow(root)
    for (id_, service, type_, aggregate_id, correlation_id, created, received, payload) in rows:
        meta = {"service": service, "type": type_, "created_at": iso(created), "received_at": iso(received)}
        if aggregate_id is not None:
            meta["aggregate_id"] = aggregate_id
        if correlation_id is not None:
            meta["correlation_id"] = correlation_id
        print(json.dumps({"id": id_, "meta": meta, "payload": json.loads(payload)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
