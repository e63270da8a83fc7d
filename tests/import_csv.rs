//! `chronicle import csv`, `import events`, `export` and `status`, run as the
//! built binary against the fixtures in fixtures/csv/ and checked against the
//! expected outputs committed next to them, and field by field against the
//! SQLite file itself.

mod common;

use std::path::Path;

use common::{events_without_received_at, fixture, fixture_str, run, store_uris};
use serde_json::json;
use uuid::Uuid;

const MAPPING: &str = "csv/legacy-payments.toml";
const CSV: &str = "csv/legacy-payments.csv";

fn import_fixture(dir: &Path, store: &str) -> common::Run {
    let rejects = dir.join("rejects.csv");
    run(
        dir,
        &[
            "import",
            "csv",
            &fixture_str(CSV),
            "--mapping",
            &fixture_str(MAPPING),
            "--rejects",
            rejects.to_str().unwrap(),
            "--store",
            store,
            "--json",
        ],
    )
}

fn summary(
    read: u64,
    imported: u64,
    duplicates: u64,
    conflicts: u64,
    rejected: u64,
    skipped: u64,
) -> serde_json::Value {
    json!({"read": read, "imported": imported, "duplicates": duplicates, "conflicts": conflicts,
           "rejected": rejected, "skipped": skipped})
}

fn counts(run: &common::Run) -> serde_json::Value {
    let mut v = run.json();
    let obj = v.as_object_mut().unwrap();
    // The envelope shared by every command (docs/json.md, tests/cli_output.rs).
    for key in [
        "command",
        "run_id",
        "store",
        "started_at",
        "rejects_files",
        "conflicts_files",
    ] {
        obj.remove(key);
    }
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "conflicts",
            "duplicates",
            "elapsed_s",
            "events_per_s",
            "imported",
            "read",
            "rejected",
            "skipped"
        ],
        "the JSON summary has exactly the documented keys"
    );
    obj.remove("elapsed_s");
    obj.remove("events_per_s");
    v
}

fn export(dir: &Path, store: &str, extra: &[&str]) -> String {
    let mut args = vec!["export", "--store", store];
    args.extend_from_slice(extra);
    let out = run(dir, &args);
    assert_eq!(out.code, 0, "export failed: {}", out.stderr);
    out.stdout
}

#[test]
fn fixture_import_matches_expected_events_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    for store in store_uris(dir.path(), "fixture") {
        let out = import_fixture(dir.path(), &store);
        assert_eq!(out.code, 1, "rejects make exit 1: {}", out.stderr);
        assert_eq!(counts(&out), summary(14, 7, 1, 0, 5, 1));

        let expected =
            std::fs::read_to_string(fixture("csv/legacy-payments.expected.jsonl")).unwrap();
        assert_eq!(
            events_without_received_at(&export(dir.path(), &store, &[])),
            events_without_received_at(&expected)
        );

        let rejects = std::fs::read_to_string(dir.path().join("rejects.csv")).unwrap();
        let expected_rejects =
            std::fs::read_to_string(fixture("csv/legacy-payments.expected-rejects.csv")).unwrap();
        assert_eq!(rejects, expected_rejects);
    }
}

