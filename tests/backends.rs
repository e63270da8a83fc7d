//! Optional backends (cargo features `mongodb`, `postgres` and `s3`, on by
//! default): a build without one refuses its URIs with exit 69 and a
//! message naming what the build lacks, never "unsupported URI", and never
//! a secret. In a default build the same commands reach the backend and
//! fail the ordinary way (nothing listens on port 1: exit 2), which shows
//! that the feature is in. scripts/test.sh runs this file in both builds.

mod common;

use common::{fixture_str, run};

/// EX_UNAVAILABLE: the build lacks the backend (src/exit.rs).
const UNAVAILABLE: i32 = 69;
/// The generic fatal exit: here, the unreachable server.
const FATAL: i32 = 2;

#[test]
fn a_mongodb_store_needs_the_mongodb_feature() {
    let dir = tempfile::tempdir().unwrap();
    let store = "mongodb://user:s3cret@127.0.0.1:1/chronicle?serverSelectionTimeoutMS=300";
    let events = fixture_str("projections/payments.jsonl");
    for args in [
        vec!["--store", store, "status"],
        vec!["--store", store, "import", "events", events.as_str()],
    ] {
        let out = run(dir.path(), &args);
        assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
        if cfg!(feature = "mongodb") {
            assert_eq!(out.code, FATAL, "{args:?}: {}", out.stderr);
        } else {
            assert_eq!(out.code, UNAVAILABLE, "{args:?}: {}", out.stderr);
            assert!(
                out.stderr
                    .contains("this chronicle was built without MongoDB support"),
                "{}",
                out.stderr
            );
            assert!(
                out.stderr.contains("user:***@127.0.0.1:1"),
                "{}",
                out.stderr
            );
        }
    }
}

#[test]
fn a_postgresql_target_needs_the_postgres_feature() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(
        dir.join("chronicle.toml"),
        r#"
[projections.revenue]
kind = "table"
types = ["payment-completed"]
target = "postgres://postgres:s3cret@127.0.0.1:1/postgres?connect_timeout=1"
group = [{ name = "country", value = "payload.country" }]
columns = [{ name = "events", value = "count()" }]
"#,
    )
    .unwrap();
    let store = format!("sqlite:{}", dir.join("store.db").display());
    let events = fixture_str("projections/payments.jsonl");
    let import = run(dir, &["--store", &store, "import", "events", &events]);
    assert_eq!(import.code, 0, "{}", import.stderr);
    let out = run(dir, &["--store", &store, "rebuild", "revenue"]);
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
    if cfg!(feature = "postgres") {
        assert_eq!(out.code, FATAL, "{}", out.stderr);
    } else {
        assert_eq!(out.code, UNAVAILABLE, "{}", out.stderr);
        assert!(
            out.stderr
                .contains("this chronicle was built without PostgreSQL support"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn an_s3_archive_needs_the_s3_feature() {
    let dir = tempfile::tempdir().unwrap();
    // Credentials in the URL are refused by a build with S3 (they belong in
    // the environment); a build without it refuses the scheme first. Either
    // way the secret is never printed and nothing runs.
    let out = run(
        dir.path(),
        &["--archive", "s3://key:s3cret@bucket/x", "status"],
    );
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
    if cfg!(feature = "s3") {
        assert_ne!(out.code, 0, "{}", out.stderr);
        assert_ne!(out.code, UNAVAILABLE, "{}", out.stderr);
    } else {
        assert_eq!(out.code, UNAVAILABLE, "{}", out.stderr);
        assert!(
            out.stderr
                .contains("this chronicle was built without S3 support"),
            "{}",
            out.stderr
        );
    }
}
