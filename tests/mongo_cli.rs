//! The `chronicle` binary against MongoDB (the server named by
//! `MONGODB_URI`): `import csv` of the legacy payments fixture, re-runs,
//! store migration from SQLite through `export | import events`, conflicts,
//! settings sources, and a clear exit 2 for an unreachable server.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::mongo::{test_db, TestDb};
use mongodb::bson::{doc, Document};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_chronicle");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/csv")
        .join(name)
}

fn chronicle(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .env_remove("CHRONICLE_STORE")
        .env_remove("CHRONICLE_CONFIG")
        .args(args)
        .output()
        .unwrap()
}

fn chronicle_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env_remove("CHRONICLE_STORE")
        .env_remove("CHRONICLE_CONFIG")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn summary(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON summary ({e}): stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn counts(v: &Value) -> [u64; 6] {
    [
        "read",
        "imported",
        "duplicates",
        "conflicts",
        "rejected",
        "skipped",
    ]
    .map(|k| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("{k} missing in {v}"))
    })
}

fn import_fixture(dir: &Path, store: &str) -> Output {
    let csv = fixture("legacy-payments.csv");
    let mapping = fixture("legacy-payments.toml");
    chronicle(
        dir,
        &[
            "--json",
            "--store",
            store,
            "import",
            "csv",
            csv.to_str().unwrap(),
            "--mapping",
            mapping.to_str().unwrap(),
            "--rejects",
            dir.join("rejects.csv").to_str().unwrap(),
        ],
    )
}

/// Export lines with `received_at` removed (it is the import time).
fn without_received_at(export: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(export)
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v["meta"].as_object_mut().unwrap().remove("received_at");
            v
        })
        .collect()
}

fn setup(test: &str) -> Option<(TestDb, tempfile::TempDir)> {
    let db = test_db(test)?;
    Some((db, tempfile::tempdir().unwrap()))
}

#[test]
fn import_csv_into_mongodb_matches_the_embedded_store() {
    let Some((db, dir)) = setup("import_csv") else {
        return;
    };
    let dir = dir.path();
    let sqlite = format!("sqlite:{}", dir.join("a.db").display());
    let embedded = import_fixture(dir, &sqlite);
    let out = import_fixture(dir, &db.uri);
    assert_eq!(out.status.code(), Some(1), "rejects -> exit 1");
    assert_eq!(counts(&summary(&out)), counts(&summary(&embedded)));
    assert_eq!(counts(&summary(&out)), [14, 7, 1, 0, 5, 1]);

    // Field by field, read with the driver, not with chronicle.
    let events = db
        .client()
        .database(&db.name)
        .collection::<Document>("events");
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        b"chronicle:legacy-payments:P-1001",
    );
    let stored = events
        .find_one(doc! {"_id": id.to_string()})
        .run()
        .unwrap()
        .expect("P-1001 is stored under its deterministic id");
    let meta = stored.get_document("meta").unwrap();
    assert_eq!(meta.get_str("service").unwrap(), "legacy-payments");
    assert_eq!(meta.get_str("type").unwrap(), "payment-completed");
    // 2016-01-01 13:00:00 in Berlin is 12:00 UTC.
    assert_eq!(
        meta.get_datetime("created_at").unwrap().timestamp_millis(),
        1_451_649_600_000
    );
    assert_eq!(meta.get_str("aggregate_id").unwrap(), "payment/P-1001");
    assert_eq!(meta.get_str("correlation_id").unwrap(), "user/42");
    let payload = stored.get_document("payload").unwrap();
    assert_eq!(payload.get_str("amount").unwrap(), "3.00/EUR");
    assert_eq!(payload.get_i32("user_id").unwrap(), 42);
    assert!(payload.get("note").is_none(), "empty note is omitted");
    assert_eq!(events.count_documents(doc! {}).run().unwrap(), 7);

    // Both stores export the same events in the same order.
    let a = chronicle(dir, &["--store", &sqlite, "export"]);
    let b = chronicle(dir, &["--store", &db.uri, "export"]);
    assert!(b.status.success());
    assert_eq!(
        without_received_at(&a.stdout),
        without_received_at(&b.stdout)
    );

    // Re-running: nothing imported, every event a duplicate.
    let again = import_fixture(dir, &db.uri);
    assert_eq!(counts(&summary(&again)), [14, 0, 8, 0, 5, 1]);
    assert_eq!(events.count_documents(doc! {}).run().unwrap(), 7);

    // status reads the same numbers, and both runs were recorded.
    let status = chronicle(dir, &["--json", "--store", &db.uri, "status"]);
    let status = summary(&status);
    assert_eq!(status["live_total"], 7);
    assert_eq!(status["live_by_type"]["payment-completed"], 5);
    let runs = status["import_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["duplicates"], 8);
    assert_eq!(runs[1]["complete"], true);
}