#[test]
fn stored_fields_match_the_id_formula_and_utc_conversion() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fields.db");
    let out = import_fixture(dir.path(), &format!("sqlite:{}", db.display()));
    assert_eq!(out.code, 1, "{}", out.stderr);

    // Read the SQLite file directly, not through chronicle.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let row = |key: &str| -> (
        Vec<u8>,
        i64,
        String,
        String,
        Option<String>,
        Option<String>,
        serde_json::Value,
    ) {
        let id = Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            format!("chronicle:legacy-payments:{key}").as_bytes(),
        );
        conn.query_row(
            "SELECT id, created_at, service, type, aggregate_id, correlation_id, payload FROM events WHERE id = ?1",
            [&id.as_bytes()[..]],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    serde_json::from_str(&r.get::<_, String>(6)?).unwrap(),
                ))
            },
        )
        .unwrap_or_else(|e| panic!("event for {key} (id {id}) not found: {e}"))
    };
    let ms = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    };

    // 13:00 in Berlin in winter (CET, UTC+1) is 12:00Z.
    let (_, created, service, ty, agg, corr, payload) = row("P-1001");
    assert_eq!(created, ms("2016-01-01T12:00:00Z"));
    assert_eq!(
        (service.as_str(), ty.as_str()),
        ("legacy-payments", "payment-completed")
    );
    assert_eq!(agg.as_deref(), Some("payment/P-1001"));
    assert_eq!(corr.as_deref(), Some("user/42"));
    assert_eq!(
        payload,
        json!({"amount": "3.00/EUR", "country": "DE", "user_id": 42}),
        "an empty note is omitted"
    );

    // Summer time (CEST, UTC+2).
    let (_, created, _, _, _, _, payload) = row("P-1004");
    assert_eq!(created, ms("2016-07-01T10:00:00Z"));
    assert_eq!(
        payload["note"], "line one\nline two",
        "quoted line break kept"
    );

    // 02:30 on 2016-10-30 happens twice in Berlin; the earliest instant is CEST.
    let (_, created, _, _, _, _, payload) = row("P-1005");
    assert_eq!(created, ms("2016-10-30T00:30:00Z"));
    assert_eq!(payload["note"], "Zürich café — ünïcödé");

    let (_, created, _, ty, _, _, payload) = row("P-1003");
    assert_eq!(created, ms("2016-03-26T22:59:59Z"));
    assert_eq!(ty, "payment-refunded");
    assert_eq!(payload["note"], "He said \"refund\" twice");

    let (_, created, _, _, _, _, payload) = row("P-1012");
    assert_eq!(created, ms("2016-12-31T22:30:00Z"));
    assert_eq!(payload["note"], "multi\r\nline, with CRLF inside");

    let (id, _, _, _, _, _, payload) = row("P-1002");
    assert_eq!(payload["note"], "Paid, finally");
    assert_eq!(id.len(), 16);

    let total: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total, 7);
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

#[test]
fn windows_1252_and_gzip_copies_are_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    for store in store_uris(dir.path(), "copies") {
        assert_eq!(import_fixture(dir.path(), &store).code, 1);
        let before = export(dir.path(), &store, &[]);
        for (file, mapping) in [
            (
                "csv/legacy-payments.cp1252.csv",
                "csv/legacy-payments.cp1252.toml",
            ),
            ("csv/legacy-payments.csv.gz", MAPPING),
        ] {
            let rejects = dir.path().join("copy-rejects.csv");
            let out = run(
                dir.path(),
                &[
                    "import",
                    "csv",
                    &fixture_str(file),
                    "-m",
                    &fixture_str(mapping),
                    "--store",
                    &store,
                    "--rejects",
                    rejects.to_str().unwrap(),
                    "--json",
                ],
            );
            assert_eq!(
                counts(&out),
                summary(14, 0, 8, 0, 5, 1),
                "{file}: {}",
                out.stderr
            );
        }
        assert_eq!(export(dir.path(), &store, &[]), before, "nothing changed");
    }
}

#[test]
fn rerunning_a_clean_import_is_all_duplicates_and_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    for store in store_uris(dir.path(), "rerun") {
        let args = [
            "import",
            "csv",
            &fixture_str("csv/clean-payments.csv"),
            "-m",
            &fixture_str("csv/clean-payments.toml"),
            "--store",
            &store,
            "--json",
        ];
        let first = run(dir.path(), &args);
        assert_eq!(first.code, 0, "{}", first.stderr);
        assert_eq!(counts(&first), summary(3, 3, 0, 0, 0, 0));
        let second = run(dir.path(), &args);
        assert_eq!(second.code, 0, "{}", second.stderr);
        assert_eq!(counts(&second), summary(3, 0, 3, 0, 0, 0));
        assert!(!dir.path().join("clean-payments.csv.rejects.csv").exists());

        let events = events_without_received_at(&export(dir.path(), &store, &[]));
        let c1 = events
            .iter()
            .find(|e| e["meta"]["aggregate_id"] == "payment/C-1")
            .unwrap();
        assert_eq!(
            c1["payload"],
            json!({"amount": "10.0000", "currency": "EUR", "user_id": 7})
        );
        assert_eq!(c1["meta"]["created_at"], "2017-06-01T08:00:00.000Z");
        assert!(c1["meta"].get("correlation_id").is_none());
    }
}

