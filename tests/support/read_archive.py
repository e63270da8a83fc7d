#!/usr/bin/env python3
"""Independent reader for the archive tests: reads a chronicle archive folder
with DuckDB or pyarrow (never chronicle code), checks the Parquet logical
types, and prints every event as a canonical JSON line in (received_at, id)
order, for comparison with `chronicle export`. An `s3://bucket/prefix`
archive is read with pyarrow's S3FileSystem, pointed at AWS_ENDPOINT_URL
with the AWS_* credentials of the environment.
Usage: read_archive.py ARCHIVE_DIR|s3://BUCKET/PREFIX duckdb|pyarrow"""
import datetime
import glob
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = ["id", "service", "type", "aggregate_id", "correlation_id", "created_at", "received_at", "payload"]


def iso(ms):
    secs, milli = divmod(ms, 1000)
    t = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{milli:03d}Z"


def s3_filesystem():
    from pyarrow import fs

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    scheme, _, host = endpoint.rpartition("://")
    return fs.S3FileSystem(
        access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        region=os.environ.get("AWS_REGION", "us-east-1"),
        endpoint_override=host or None,
        scheme=scheme or "https",
    )


def locate(root):
    """(filesystem or None, path) of an archive root."""
    if root.startswith("s3://"):
        return s3_filesystem(), root[len("s3://"):].rstrip("/")
    return None, root


def parquet_files(filesystem, root):
    if filesystem is None:
        return glob.glob(f"{root}/**/*.parquet", recursive=True)
    from pyarrow import fs

    infos = filesystem.get_file_info(fs.FileSelector(root, recursive=True))
    return [i.path for i in infos if i.path.endswith(".parquet") and not os.path.basename(i.path).startswith((".", "_"))]


def check_types(filesystem, root):
    files = parquet_files(filesystem, root)
    if not files:
        sys.exit(f"no parquet files under {root}")
    for f in files:
        source = filesystem.open_input_file(f) if filesystem else f
        schema = pq.ParquetFile(source).schema
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


def rows_pyarrow(filesystem, root):
    import pyarrow.dataset as ds

    table = ds.dataset(root, format="parquet", partitioning="hive", filesystem=filesystem).to_table(columns=COLUMNS)
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
    filesystem, root = locate(root)
    check_types(filesystem, root)
    if engine == "duckdb":
        if filesystem is not None:
            sys.exit("duckdb reads S3 through its httpfs extension, which is not installed here; use pyarrow")
        rows = rows_duckdb(root)
    else:
        rows = rows_pyarrow(filesystem, root)
    for (id_, service, type_, aggregate_id, correlation_id, created, received, payload) in rows:
        meta = {"service": service, "type": type_, "created_at": iso(created), "received_at": iso(received)}
        if aggregate_id is not None:
            meta["aggregate_id"] = aggregate_id
        if correlation_id is not None:
            meta["correlation_id"] = correlation_id
        print(json.dumps({"id": id_, "meta": meta, "payload": json.loads(payload)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