#[test]
fn export_import_events_moves_a_store_from_sqlite_to_mongodb() {
    let Some((db, dir)) = setup("migrate") else {
        return;
    };
    let dir = dir.path();
    let sqlite = format!("sqlite:{}", dir.join("a.db").display());
    import_fixture(dir, &sqlite);
    let export = chronicle(dir, &["--store", &sqlite, "export"]);
    assert!(export.status.success());

    let args = [
        "--json",
        "--store",
        db.uri.as_str(),
        "import",
        "events",
        "-",
    ];
    let moved = chronicle_stdin(dir, &args, &export.stdout);
    assert_eq!(moved.status.code(), Some(0), "{moved:?}");
    assert_eq!(counts(&summary(&moved)), [7, 7, 0, 0, 0, 0]);

    // Byte for byte the same export: received_at travels with the events.
    let back = chronicle(dir, &["--store", &db.uri, "export"]);
    assert_eq!(
        String::from_utf8_lossy(&back.stdout),
        String::from_utf8_lossy(&export.stdout)
    );
    let s1 = summary(&chronicle(dir, &["--json", "--store", &sqlite, "status"]));
    let s2 = summary(&chronicle(dir, &["--json", "--store", &db.uri, "status"]));
    assert_eq!(s1["live_by_month"], s2["live_by_month"]);
    assert_eq!(s2["live_total"], 7);

    // Moving again is harmless.
    let again = chronicle_stdin(dir, &args, &export.stdout);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(counts(&summary(&again)), [7, 0, 7, 0, 0, 0]);

    // An event changed on the way is a conflict: reported, not written.
    let text = String::from_utf8(export.stdout.clone()).unwrap();
    let first = text.lines().next().unwrap();
    let changed = first.replacen("\"payload\":{", "\"payload\":{\"extra\":1,", 1);
    let conflict = chronicle_stdin(dir, &args, format!("{changed}\n").as_bytes());
    assert_eq!(conflict.status.code(), Some(1));
    assert_eq!(counts(&summary(&conflict)), [1, 0, 0, 1, 0, 0]);
    let after = chronicle(dir, &["--store", &db.uri, "export"]);
    assert_eq!(after.stdout, export.stdout, "the stored version is kept");
}

#[test]
fn store_uri_from_environment_and_config_file() {
    let Some((db, dir)) = setup("settings") else {
        return;
    };
    let dir = dir.path();
    let from_env = Command::new(BIN)
        .current_dir(dir)
        .env("CHRONICLE_STORE", &db.uri)
        .args(["--json", "status"])
        .output()
        .unwrap();
    assert!(from_env.status.success(), "{from_env:?}");
    assert_eq!(
        summary(&from_env)["store"],
        Value::String(format!("mongodb://{}", db.uri.split_once("://").unwrap().1))
    );
    std::fs::write(
        dir.join("chronicle.toml"),
        format!("store = \"{}\"\n", db.uri_with("collection=other")),
    )
    .unwrap();
    let from_config = chronicle(dir, &["--json", "status"]);
    assert!(from_config.status.success(), "{from_config:?}");
    assert!(summary(&from_config)["store"]
        .as_str()
        .unwrap()
        .ends_with("?collection=other"));
}

#[test]
fn unreachable_server_exits_2_quickly_naming_the_host() {
    // Runs without MONGODB_URI: nothing listens on port 1.
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = import_fixture(
        dir.path(),
        "mongodb://127.0.0.1:1/chronicle?serverSelectionTimeoutMS=700",
    );
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(2));
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(stderr.lines().count() <= 2, "a short message: {stderr}");
    assert!(out.stdout.is_empty());
}