#[test]
fn conflicting_content_is_reported_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let changed = dir.path().join("changed.csv");
    let original = std::fs::read_to_string(fixture("csv/clean-payments.csv")).unwrap();
    std::fs::write(
        &changed,
        original.replace("C-2;8;refunded;2.50", "C-2;8;refunded;2.75"),
    )
    .unwrap();
    for store in store_uris(dir.path(), "conflict") {
        let mapping = fixture_str("csv/clean-payments.toml");
        let first = run(
            dir.path(),
            &[
                "import",
                "csv",
                &fixture_str("csv/clean-payments.csv"),
                "-m",
                &mapping,
                "--store",
                &store,
            ],
        );
        assert_eq!(first.code, 0, "{}", first.stderr);
        let before = export(dir.path(), &store, &[]);

        let out = run(
            dir.path(),
            &[
                "import",
                "csv",
                changed.to_str().unwrap(),
                "-m",
                &mapping,
                "--store",
                &store,
                "--json",
            ],
        );
        assert_eq!(out.code, 1, "a conflict makes exit 1");
        assert_eq!(counts(&out), summary(3, 0, 2, 1, 0, 0));
        assert_eq!(
            export(dir.path(), &store, &[]),
            before,
            "the stored version is kept"
        );

        let report =
            std::fs::read_to_string(dir.path().join("changed.csv.conflicts.jsonl")).unwrap();
        let line: serde_json::Value = serde_json::from_str(report.lines().next().unwrap()).unwrap();
        assert_eq!(line["stored"]["payload"]["amount"], "2.5000");
        assert_eq!(line["incoming"]["payload"]["amount"], "2.7500");
        assert_eq!(line["line"], 3);
        std::fs::remove_file(dir.path().join("changed.csv.conflicts.jsonl")).unwrap();
    }
}

#[test]
fn mapping_errors_stop_before_any_row_and_touch_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(fixture(MAPPING)).unwrap();
    let cases = [
        (
            base.replace(
                "user_id = { column = \"user_id\"",
                "user_id = { column = \"userid\"",
            ),
            "payload.user_id",
            "unknown column `userid`",
        ),
        (
            base.replace("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %Q"),
            "event.created_at",
            "bad format string",
        ),
        (
            base.replace("Europe/Berlin", "Europe/Atlantis"),
            "event.created_at",
            "unknown time zone",
        ),
        (
            base.replace("type = \"payment-{status}\"", "type = \"payment-{state}\""),
            "event.type",
            "unknown column `state`",
        ),
        (
            base.replace("delimiter", "delimeter"),
            "delimeter",
            "unknown field",
        ),
    ];
    for (i, (text, key, reason)) in cases.iter().enumerate() {
        let mapping = dir.path().join(format!("bad-{i}.toml"));
        std::fs::write(&mapping, text).unwrap();
        let db = dir.path().join(format!("bad-{i}.db"));
        let out = run(
            dir.path(),
            &[
                "import",
                "csv",
                &fixture_str(CSV),
                "-m",
                mapping.to_str().unwrap(),
                "--store",
                &format!("sqlite:{}", db.display()),
            ],
        );
        assert_eq!(out.code, 2, "case {i}: {}", out.stderr);
        assert!(
            out.stderr.contains(key) && out.stderr.contains(reason),
            "case {i}: {}",
            out.stderr
        );
        if reason.starts_with("unknown column") {
            assert!(
                out.stderr.contains(
                    "payment_id, user_id, status, amount, currency, country, created, note"
                ),
                "lists the header: {}",
                out.stderr
            );
        }
        assert!(!db.exists(), "case {i}: the store was not created");
    }
}

