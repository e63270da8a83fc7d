//! The SQLite store's upgrade to schema version 3, which drops the
//! `(type, received_at, id)` index: a store written by an older chronicle
//! (fixtures/legacy-archive, version 1) is read as it is by the read-only
//! commands, upgraded by the next writing one with every event, its order,
//! its type filters and its idempotency kept, and left as it was when that
//! upgrade is killed.

mod common;

use std::path::Path;

use common::Run;

const LEGACY_DB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/legacy-archive/store.db"
);
const STORE: &str = "sqlite:store.db";

/// Two events that the legacy store does not hold, of a type it has and of
/// one it has not.
const NEW_EVENTS: &str = r#"{"id":"00000000-0000-4000-8000-000000000001","meta":{"service":"core","type":"payment-completed","created_at":"2016-05-01T00:00:00.000Z","received_at":"2016-05-01T00:00:00.500Z"},"payload":{"amount":"1.00/EUR"}}
{"id":"00000000-0000-4000-8000-000000000002","meta":{"service":"core","type":"layout-test","created_at":"2015-01-01T00:00:00.000Z","received_at":"2015-01-01T00:00:00.000Z"},"payload":{}}
"#;

fn chronicle(dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--store", STORE];
    all.extend_from_slice(args);
    common::run(dir, &all)
}

fn ok(dir: &Path, args: &[&str]) -> Run {
    let run = chronicle(dir, args);
    assert_eq!(
        run.code, 0,
        "chronicle {args:?}: {}{}",
        run.stdout, run.stderr
    );
    run
}

/// (user_version, whether the file has the type index).
fn layout(dir: &Path) -> (i64, bool) {
    let conn = rusqlite::Connection::open(dir.join("store.db")).unwrap();
    let version = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let type_index = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'events_type_received')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (version, type_index)
}

fn legacy_store() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(LEGACY_DB, tmp.path().join("store.db")).unwrap();
    std::fs::write(tmp.path().join("new.jsonl"), NEW_EVENTS).unwrap();
    tmp
}

fn export(dir: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    ok(dir, &all).stdout.lines().map(str::to_string).collect()
}

/// `(received_at, id)` of each exported line, in output order.
fn keys(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["meta"]["received_at"].as_str().unwrap().to_string(),
                v["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn read_only_commands_read_an_old_layout_and_leave_it() {
    let tmp = legacy_store();
    let dir = tmp.path();
    assert_eq!(layout(dir), (1, true));
    let all = export(dir, &[]);
    assert_eq!(all.len(), 119);
    let completed = export(dir, &["--type", "payment-completed"]);
    let two_types = export(
        dir,
        &["--type", "payment-completed", "--type", "payment-refunded"],
    );
    assert!(!completed.is_empty() && completed.len() < two_types.len());
    assert!(two_types.len() < all.len());
    for lines in [&all, &completed, &two_types] {
        let keys = keys(lines);
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "scan order: {keys:?}");
    }
    ok(dir, &["status"]);
    assert_eq!(
        layout(dir),
        (1, true),
        "a read-only command changed the file"
    );
}

