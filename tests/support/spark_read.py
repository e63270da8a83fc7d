#!/usr/bin/env python3
"""Independent readers for tests/spark.rs (never chronicle code): reads a
chronicle archive as a Hive-partitioned Parquet table with Spark (pyspark,
local[1], one session) and with polars, and runs scripts emitted by
`chronicle rebuild NAME --emit-sql spark` in the same session. Prints one
JSON object: what each reader saw, for the test to compare with
`chronicle export` and with chronicle's own rebuilds.
Usage: spark_read.py ARCHIVE_DIR [SQL_FILE ...]"""
import json
import sys

import polars as pl
from pyspark.sql import SparkSession

COLUMNS = ["id", "service", "type", "aggregate_id", "correlation_id", "created_at", "received_at", "payload"]


def spark_session():
    return (
        SparkSession.builder.master("local[1]")
        .appName("chronicle-readers")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )


def read_spark(spark, root):
    df = spark.read.parquet(root)
    schema = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    rows = df.selectExpr(
        "id", "service", "type", "aggregate_id", "correlation_id",
        "unix_millis(created_at)", "unix_millis(received_at)", "payload",
        "year", "month",
    ).orderBy("received_at", "id").collect()
    # Counts per type and month of received_at, in UTC (the session zone
    # decides how Spark prints a timestamp; the JVM's own zone is not UTC).
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    counts = df.groupBy("type", "year", "month").count().collect()
    by_time = df.selectExpr("type", "date_format(received_at, 'yyyy-MM') AS m").groupBy("type", "m").count().collect()
    return {
        "jvm_timezone": spark.sparkContext._jvm.java.util.TimeZone.getDefault().getID(),
        "schema": schema,
        "rows": [list(r) for r in rows],
        "counts_by_partition": {f"{r['type']} {r['year']:04d}-{r['month']:02d}": r["count"] for r in counts},
        "counts_by_received_at": {f"{r['type']} {r['m']}": r["count"] for r in by_time},
    }


def read_polars(root):
    out = {}
    # The root folder holds manifests (JSON) beside the parts; polars reads
    # every file of a folder it is given unless told which ones: a glob, or
    # the prefixes that Spark, pyarrow and DuckDB skip by themselves.
    for how, lf in [
        ("glob", pl.scan_parquet(f"{root}/**/*.parquet", hive_partitioning=True)),
        ("hidden_file_prefix", pl.scan_parquet(root, hive_partitioning=True, hidden_file_prefix=["_", "."])),
    ]:
        df = lf.select(
            "id", "type",
            pl.col("created_at").dt.epoch("ms").alias("created_ms"),
            pl.col("received_at").dt.epoch("ms").alias("received_ms"),
            # The payload column is Parquet's JSON type, which polars reads
            # as the arrow.json extension type over its text.
            pl.col("payload").ext.storage(),
            pl.col("received_at").dt.strftime("%Y-%m").alias("m"),
            "year", "month",
        ).sort("received_ms", "id").collect()
        schema = lf.collect_schema()
        out[how] = {
            "schema": {name: str(dtype) for name, dtype in schema.items()},
            "payload_type": str(schema["payload"]),
            "rows": [list(r) for r in df.select("id", "type", "created_ms", "received_ms", "payload").iter_rows()],
            "counts_by_received_at": {
                f"{t} {m}": n for (t, m, n) in df.group_by("type", "m").len().iter_rows()
            },
        }
    return out


def run_script(spark, path):
    script = open(path, encoding="utf-8").read()
    statements = [s for s in script.split(";\n") if s.strip()]
    for statement in statements[:-1]:
        spark.sql(statement)
    result = spark.sql(statements[-1])
    rows = [[None if v is None else str(v) for v in r] for r in result.collect()]
    return {"columns": result.columns, "rows": rows}


def main():
    root, scripts = sys.argv[1], sys.argv[2:]
    spark = spark_session()
    spark.sparkContext.setLogLevel("ERROR")
    out = {"spark": read_spark(spark, root), "polars": read_polars(root)}
    out["sql"] = {path: run_script(spark, path) for path in scripts}
    spark.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