#[test]
fn max_rejects_stops_early_and_keeps_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("max.db").display());
    let rejects = dir.path().join("r.csv");
    let out = run(
        dir.path(),
        &[
            "import",
            "csv",
            &fixture_str(CSV),
            "-m",
            &fixture_str(MAPPING),
            "--store",
            &db,
            "--max-rejects",
            "2",
            "--rejects",
            rejects.to_str().unwrap(),
            "--json",
            "--batch-size",
            "1",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let s = out.json();
    // Two rejects are tolerated; the third (line 10) exceeds N and stops.
    assert_eq!(s["rejected"], 3);
    // The rows before the third reject (P-1001..P-1005) were imported.
    assert_eq!(s["imported"], 5);
    assert_eq!(export(dir.path(), &db, &[]).lines().count(), 5);
    assert_eq!(
        std::fs::read_to_string(&rejects).unwrap().lines().count(),
        4,
        "header + 3 rejects"
    );
}

#[test]
fn dry_run_reports_per_type_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("payments.csv");
    std::fs::copy(fixture(CSV), &input).unwrap();
    let out = run(
        dir.path(),
        &[
            "import",
            "csv",
            input.to_str().unwrap(),
            "-m",
            &fixture_str(MAPPING),
            "--dry-run",
            "--json",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let s = out.json();
    // A dry run does not consult the store, so the repeated P-1002 row is
    // counted as mapped; only a real import can tell it is a duplicate.
    assert_eq!(
        s["per_type"],
        json!({"payment-completed": 6, "payment-pending": 1, "payment-refunded": 1})
    );
    assert_eq!(s["rejected"], 5);
    assert!(
        !dir.path().join("chronicle.db").exists(),
        "no store created"
    );
    assert!(
        !dir.path().join("payments.csv.rejects.csv").exists(),
        "no rejects file written"
    );
}

#[test]
fn default_store_rejects_path_and_global_flags_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("payments.csv");
    std::fs::copy(fixture(CSV), &input).unwrap();
    let out = run(
        dir.path(),
        &[
            "import",
            "csv",
            "payments.csv",
            "--mapping",
            &fixture_str(MAPPING),
            "--quiet",
        ],
    );
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "", "--quiet prints nothing");
    assert!(
        dir.path().join("chronicle.db").exists(),
        "sqlite:chronicle.db is the default store"
    );
    let rejects = std::fs::read_to_string(dir.path().join("payments.csv.rejects.csv")).unwrap();
    assert_eq!(
        rejects,
        std::fs::read_to_string(fixture("csv/legacy-payments.expected-rejects.csv")).unwrap()
    );

    // The config file's store is used when no flag or environment says otherwise...
    std::fs::write(
        dir.path().join("chronicle.toml"),
        "store = \"sqlite:from-config.db\"\n",
    )
    .unwrap();
    // (status never creates a store, so it names the one it was given.)
    let status = run(dir.path(), &["status", "--json"]);
    assert_eq!(status.code, 2, "{}", status.stderr);
    assert!(
        status
            .stderr
            .contains("sqlite:from-config.db does not exist"),
        "{}",
        status.stderr
    );
    // ...the environment overrides it, and the flag overrides both.
    let out = common::command(dir.path(), &["status", "--json"])
        .env("CHRONICLE_STORE", "sqlite:chronicle.db")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["store"], "sqlite:chronicle.db");
    assert_eq!(v["live_total"], 7);
    let out = common::command(
        dir.path(),
        &["--store", "sqlite:flag.db", "status", "--json"],
    )
    .env("CHRONICLE_STORE", "sqlite:chronicle.db")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sqlite:flag.db does not exist"), "{stderr}");
}