#[test]
fn the_next_writing_run_upgrades_the_layout_and_keeps_every_event() {
    let tmp = legacy_store();
    let dir = tmp.path();
    let before = export(dir, &[]);
    let completed_before = export(dir, &["--type", "payment-completed"]);
    let refunded_before = export(dir, &["--type", "payment-refunded"]);
    let status_before = ok(dir, &["--json", "status"]).json();

    let report = ok(dir, &["--json", "import", "events", "new.jsonl"]).json();
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(layout(dir), (4, false));

    let after = export(dir, &[]);
    assert_eq!(after.len(), before.len() + 2);
    let mut expected = before.clone();
    expected.extend(NEW_EVENTS.lines().map(|l| {
        // The export's own canonical line for each new event.
        after
            .iter()
            .find(|a| a.contains(&l[7..43]))
            .unwrap_or_else(|| panic!("{} not exported", &l[7..43]))
            .clone()
    }));
    expected.sort_by_key(|l| keys(std::slice::from_ref(l)));
    assert_eq!(after, expected, "events or their order changed");
    let keys_after = keys(&after);
    assert!(keys_after.windows(2).all(|w| w[0] < w[1]));

    // A single type is now found by testing each row of the (received_at,
    // id) index: the same events, in the same order.
    let completed_after = export(dir, &["--type", "payment-completed"]);
    assert_eq!(completed_after.len(), completed_before.len() + 1);
    assert!(completed_after
        .iter()
        .all(|l| l.contains(r#""type":"payment-completed""#)));
    assert_eq!(
        completed_after
            .iter()
            .filter(|l| !l.contains("00000000-0000-4000-8000-000000000001"))
            .cloned()
            .collect::<Vec<_>>(),
        completed_before
    );
    assert_eq!(
        export(dir, &["--type", "payment-refunded"]),
        refunded_before
    );
    assert_eq!(export(dir, &["--type", "layout-test"]).len(), 1);
    // status's counts per month and type, now without the type index.
    let status_after = ok(dir, &["--json", "status"]).json();
    let mut expected = status_before["live_by_type"].clone();
    let completed = expected["payment-completed"].as_u64().unwrap();
    expected["payment-completed"] = (completed + 1).into();
    expected["layout-test"] = 1.into();
    assert_eq!(status_after["live_by_type"], expected, "{status_after}");
    assert_eq!(
        status_after["live_total"].as_u64().unwrap(),
        status_before["live_total"].as_u64().unwrap() + 2
    );
    let window = export(dir, &["--since", "2016-01-01", "--until", "2016-02-01"]);
    assert!(!window.is_empty() && window.len() < after.len());

    // Idempotent by id in the new layout: the same file again is duplicates,
    // and the same id with other content a conflict that changes nothing.
    let again = ok(dir, &["--json", "import", "events", "new.jsonl"]).json();
    assert_eq!(again["duplicates"], 2, "{again}");
    let changed = NEW_EVENTS
        .lines()
        .next()
        .unwrap()
        .replace("1.00/EUR", "2.00/EUR");
    std::fs::write(dir.join("changed.jsonl"), changed + "\n").unwrap();
    let run = chronicle(dir, &["--json", "import", "events", "changed.jsonl"]);
    assert_eq!(run.json()["conflicts"], 1, "{}", run.stdout);
    assert_eq!(export(dir, &[]), after);
}

#[test]
fn a_killed_upgrade_leaves_the_old_table_whole() {
    let tmp = legacy_store();
    let dir = tmp.path();
    let before = export(dir, &[]);
    let run = common::command(dir, &["--store", STORE, "import", "events", "new.jsonl"])
        .env("CHRONICLE_FAULT", "mid-upgrade")
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("aborting at mid-upgrade"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(layout(dir), (1, true));
    assert_eq!(export(dir, &[]), before);
    assert!(!export(dir, &["--type", "payment-refunded"]).is_empty());

    ok(dir, &["-q", "import", "events", "new.jsonl"]);
    assert_eq!(layout(dir), (4, false));
    assert_eq!(export(dir, &[]).len(), before.len() + 2);
}

#[test]
fn a_type_index_created_again_is_kept_and_walked() {
    let tmp = legacy_store();
    let dir = tmp.path();
    ok(dir, &["-q", "import", "events", "new.jsonl"]);
    assert_eq!(layout(dir), (4, false));
    let refunded = export(dir, &["--type", "payment-refunded"]);
    assert!(!refunded.is_empty());
    // What docs/stores.md tells the owner of a large live window to run.
    rusqlite::Connection::open(dir.join("store.db"))
        .unwrap()
        .execute_batch("CREATE INDEX events_type_received ON events(type, received_at, id)")
        .unwrap();
    let again = ok(dir, &["--json", "import", "events", "new.jsonl"]).json();
    assert_eq!(again["duplicates"], 2, "{again}");
    assert_eq!(
        layout(dir),
        (4, true),
        "a writing open dropped the owner's index"
    );
    assert_eq!(export(dir, &["--type", "payment-refunded"]), refunded);
}

const ARCHIVE_EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/archive/events.jsonl");

/// A new store of fixtures/archive's events, those before 2016-03-15 (123
/// of 240) archived to `arch`.
fn half_archived_store() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["-q", "import", "events", ARCHIVE_EVENTS]);
    let report = ok(
        dir,
        &[
            "--json",
            "archive",
            "--before",
            "2016-03-15",
            "--to",
            "arch",
        ],
    )
    .json();
    assert_eq!(report["archived"], 123, "{report}");
    tmp
}

/// Imports fixtures/archive's events again: every one, live or archived,
/// is a duplicate.
fn import_again_all_duplicates(dir: &Path) {
    let again = ok(dir, &["--json", "import", "events", ARCHIVE_EVENTS]).json();
    assert_eq!(
        (again["imported"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(240)),
        "{again}"
    );
}

/// A version-2 file whose archived-id filter is in the old table shape (the
/// bitmap a column of the row with its version) and says "not archived" for
/// every id: the upgrade drops it, the next run builds it again from the
/// records, and every archived id stays taken.
#[test]
fn the_upgrade_rebuilds_the_archived_id_filter_from_the_records() {
    let tmp = half_archived_store();
    let dir = tmp.path();
    let conn = rusqlite::Connection::open(dir.join("store.db")).unwrap();
    conn.execute_batch(
        "DROP TABLE archived_filter_bits;
         DROP TABLE archived_filter;
         CREATE TABLE archived_filter (
             k       INTEGER PRIMARY KEY CHECK (k = 0),
             version INTEGER NOT NULL,
             records INTEGER NOT NULL,
             bits    BLOB NOT NULL
         );
         INSERT INTO archived_filter VALUES (0, 7, 123, zeroblob(131072) || x'02');
         CREATE INDEX events_type_received ON events(type, received_at, id);
         PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(conn);
    assert_eq!(layout(dir), (2, true));

    import_again_all_duplicates(dir);
    assert_eq!(layout(dir), (4, false));
    let conn = rusqlite::Connection::open(dir.join("store.db")).unwrap();
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('archived_filter')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(columns, ["k", "version", "records"]);
    // The version goes on from the old filter's 7, never back to 0.
    let version: i64 = conn
        .query_row("SELECT version FROM archived_filter", [], |r| r.get(0))
        .unwrap();
    assert!(version > 7, "{version}");
    let (len, last): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT length(bits), substr(bits, -1) FROM archived_filter_bits",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(len > 131072 - 1 && last == [2u8], "{len} {last:?}");
}

/// The `events` table of schema version 3, its ids in a unique index.
const V3_EVENTS: &str = "
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY,
    id             BLOB NOT NULL UNIQUE,
    received_at    INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    service        TEXT NOT NULL,
    type           TEXT NOT NULL,
    aggregate_id   TEXT,
    correlation_id TEXT,
    payload        TEXT NOT NULL
);";

/// A version-3 store, made from one this chronicle wrote: half of
/// fixtures/archive archived, the rest live in a table with the unique id
/// index, and an index of the owner's own.
fn version_3_store() -> tempfile::TempDir {
    let tmp = half_archived_store();
    let dir = tmp.path();
    let conn = rusqlite::Connection::open(dir.join("store.db")).unwrap();
    conn.execute_batch(&format!(
        "BEGIN;
         ALTER TABLE events RENAME TO events_v4;
         {V3_EVENTS}
         INSERT INTO events SELECT * FROM events_v4;
         DROP TABLE events_v4;
         DROP VIEW event_ids;
         DROP TABLE live_ids;
         DROP TABLE recent_ids;
         DROP TABLE live_ids_state;
         CREATE INDEX events_received ON events(received_at, id);
         CREATE INDEX owners_aggregates ON events(aggregate_id);
         PRAGMA user_version = 3;
         COMMIT;"
    ))
    .unwrap();
    std::fs::write(dir.join("new.jsonl"), NEW_EVENTS).unwrap();
    tmp
}

fn count(dir: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(dir.join("store.db"))
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Version 4 moves the ids out of the `events` table's unique index into
/// `live_ids`: a version-3 store is read as it is by the read-only
/// commands (verify looks its ids up), left as it was by a killed upgrade,
/// and upgraded by the next writing run with every event, its order, the
/// owner's index and idempotency by id kept, live and archived.
#[test]
fn a_version_3_store_keeps_its_ids_through_the_upgrade() {
    let tmp = version_3_store();
    let dir = tmp.path();

    let autoindex = "SELECT count(*) FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_events%'";
    assert_eq!(layout(dir), (3, false));
    assert_eq!(count(dir, autoindex), 1);
    let before = export(dir, &[]);
    assert_eq!(before.len(), 117);
    let verified = ok(dir, &["--json", "verify", "--archive", "arch"]).json();
    assert_eq!(verified["live_and_archived"], 0, "{verified}");
    assert_eq!(
        layout(dir),
        (3, false),
        "a read-only command changed the file"
    );

    let run = common::command(dir, &["--store", STORE, "import", "events", ARCHIVE_EVENTS])
        .env("CHRONICLE_FAULT", "mid-upgrade")
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert_eq!(layout(dir), (3, false));
    assert_eq!(export(dir, &[]), before);

    import_again_all_duplicates(dir);
    assert_eq!(layout(dir), (4, false));
    assert_eq!(count(dir, autoindex), 0);
    assert_eq!(count(dir, "SELECT count(*) FROM live_ids"), 117);
    assert_eq!(
        count(
            dir,
            "SELECT count(*) FROM sqlite_master WHERE name = 'owners_aggregates'"
        ),
        1,
        "the owner's index was not created again"
    );
    assert_eq!(export(dir, &[]), before);

    // A live id with other content conflicts and changes nothing; a new
    // one goes in once.
    let mut first: serde_json::Value = serde_json::from_str(&before[0]).unwrap();
    first["payload"]["changed"] = true.into();
    std::fs::write(dir.join("changed.jsonl"), format!("{first}\n")).unwrap();
    let run = chronicle(dir, &["--json", "import", "events", "changed.jsonl"]);
    assert_eq!(run.json()["conflicts"], 1, "{}", run.stdout);
    ok(dir, &["-q", "import", "events", "new.jsonl"]);
    ok(dir, &["-q", "import", "events", "new.jsonl"]);
    assert_eq!(export(dir, &[]).len(), before.len() + 2);
    assert_eq!(count(dir, "SELECT count(*) FROM event_ids"), 119);
}
