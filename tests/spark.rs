//! Readers other than chronicle, on an archive chronicle made: Spark
//! (pyspark, local[1]) reads it as a Hive-partitioned Parquet table, polars
//! scans it, and both see exactly what `chronicle export` showed before the
//! archive run: every row, timestamps as the same UTC instants, JSON
//! payloads as their canonical text, and the same counts per type and
//! month. In the same Spark session, the SQL of `rebuild --emit-sql spark`
//! gives chronicle's own rebuilt tables. One Spark session serves every
//! check: starting one costs about 15 s.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use chronicle::event::parse_rfc3339_millis;
use serde_json::Value;

use common::emit::{rows_from_json, Scene, PROJECTIONS};
use common::python_with;

const READER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/spark_read.py");

/// What the readers must see of one event: id, service, type, aggregate_id,
/// correlation_id, created_at and received_at (ms), canonical payload.
fn expected_rows(exported: &[Value]) -> Vec<Value> {
    exported
        .iter()
        .map(|e| {
            let ms = |k: &str| parse_rfc3339_millis(e["meta"][k].as_str().unwrap()).unwrap();
            serde_json::json!([
                e["id"],
                e["meta"]["service"],
                e["meta"]["type"],
                e["meta"]["aggregate_id"],
                e["meta"]["correlation_id"],
                ms("created_at"),
                ms("received_at"),
                e["payload"].to_string(),
            ])
        })
        .collect()
}

fn counts(exported: &[Value]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in exported {
        let key = format!(
            "{} {}",
            e["meta"]["type"].as_str().unwrap(),
            &e["meta"]["received_at"].as_str().unwrap()[..7]
        );
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

fn as_counts(v: &Value) -> BTreeMap<String, u64> {
    serde_json::from_value(v.clone()).unwrap()
}

/// Whether a Java runtime for Spark is on the PATH; required in CI.
fn java() -> bool {
    common::tool_runs(
        "java",
        &["-version"],
        "Java 17 or later (pyspark runs on it)",
    )
}

#[test]
fn spark_and_polars_read_the_archive_and_spark_runs_the_emitted_sql() {
    if !python_with("pyspark, polars") || !java() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", tmp.path().join("live.db").display());
    let archive = tmp.path().join("archive");
    let chronicle = |args: &[&str]| {
        let mut all = vec!["--store", store.as_str(), "-q"];
        all.extend_from_slice(args);
        let run = common::run(tmp.path(), &all);
        assert_eq!(run.code, 0, "chronicle {args:?}: {}", run.stderr);
    };
    chronicle(&[
        "import",
        "events",
        common::fixture_str("archive/events.jsonl").as_str(),
    ]);
    let exported_file = tmp.path().join("exported.jsonl");
    chronicle(&[
        "export",
        "--until",
        "2016-03-01",
        "-o",
        exported_file.to_str().unwrap(),
    ]);
    chronicle(&[
        "archive",
        "--archive",
        archive.to_str().unwrap(),
        "--before",
        "2016-03-01",
    ]);
    let exported: Vec<Value> = std::fs::read_to_string(&exported_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(exported.len() > 100);

    let scene = Scene::new();
    let scripts: Vec<_> = PROJECTIONS
        .iter()
        .map(|(name, _)| scene.emit(name, "spark"))
        .collect();

    let mut cmd = Command::new("python3");
    cmd.arg(READER).arg(&archive).args(&scripts);
    // Not UTC, so that a reader which took the instants as local time, or
    // printed them in the machine's zone, would be caught.
    cmd.env("TZ", "America/New_York")
        .current_dir(scene.dir.path());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "spark_read.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();

    // Spark: instants with a zone (TIMESTAMP, not TIMESTAMP_NTZ), read by a
    // JVM whose own zone is not UTC.
    let spark = &seen["spark"];
    assert_eq!(spark["jvm_timezone"], "America/New_York");
    for (column, spark_type) in [
        ("created_at", "timestamp"),
        ("received_at", "timestamp"),
        ("payload", "string"),
        ("id", "string"),
    ] {
        assert_eq!(
            spark["schema"][column], spark_type,
            "spark type of {column}"
        );
    }
    let expected = expected_rows(&exported);
    let spark_rows: Vec<Value> = spark["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let r = r.as_array().unwrap();
            // The Hive partition columns name the UTC month of received_at.
            let received = chronicle::event::format_millis(r[6].as_i64().unwrap());
            assert_eq!(
                format!("{:04}-{:02}", r[8], r[9].as_i64().unwrap()),
                received[..7],
                "partition of {}",
                r[0]
            );
            Value::Array(r[..8].to_vec())
        })
        .collect();
    assert_eq!(
        spark_rows, expected,
        "Spark reads other events than chronicle exported"
    );
    let expected_counts = counts(&exported);
    assert_eq!(as_counts(&spark["counts_by_received_at"]), expected_counts);
    assert_eq!(as_counts(&spark["counts_by_partition"]), expected_counts);

    // polars, given the parts by a glob and given the root folder with the
    // prefixes to skip: UTC instants, the same rows and counts.
    for how in ["glob", "hidden_file_prefix"] {
        let polars = &seen["polars"][how];
        for column in ["created_at", "received_at"] {
            assert_eq!(
                polars["schema"][column], "Datetime(time_unit='ms', time_zone='UTC')",
                "polars ({how}) type of {column}"
            );
        }
        let picked: Vec<Value> = expected
            .iter()
            .map(|r| serde_json::json!([r[0], r[2], r[5], r[6], r[7]]))
            .collect();
        assert_eq!(
            polars["rows"].as_array().unwrap(),
            &picked,
            "polars ({how}) rows"
        );
        assert_eq!(as_counts(&polars["counts_by_received_at"]), expected_counts);
    }

    // The emitted Spark SQL gives chronicle's tables.
    for ((name, table), script) in PROJECTIONS.iter().zip(&scripts) {
        let result = &seen["sql"][script.to_str().unwrap()];
        let columns: Vec<String> = serde_json::from_value(result["columns"].clone()).unwrap();
        assert_eq!(columns, scene.columns(table), "{name}: columns");
        assert_eq!(
            rows_from_json(&result["rows"]),
            scene.table(table),
            "{name}: Spark's rows differ from chronicle's"
        );
    }
}