#[test]
fn status_reports_types_months_and_import_runs() {
    let dir = tempfile::tempdir().unwrap();
    for store in store_uris(dir.path(), "status") {
        import_fixture(dir.path(), &store);
        let out = run(dir.path(), &["status", "--store", &store, "--json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let v = out.json();
        assert_eq!(v["live_total"], 7);
        assert_eq!(
            v["live_by_type"],
            json!({"payment-completed": 5, "payment-pending": 1, "payment-refunded": 1})
        );
        let month = chrono::Utc::now().format("%Y-%m").to_string();
        let months: Vec<&str> = v["live_by_month"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["month"].as_str().unwrap())
            .collect();
        assert!(
            months.iter().all(|m| *m == month),
            "received this month: {months:?}"
        );
        let runs = v["import_runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1);
        let r = &runs[0];
        assert_eq!(r["file"], fixture_str(CSV));
        assert_eq!(r["size"], std::fs::metadata(fixture(CSV)).unwrap().len());
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(std::fs::read(fixture(CSV)).unwrap()));
        assert_eq!(r["sha256"], sha);
        assert_eq!(
            (
                r["read"].as_u64(),
                r["imported"].as_u64(),
                r["rejected"].as_u64()
            ),
            (Some(14), Some(7), Some(5))
        );
        assert_eq!(r["complete"], true);
        // The mapping is identified by hash and path, not repeated.
        assert!(r.get("mapping").is_none());
        assert!(r["mapping_path"]
            .as_str()
            .unwrap()
            .ends_with("legacy-payments.toml"));
    }
}

#[test]
fn export_filters_by_type_and_half_open_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    let ev = |id: u32, ty: &str, received: &str| {
        format!(
            "{{\"id\":\"{}\",\"meta\":{{\"service\":\"core\",\"type\":\"{ty}\",\"created_at\":\"2016-01-01T00:00:00Z\",\"received_at\":\"{received}\"}},\"payload\":{{\"n\":{id}}}}}\n",
            Uuid::from_u128(id as u128)
        )
    };
    let text = [
        ev(1, "a", "2016-01-01T00:00:00.000Z"),
        ev(2, "b", "2016-01-01T00:00:00.999Z"),
        ev(3, "a", "2016-01-01T00:00:01.000Z"),
        ev(4, "a", "2016-01-01T00:00:01.000Z"),
        ev(5, "b", "2016-01-01T00:00:02.000Z"),
    ]
    .concat();
    std::fs::write(&input, text).unwrap();
    for store in store_uris(dir.path(), "filters") {
        let out = run(
            dir.path(),
            &[
                "import",
                "events",
                input.to_str().unwrap(),
                "--store",
                &store,
                "--json",
            ],
        );
        assert_eq!(out.json()["imported"], 5, "{}", out.stderr);
        let ids = |extra: &[&str]| -> Vec<u128> {
            export(dir.path(), &store, extra)
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    Uuid::parse_str(v["id"].as_str().unwrap())
                        .unwrap()
                        .as_u128()
                })
                .collect()
        };
        assert_eq!(ids(&[]), vec![1, 2, 3, 4, 5]);
        assert_eq!(ids(&["--type", "a"]), vec![1, 3, 4]);
        assert_eq!(ids(&["--type", "a", "--type", "b"]), vec![1, 2, 3, 4, 5]);
        // [since, until): the boundary millisecond belongs to the later range.
        assert_eq!(ids(&["--until", "2016-01-01T00:00:01Z"]), vec![1, 2]);
        assert_eq!(ids(&["--since", "2016-01-01T00:00:01Z"]), vec![3, 4, 5]);
        assert_eq!(
            ids(&[
                "--since",
                "2016-01-01T00:00:01Z",
                "--until",
                "2016-01-01T00:00:02Z",
                "--type",
                "a"
            ]),
            vec![3, 4]
        );
    }
}

#[test]
fn import_events_round_trips_an_export_and_rejects_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let source = format!("sqlite:{}", dir.path().join("source.db").display());
    import_fixture(dir.path(), &source);
    let exported = export(dir.path(), &source, &[]);
    let file = dir.path().join("moved.jsonl");
    let bad = "{\"id\":\"not-a-uuid\",\"meta\":{},\"payload\":{}}\n{broken json\n";
    std::fs::write(&file, format!("{exported}{bad}")).unwrap();
    for target in store_uris(dir.path(), "target") {
        let out = run(
            dir.path(),
            &[
                "import",
                "events",
                file.to_str().unwrap(),
                "--store",
                &target,
                "--json",
            ],
        );
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(counts(&out), summary(9, 7, 0, 0, 2, 0));
        assert_eq!(
            export(dir.path(), &target, &[]),
            exported,
            "same events, same received_at, same order"
        );
        let rejects =
            std::fs::read_to_string(dir.path().join("moved.jsonl.rejects.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = rejects
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["line"], 8);
        assert!(lines[0]["reason"].as_str().unwrap().starts_with("id:"));
        assert_eq!(lines[1]["line"], 9);
        assert_eq!(lines[1]["record"], "{broken json");

        // Piped through stdin, a second time: everything is a duplicate.
        let out = common::command(
            dir.path(),
            &["import", "events", "-", "--store", &target, "--json"],
        )
        .stdin(std::fs::File::open(dir.path().join("moved.jsonl")).unwrap())
        .output()
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (v["imported"].as_u64(), v["duplicates"].as_u64()),
            (Some(0), Some(7))
        );
        std::fs::remove_file(dir.path().join("moved.jsonl.rejects.jsonl")).ok();
    }
}

