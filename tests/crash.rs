//! A real SIGKILL in the middle of a large import leaves a consistent SQLite
//! file, and re-running the same import completes it.

mod common;

use std::io::Write;
use std::time::Duration;

#[test]
fn kill_9_during_import_then_rerun_completes() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("big.csv");
    let rows = 300_000u64;
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
        writeln!(
            out,
            "payment_id,user_id,status,amount,currency,country,created,note"
        )
        .unwrap();
        for i in 0..rows {
            writeln!(
                out,
                "P-{i},{},completed,{}.{:02},EUR,DE,2016-0{}-1{} 10:00:00,\"note, {i}\"",
                i % 1000,
                i % 500,
                i % 100,
                1 + i % 9,
                i % 10
            )
            .unwrap();
        }
    }
    let mapping = common::fixture_str("csv/legacy-payments.toml");
    let store = format!("sqlite:{}", dir.path().join("crash.db").display());
    let args = [
        "import",
        "csv",
        csv.to_str().unwrap(),
        "-m",
        &mapping,
        "--store",
        &store,
        "--quiet",
    ];

    // A pseudo-random moment within the first part of the import.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let delay = Duration::from_millis(150 + (nanos % 600) as u64);
    let mut child = common::command(dir.path(), &args).spawn().unwrap();
    std::thread::sleep(delay);
    let killed = child.kill().is_ok(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    eprintln!("killed after {delay:?}: {killed}, status {status:?}");

    let conn = rusqlite::Connection::open(dir.path().join("crash.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let partial: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert!(partial as u64 <= rows);
    drop(conn);

    let rerun = common::run(
        dir.path(),
        &[
            "import",
            "csv",
            csv.to_str().unwrap(),
            "-m",
            &mapping,
            "--store",
            &store,
            "--json",
        ],
    );
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    let summary = rerun.json();
    assert_eq!(
        summary["imported"].as_u64().unwrap() + summary["duplicates"].as_u64().unwrap(),
        rows
    );
    assert_eq!(
        summary["duplicates"].as_u64().unwrap(),
        partial as u64,
        "what survived the kill is exactly what is found again"
    );

    let conn = rusqlite::Connection::open(dir.path().join("crash.db")).unwrap();
    let total: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total as u64, rows);
    let distinct: i64 = conn
        .query_row("SELECT count(DISTINCT id) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(distinct, total);
}
