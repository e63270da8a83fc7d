//! The `chronicle` binary against MongoDB (the server named by
//! `MONGODB_URI`): `import csv` of the legacy payments fixture, re-runs,
//! store migration from SQLite through `export | import events`, conflicts,
//! settings sources, and a clear exit 2 for an unreachable server.
#![cfg(feature = "mongodb")]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::mongo::{test_db, TestDb};
use common::{command, events_without_received_at, fixture_str, run, Run};
use mongodb::bson::{doc, Document};

/// Runs chronicle with `input` on its standard input.
fn run_with_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Run {
    let mut child = command(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn counts(run: &Run) -> [u64; 6] {
    let v = run.json();
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

fn import_fixture(dir: &Path, store: &str) -> Run {
    let rejects = dir.join("rejects.csv").display().to_string();
    run(
        dir,
        &[
            "--json",
            "--store",
            store,
            "import",
            "csv",
            &fixture_str("csv/legacy-payments.csv"),
            "--mapping",
            &fixture_str("csv/legacy-payments.toml"),
            "--rejects",
            &rejects,
        ],
    )
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
    assert_eq!(out.code, 1, "rejects -> exit 1");
    assert_eq!(counts(&out), counts(&embedded));
    assert_eq!(counts(&out), [14, 7, 1, 0, 5, 1]);

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

    // Both stores export the same events.
    let a = run(dir, &["--store", &sqlite, "export"]);
    let b = run(dir, &["--store", &db.uri, "export"]);
    assert_eq!(b.code, 0, "{}", b.stderr);
    assert_eq!(b.stdout.lines().count(), 7);
    assert_eq!(
        events_without_received_at(&a.stdout),
        events_without_received_at(&b.stdout)
    );

    // Re-running: nothing imported, every event a duplicate.
    let again = import_fixture(dir, &db.uri);
    assert_eq!(counts(&again), [14, 0, 8, 0, 5, 1]);
    assert_eq!(events.count_documents(doc! {}).run().unwrap(), 7);

    // status reads the same numbers, and both runs were recorded.
    let status = run(dir, &["--json", "--store", &db.uri, "status"]).json();
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
    let export = run(dir, &["--store", &sqlite, "export"]);
    assert_eq!(export.code, 0, "{}", export.stderr);

    let args = [
        "--json",
        "--store",
        db.uri.as_str(),
        "import",
        "events",
        "-",
    ];
    let moved = run_with_stdin(dir, &args, export.stdout.as_bytes());
    assert_eq!(moved.code, 0, "{moved:?}");
    assert_eq!(counts(&moved), [7, 7, 0, 0, 0, 0]);

    // Byte for byte the same export: received_at travels with the events.
    let back = run(dir, &["--store", &db.uri, "export"]);
    assert_eq!(back.stdout, export.stdout);
    let s1 = run(dir, &["--json", "--store", &sqlite, "status"]).json();
    let s2 = run(dir, &["--json", "--store", &db.uri, "status"]).json();
    assert_eq!(s1["live_by_month"], s2["live_by_month"]);
    assert_eq!(s2["live_total"], 7);

    // Moving again is harmless.
    let again = run_with_stdin(dir, &args, export.stdout.as_bytes());
    assert_eq!(again.code, 0);
    assert_eq!(counts(&again), [7, 0, 7, 0, 0, 0]);

    // An event changed on the way is a conflict: reported, not written.
    let first = export.stdout.lines().next().unwrap();
    let changed = first.replacen("\"payload\":{", "\"payload\":{\"extra\":1,", 1);
    let conflict = run_with_stdin(dir, &args, format!("{changed}\n").as_bytes());
    assert_eq!(conflict.code, 1);
    assert_eq!(counts(&conflict), [1, 0, 0, 1, 0, 0]);
    let after = run(dir, &["--store", &db.uri, "export"]);
    assert_eq!(after.stdout, export.stdout, "the stored version is kept");
}

#[test]
fn store_uri_from_environment_and_config_file() {
    let Some((db, dir)) = setup("settings") else {
        return;
    };
    let dir = dir.path();
    // status reads only a store that exists (it never creates one).
    import_fixture(dir, &db.uri);
    import_fixture(dir, &db.uri_with("collection=other"));
    let from_env = command(dir, &["--json", "status"])
        .env("CHRONICLE_STORE", &db.uri)
        .output()
        .unwrap();
    assert!(from_env.status.success(), "{from_env:?}");
    let status: serde_json::Value = serde_json::from_slice(&from_env.stdout).unwrap();
    assert_eq!(status["store"].as_str(), Some(db.uri.as_str()));
    std::fs::write(
        dir.join("chronicle.toml"),
        format!("store = \"{}\"\n", db.uri_with("collection=other")),
    )
    .unwrap();
    let from_config = run(dir, &["--json", "status"]);
    assert_eq!(from_config.code, 0, "{from_config:?}");
    assert!(from_config.json()["store"]
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
    assert_eq!(out.code, 2);
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let stderr = &out.stderr;
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(stderr.lines().count() <= 2, "a short message: {stderr}");
    assert!(out.stdout.is_empty());
}