#[test]
fn unreadable_input_is_fatal_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["import", "csv", "missing.csv", "-m", &fixture_str(MAPPING)],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("missing.csv"), "{}", out.stderr);
    let out = run(
        dir.path(),
        &["import", "csv", &fixture_str(CSV), "-m", "nope.toml"],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("nope.toml"), "{}", out.stderr);
}

/// The row-hash key of docs/schema.md, computed here independently.
fn row_hash_id(service: &str, columns: &[&str], values: &[&str]) -> Uuid {
    use sha2::Digest;
    let mut pairs: Vec<(&str, &str)> = columns
        .iter()
        .copied()
        .zip(values.iter().copied())
        .collect();
    pairs.sort();
    let mut hasher = sha2::Sha256::new();
    for (name, value) in pairs {
        hasher.update(format!("{name}\u{1f}s{value}\u{1e}").as_bytes());
    }
    let key = format!("row-sha256:{}", hex::encode(hasher.finalize()));
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("chronicle:{service}:{key}").as_bytes(),
    )
}

#[test]
fn headerless_tab_separated_typed_values_and_row_hash_ids() {
    let dir = tempfile::tempdir().unwrap();
    for store in store_uris(dir.path(), "typed") {
        let rejects = dir.path().join("typed-rejects.csv");
        let out = run(
            dir.path(),
            &[
                "import",
                "csv",
                &fixture_str("csv/typed-noheader.tsv"),
                "-m",
                &fixture_str("csv/typed-noheader.toml"),
                "--store",
                &store,
                "--rejects",
                rejects.to_str().unwrap(),
                "--json",
            ],
        );
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(
            counts(&out),
            summary(4, 2, 1, 0, 1, 0),
            "the repeated row collapses into one event"
        );

        let events = events_without_received_at(&export(dir.path(), &store, &[]));
        let expected =
            std::fs::read_to_string(fixture("csv/typed-noheader.expected.jsonl")).unwrap();
        assert_eq!(events, events_without_received_at(&expected));

        let columns = ["n", "flag", "doc", "ts", "price", "label"];
        let first = row_hash_id(
            "typed",
            &columns,
            &[
                "1",
                "true",
                "{\"b\":1,\"a\":[1,2]}",
                "1451649600",
                "12.5",
                "  x  ",
            ],
        );
        let second = row_hash_id(
            "typed",
            &columns,
            &["2", "no", "", "1451649600.5", "-0.001", ""],
        );
        let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert!(
            ids.contains(&first.to_string().as_str()) && ids.contains(&second.to_string().as_str()),
            "{ids:?}"
        );

        let e1 = events
            .iter()
            .find(|e| e["id"] == first.to_string())
            .unwrap();
        assert_eq!(
            e1["payload"],
            json!({"doc": {"a": [1, 2], "b": 1}, "flag": true, "label": "  x  ", "n": 1, "price": "12.500",
                   "seen": "2016-01-01T12:00:00.000Z"})
        );
        let e2 = events
            .iter()
            .find(|e| e["id"] == second.to_string())
            .unwrap();
        assert_eq!(e2["payload"]["doc"], serde_json::Value::Null);
        assert_eq!(e2["payload"]["label"], "");
        assert_eq!(e2["meta"]["created_at"], "2016-01-01T12:00:00.500Z");

        let rejects = std::fs::read_to_string(&rejects).unwrap();
        assert!(
            rejects.contains("payload.flag: `maybe` is not a boolean"),
            "{rejects}"
        );
        // Rejects keep the input's dialect (tab-separated) and its bytes.
        assert!(rejects.starts_with(
            "n\tflag\tdoc\tts\tprice\tlabel\tchronicle_line\tchronicle_reason\n3\tmaybe\t\t1451649600\t1\ty\t4\t"
        ));
    }
}
