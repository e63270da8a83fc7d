//! One id, one event, across the archive boundary: an archived id stays
//! taken in the live store (archived-id records), so re-imports and replays
//! count it as a duplicate or a conflict, rebuilds never read it twice, and
//! `verify` holds the records to the archive. Store-level contract tests
//! run on SQLite and MongoDB through the `Store` trait; end-to-end tests run
//! the built binary on both stores (`common::store_uris`), and the migration
//! tests run on a store and archive written by chronicle before records
//! existed (fixtures/legacy-archive).

mod common;

use std::path::{Path, PathBuf};

use chronicle::event::{parse_rfc3339_millis, Event};
use chronicle::store::{self, live_and_archived, AppendOutcome, ArchivedId, ScanFilter, Store};
#[cfg(feature = "mongodb")]
use common::mongo::test_db;
use serde_json::Value;
use uuid::Uuid;

const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/archive/events.jsonl");
const LEGACY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/legacy-archive");
/// Archived in January by the archive runs below, with amount 395.21/EUR.
const CHANGED_ID: &str = "26db47ef-d6d5-53b1-81e2-470b35512dd4";
/// Archived in January; re-imported unchanged by the legacy fixture.
const SAME_ID: &str = "fc08f7ff-3011-5cb4-ad09-1cb36caecfe9";

// ---- store contract --------------------------------------------------------

fn event(n: u128, payload: &str) -> Event {
    Event {
        id: Uuid::from_u128(n),
        service: "contract".into(),
        event_type: "x".into(),
        created_at: parse_rfc3339_millis("2016-01-01T12:00:00Z").unwrap(),
        received_at: Some(parse_rfc3339_millis("2016-01-02T00:00:00Z").unwrap() + n as i64),
        aggregate_id: None,
        correlation_id: None,
        payload: payload.into(),
    }
}

fn kinds(outcomes: &[AppendOutcome]) -> Vec<String> {
    outcomes
        .iter()
        .map(|o| match o {
            AppendOutcome::Inserted => "inserted".to_string(),
            AppendOutcome::Duplicate => "duplicate".to_string(),
            AppendOutcome::Conflict { .. } => "conflict".to_string(),
            AppendOutcome::ArchivedConflict { partition } => {
                format!("archived-conflict {partition}")
            }
        })
        .collect()
}

fn live_ids(store: &mut dyn Store) -> Vec<u128> {
    let mut out = Vec::new();
    store::scan_all(store, &ScanFilter::default(), 100, |e| {
        out.push(e.id.as_u128());
        Ok(())
    })
    .unwrap();
    out
}

fn archived_ids_settle_appends(store: &mut dyn Store) {
    let events: Vec<Event> = (1..=4)
        .map(|n| event(n, &format!("{{\"n\":{n}}}")))
        .collect();
    store.append(&events).unwrap();
    store.flush().unwrap();
    let records = vec![
        ArchivedId::of(&events[0], "2016-01"),
        ArchivedId::of(&events[1], "2016-01-02"),
    ];
    // Recorded and deleted together.
    assert_eq!(store.put_archived(&records, true).unwrap(), 2);
    assert_eq!(live_ids(store), vec![3, 4]);
    let mut got = store
        .get_archived(&[events[1].id, events[0].id, Uuid::from_u128(9)])
        .unwrap();
    got.sort_by_key(|r| r.id);
    assert_eq!(got, records);
    assert_eq!(store.archived_in("2016-01").unwrap(), records[..1].to_vec());
    let counts: Vec<(String, u64)> = store
        .archived_counts()
        .unwrap()
        .into_iter()
        .map(|c| (c.partition, c.ids))
        .collect();
    assert_eq!(
        counts,
        vec![("2016-01".to_string(), 1), ("2016-01-02".to_string(), 1)]
    );

    // Same content (another received_at) is a duplicate; other content is a
    // conflict naming the partition; repeats in one batch follow the record.
    let mut again = events[0].clone();
    again.received_at = None;
    let changed = event(1, r#"{"n":100}"#);
    let out = store
        .append(&[
            again.clone(),
            changed.clone(),
            events[1].clone(),
            event(5, "{}"),
        ])
        .unwrap();
    store.flush().unwrap();
    assert_eq!(
        kinds(&out),
        [
            "duplicate",
            "archived-conflict 2016-01",
            "duplicate",
            "inserted"
        ]
    );
    assert_eq!(
        live_ids(store),
        vec![3, 4, 5],
        "an archived id was stored live"
    );

    // Records without deleting (--keep-live), and replacing a record.
    assert_eq!(
        store
            .put_archived(&[ArchivedId::of(&events[2], "2016-01")], false)
            .unwrap(),
        0
    );
    assert_eq!(live_ids(store), vec![3, 4, 5]);
    let overlap = live_and_archived(store, &ScanFilter::default()).unwrap();
    assert_eq!(overlap.len(), 1);
    assert_eq!(overlap[0].0, events[2]);
    assert_eq!(
        store
            .put_archived(&[ArchivedId::of(&changed, "2016-01")], false)
            .unwrap(),
        0
    );
    assert_eq!(
        kinds(&store.append(&[events[0].clone()]).unwrap()),
        ["archived-conflict 2016-01"]
    );

    // Removing records (verify --repair) frees the id again.
    assert_eq!(
        store
            .remove_archived(&[events[0].id, events[2].id])
            .unwrap(),
        2
    );
    assert_eq!(
        kinds(&store.append(&[events[0].clone()]).unwrap()),
        ["inserted"]
    );
    store.flush().unwrap();
    assert_eq!(live_ids(store), vec![1, 3, 4, 5]);
}

/// SQLite keeps a filter over archived ids and caches it per connection: a
/// connection that read it before another one archived more ids must still
/// see those ids as archived in its next transaction.
#[test]
fn sqlite_filter_follows_archive_runs_of_other_connections() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("sqlite:{}", dir.path().join("store.db").display());
    let mut importer = store::open(&uri).unwrap();
    let mut archiver = store::open(&uri).unwrap();
    let first: Vec<Event> = (1..=3).map(|n| event(n, "{}")).collect();
    archiver
        .put_archived(&[ArchivedId::of(&first[0], "2016-01")], false)
        .unwrap();
    assert_eq!(
        kinds(&importer.append(&first[..2]).unwrap()),
        ["duplicate", "inserted"]
    );
    importer.flush().unwrap();
    // Many more records: the filter is rebuilt larger by the other connection.
    let more: Vec<ArchivedId> = (100..200_000u128)
        .map(|n| ArchivedId::of(&event(n, "{}"), "2016-02"))
        .chain([ArchivedId::of(&first[2], "2016-02")])
        .collect();
    archiver.put_archived(&more, false).unwrap();
    let again = vec![event(150_000, "{}"), first[2].clone(), event(300_000, "{}")];
    assert_eq!(
        kinds(&importer.append(&again).unwrap()),
        ["duplicate", "duplicate", "inserted"]
    );
}

/// A filter written in the first format (a bare bitmap with one bit per
/// id) is never read as the current one: the next append rebuilds it from
/// the records, and archived ids stay duplicates throughout.
#[test]
fn sqlite_filter_in_the_first_format_is_rebuilt_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let uri = format!("sqlite:{}", path.display());
    let archived: Vec<Event> = (1..=1000).map(|n| event(n, "{}")).collect();
    let records: Vec<ArchivedId> = archived
        .iter()
        .map(|e| ArchivedId::of(e, "2016-01"))
        .collect();
    store::open(&uri)
        .unwrap()
        .put_archived(&records, false)
        .unwrap();
    // An all-clear first-format bitmap: read as a filter, it would let
    // every archived id back in as new.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "UPDATE archived_filter_bits SET bits = zeroblob(131072);
         UPDATE archived_filter SET version = version + 1;",
    )
    .unwrap();
    let mut importer = store::open(&uri).unwrap();
    let outcomes = importer
        .append(&[
            archived[0].clone(),
            archived[999].clone(),
            event(5000, "{}"),
        ])
        .unwrap();
    assert_eq!(kinds(&outcomes), ["duplicate", "duplicate", "inserted"]);
    importer.flush().unwrap();
    let (len, last): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT length(bits), substr(bits, -1) FROM archived_filter_bits",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((len, last), (131073, vec![2u8]));
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let uri = format!("sqlite:{}", dir.path().join("store.db").display());
                    super::$name(chronicle::store::open(&uri).unwrap().as_mut());
                }
            )*
        }
        #[cfg(feature = "mongodb")]
        mod mongo {
            $(
                #[test]
                fn $name() {
                    let Some(db) = super::test_db(stringify!($name)) else { return };
                    super::$name(chronicle::store::open(&db.uri).unwrap().as_mut());
                }
            )*
        }
    };
}

contract!(archived_ids_settle_appends);

// ---- end to end, on every store ----------------------------------------------

/// One scratch folder per store (the archive folder is `./archive` in it).
fn workplaces(name: &str) -> (tempfile::TempDir, Vec<(String, PathBuf)>) {
    let tmp = tempfile::tempdir().unwrap();
    let uris = common::store_uris(tmp.path(), name);
    let places = uris
        .into_iter()
        .enumerate()
        .map(|(i, uri)| {
            let dir = tmp.path().join(format!("w{i}"));
            std::fs::create_dir(&dir).unwrap();
            (uri, dir)
        })
        .collect();
    (tmp, places)
}

fn chronicle(dir: &Path, store: &str, args: &[&str]) -> common::Run {
    let mut all = vec!["--store", store];
    all.extend_from_slice(args);
    common::run(dir, &all)
}

fn ok(dir: &Path, store: &str, args: &[&str]) -> common::Run {
    let run = chronicle(dir, store, args);
    assert_eq!(
        run.code, 0,
        "chronicle {args:?}: {}{}",
        run.stdout, run.stderr
    );
    run
}

/// The archive fixture imported and Jan-Feb 2016 (123 of 240 events) archived.
fn archived_fixture(dir: &Path, store: &str) {
    ok(dir, store, &["-q", "import", "events", EVENTS]);
    let report = ok(dir, store, &["--json", "archive", "--before", "2016-03-15"]).json();
    assert_eq!(report["archived"], 123);
    assert_eq!(report["deleted"], 123);
}

/// Export of the store: one JSON line per live event.
fn live_lines(dir: &Path, store: &str) -> Vec<String> {
    let out = ok(dir, store, &["export"]);
    out.stdout.lines().map(str::to_string).collect()
}

fn changed_event() -> String {
    let line = std::fs::read_to_string(Path::new(LEGACY).join("changed.jsonl")).unwrap();
    line.lines().next().unwrap().to_string()
}

#[test]
fn reimporting_after_archiving_gives_only_duplicates() {
    let (_tmp, places) = workplaces("reimport");
    for (store, dir) in &places {
        archived_fixture(dir, store);
        let before = live_lines(dir, store);
        let run = ok(dir, store, &["--json", "import", "events", EVENTS]);
        let counts = run.json();
        assert_eq!(counts["imported"], 0, "{store}: {counts}");
        assert_eq!(counts["duplicates"], 240, "{store}: {counts}");
        assert_eq!(counts["conflicts"], 0, "{store}: {counts}");
        assert_eq!(
            live_lines(dir, store),
            before,
            "{store}: the live store changed"
        );
        ok(dir, store, &["verify"]);
    }
}

#[test]
fn reimporting_the_walkthrough_csv_after_archiving_it_gives_only_duplicates() {
    let (_tmp, places) = workplaces("walkthrough");
    for (store, dir) in &places {
        // The walkthrough's mapping, with received_at = created so that the
        // events land in old partitions that can be archived.
        let mapping = std::fs::read_to_string(common::fixture("csv/legacy-payments.toml")).unwrap();
        let created = mapping
            .lines()
            .find(|l| l.starts_with("created_at = "))
            .unwrap();
        let mapping = mapping.replace(
            created,
            &format!(
                "{created}\n{}",
                created.replacen("created_at", "received_at", 1)
            ),
        );
        std::fs::write(dir.join("payments.toml"), mapping).unwrap();
        std::fs::copy(
            common::fixture("csv/legacy-payments.csv"),
            dir.join("payments.csv"),
        )
        .unwrap();
        let import = [
            "--json",
            "import",
            "csv",
            "payments.csv",
            "--mapping",
            "payments.toml",
        ];
        let first = chronicle(dir, store, &import);
        assert_eq!(first.code, 1, "{}", first.stderr);
        assert_eq!(first.json()["imported"], 7);
        let archived = ok(dir, store, &["--json", "archive", "--before", "2026-01-01"]).json();
        assert_eq!(archived["archived"], 7, "{archived}");
        let again = chronicle(dir, store, &import);
        // Exit 1 for the five rejected rows, as on the first run.
        assert_eq!(again.code, 1, "{}", again.stderr);
        let counts = again.json();
        assert_eq!(counts["imported"], 0, "{store}: {counts}");
        assert_eq!(counts["duplicates"], 8, "{store}: {counts}");
        assert_eq!(counts["conflicts"], 0, "{store}: {counts}");
        assert!(
            live_lines(dir, store).is_empty(),
            "{store}: archived events came back live"
        );
    }
}

#[test]
fn importing_a_changed_archived_event_is_a_conflict_with_both_versions() {
    let (_tmp, places) = workplaces("changed");
    for (store, dir) in &places {
        archived_fixture(dir, store);
        std::fs::copy(
            Path::new(LEGACY).join("changed.jsonl"),
            dir.join("changed.jsonl"),
        )
        .unwrap();
        let run = chronicle(dir, store, &["--json", "import", "events", "changed.jsonl"]);
        assert_eq!(run.code, 1, "{store}: {}", run.stderr);
        let counts = run.json();
        assert_eq!(
            (
                counts["imported"].as_u64(),
                counts["duplicates"].as_u64(),
                counts["conflicts"].as_u64()
            ),
            (Some(0), Some(1), Some(1)),
            "{store}: {counts}"
        );
        let conflicts = std::fs::read_to_string(dir.join("changed.jsonl.conflicts.jsonl")).unwrap();
        let lines: Vec<Value> = conflicts
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1);
        let c = &lines[0];
        assert_eq!(c["id"], CHANGED_ID);
        assert_eq!(c["archived_in"], "2016-01");
        assert_eq!(c["stored"]["payload"]["amount"], "395.21/EUR");
        assert_eq!(c["incoming"]["payload"]["amount"], "999.99/EUR");
        assert!(
            !live_lines(dir, store)
                .iter()
                .any(|l| l.contains(CHANGED_ID)),
            "{store}: the changed version was stored live"
        );
    }
}

#[test]
fn replaying_an_archive_into_its_own_store_inserts_nothing() {
    let (_tmp, places) = workplaces("replay");
    for (store, dir) in &places {
        archived_fixture(dir, store);
        let before = live_lines(dir, store);
        let report = ok(dir, store, &["--json", "replay"]).json();
        assert_eq!(report["read"], 123);
        assert_eq!(report["inserted"], 0, "{store}: {report}");
        assert_eq!(report["duplicates"], 123, "{store}: {report}");
        assert_eq!(live_lines(dir, store), before);
        // Into another store, replay still restores everything.
        let scratch = format!("sqlite:{}", dir.join("scratch.db").display());
        assert_eq!(
            ok(dir, &scratch, &["--json", "replay"]).json()["inserted"],
            123
        );
    }
}

#[test]
fn verify_holds_the_records_to_the_archive_and_repair_fixes_them() {
    let (_tmp, places) = workplaces("verify");
    for (store, dir) in &places {
        archived_fixture(dir, store);
        let status = ok(dir, store, &["--json", "status"]).json();
        assert_eq!(
            status["archived_ids"],
            serde_json::json!([{"partition": "2016-01", "ids": 54}, {"partition": "2016-02", "ids": 69}])
        );
        // Damage the records through the store: one missing, one with
        // another hash, one the archive does not back.
        {
            let mut s = store::open(store).unwrap();
            let missing = Uuid::parse_str(SAME_ID).unwrap();
            assert_eq!(s.remove_archived(&[missing]).unwrap(), 1);
            let mut wrong = s
                .get_archived(&[Uuid::parse_str(CHANGED_ID).unwrap()])
                .unwrap();
            wrong[0].hash = [7; 16];
            let extra = ArchivedId {
                id: Uuid::from_u128(42),
                hash: [1; 16],
                partition: "2016-02".into(),
            };
            wrong.push(extra);
            s.put_archived(&wrong, false).unwrap();
        }
        let run = chronicle(dir, store, &["verify"]);
        assert_eq!(run.code, 1, "{}", run.stdout);
        for id in [SAME_ID, CHANGED_ID, "00000000-0000-0000-0000-00000000002a"] {
            assert!(
                run.stderr.contains(id),
                "verify does not name {id}:\n{}",
                run.stderr
            );
        }
        let report = chronicle(dir, store, &["--json", "verify"]).json();
        assert_eq!(report["archived_ids"]["missing"], 1);
        assert_eq!(report["archived_ids"]["differing"], 1);
        assert_eq!(report["archived_ids"]["extra"], 1);
        let repaired = ok(dir, store, &["--json", "verify", "--repair"]).json();
        assert_eq!(repaired["archived_ids"]["repaired"], 3);
        ok(dir, store, &["verify"]);
        let counts = ok(dir, store, &["--json", "import", "events", EVENTS]).json();
        assert_eq!(counts["duplicates"], 240);
    }
}

#[test]
fn rebuild_refuses_an_id_live_and_archived_with_different_content() {
    let (_tmp, places) = workplaces("rebuild");
    for (store, dir) in &places {
        archived_fixture(dir, store);
        // The state a store written before archived-id records could reach:
        // a changed version of an archived event stored live beside it.
        {
            let mut s = store::open(store).unwrap();
            let id = Uuid::parse_str(CHANGED_ID).unwrap();
            let record = s.get_archived(&[id]).unwrap();
            s.remove_archived(&[id]).unwrap();
            let changed = Event::from_json_str(&changed_event()).unwrap();
            assert_eq!(kinds(&s.append(&[changed]).unwrap()), ["inserted"]);
            s.flush().unwrap();
            s.put_archived(&record, false).unwrap();
        }
        write_dump_projection(dir);
        let run = chronicle(dir, store, &["rebuild", "dump"]);
        assert_eq!(run.code, 1, "{store}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(CHANGED_ID), "{}", run.stderr);
        assert!(!dir.join("out.jsonl").exists(), "the projection ran anyway");
        let run = chronicle(dir, store, &["project", "dump"]);
        assert_eq!(run.code, 1, "{store}: {}{}", run.stdout, run.stderr);

        ok(dir, store, &["rebuild", "dump", "--prefer", "archive"]);
        assert_eq!(dumped_amounts(dir), (240, "395.21/EUR".to_string()));
        ok(dir, store, &["rebuild", "dump", "--prefer", "live"]);
        assert_eq!(dumped_amounts(dir), (240, "999.99/EUR".to_string()));
    }
}

#[test]
fn archive_settles_live_copies_of_ids_archived_in_another_partition() {
    let (_tmp, places) = workplaces("elsewhere");
    for (store, dir) in &places {
        archived_fixture(dir, store);
        // What an old chronicle (or a MongoDB import racing an archive run)
        // could leave: copies of January events received in March, one
        // identical, one changed, beside their archived versions.
        {
            let mut s = store::open(store).unwrap();
            let march = parse_rfc3339_millis("2016-03-20T00:00:00Z").unwrap();
            let changed = Event::from_json_str(&changed_event()).unwrap();
            let same_id = Uuid::parse_str(SAME_ID).unwrap();
            let original = archived_versions_of(dir, &[same_id]);
            let records = s.get_archived(&[same_id, changed.id]).unwrap();
            assert_eq!(records.len(), 2);
            s.remove_archived(&[same_id, changed.id]).unwrap();
            let mut copies = vec![original[0].clone(), changed];
            for c in &mut copies {
                c.received_at = Some(march);
            }
            assert_eq!(kinds(&s.append(&copies).unwrap()), ["inserted", "inserted"]);
            s.flush().unwrap();
            s.put_archived(&records, false).unwrap();
        }
        let run = chronicle(dir, store, &["--json", "archive", "--before", "2016-04-15"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let report = run.json();
        let march = &report["partitions"][0];
        assert_eq!(march["partition"], "2016-03");
        assert_eq!(march["already_archived"], 1, "{report}");
        assert_eq!(march["conflicts"], 1, "{report}");
        assert_eq!(report["conflict_samples"][0]["id"], CHANGED_ID);
        // Neither id was archived a second time; the changed copy stays live.
        let verify = chronicle(dir, store, &["--json", "verify"]).json();
        assert_eq!(verify["archived_ids"]["missing"], 0, "{verify}");
        assert_eq!(verify["archived_ids"]["differing"], 0, "{verify}");
        assert_eq!(verify["live_and_archived"], 1, "{verify}");
        let live = live_lines(dir, store);
        assert!(live.iter().any(|l| l.contains(CHANGED_ID)));
        assert!(!live.iter().any(|l| l.contains(SAME_ID)));
    }
}

/// Archived events with these ids, read back through a replay into a
/// scratch store.
fn archived_versions_of(dir: &Path, ids: &[Uuid]) -> Vec<Event> {
    let scratch = format!("sqlite:{}", dir.join("versions.db").display());
    ok(dir, &scratch, &["-q", "replay"]);
    let mut s = store::open(&scratch).unwrap();
    let found = s.get_many(ids).unwrap();
    drop(s);
    std::fs::remove_file(dir.join("versions.db")).unwrap();
    found
}

fn write_dump_projection(dir: &Path) {
    std::fs::write(
        dir.join("chronicle.toml"),
        r#"
[projections.dump]
kind = "exec"
types = ["payment-completed", "payment-refunded", "user-registered"]
command = ["sh", "-c", "cat > out.jsonl"]
"#,
    )
    .unwrap();
}

/// Events the exec projection received, and the amount of CHANGED_ID; each
/// id must appear once.
fn dumped_amounts(dir: &Path) -> (usize, String) {
    let text = std::fs::read_to_string(dir.join("out.jsonl")).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "an id reached the projection twice");
    let amount = events
        .iter()
        .find(|e| e["id"] == CHANGED_ID)
        .map(|e| e["payload"]["amount"].as_str().unwrap().to_string())
        .unwrap_or_default();
    (n, amount)
}

// ---- migration of a store and archive written before records existed ----------

/// A copy of fixtures/legacy-archive (SQLite store + archive folder).
fn legacy_copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(Path::new(LEGACY), tmp.path());
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

const LEGACY_STORE: &str = "sqlite:store.db";

#[test]
fn a_legacy_store_is_upgraded_by_the_next_archive_run() {
    let tmp = legacy_copy();
    let dir = tmp.path();
    let run = chronicle(dir, LEGACY_STORE, &["verify"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("have no archived-id record"),
        "{}",
        run.stderr
    );
    // The run upgrades the records, then finds the changed January copy
    // live beside its archived version: a conflict, left live (exit 1).
    let run = chronicle(
        dir,
        LEGACY_STORE,
        &["--json", "archive", "--before", "2016-03-15"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["records_upgraded"], 123);
    assert_eq!(report["conflicts"], 1);
    assert_eq!(report["conflict_samples"][0]["id"], CHANGED_ID);
    let status = ok(dir, LEGACY_STORE, &["--json", "status"]).json();
    assert_eq!(status["archived_ids"][0]["ids"], 54);
    assert_eq!(status["archived_ids"][1]["ids"], 69);
    // From now on the archived ids are taken.
    let counts = ok(dir, LEGACY_STORE, &["--json", "import", "events", EVENTS]).json();
    assert_eq!(
        (counts["imported"].as_u64(), counts["duplicates"].as_u64()),
        (Some(0), Some(240))
    );
}

#[test]
fn a_legacy_store_is_upgraded_by_verify_repair_and_rebuild_names_the_disagreement() {
    let tmp = legacy_copy();
    let dir = tmp.path();
    write_dump_projection(dir);
    // Before the upgrade, rebuild finds the disagreement from the archive's ids.
    let run = chronicle(dir, LEGACY_STORE, &["rebuild", "dump"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(CHANGED_ID), "{}", run.stderr);
    assert!(
        !run.stderr.contains(SAME_ID),
        "an identical copy is no disagreement: {}",
        run.stderr
    );

    let repair = chronicle(dir, LEGACY_STORE, &["--json", "verify", "--repair"]);
    assert_eq!(repair.json()["archived_ids"]["repaired"], 123);
    // The two ids stay both live and archived until the next archive run:
    // verify still says so, and nothing else.
    assert_eq!(repair.code, 1);
    let after = chronicle(dir, LEGACY_STORE, &["--json", "verify"]).json();
    assert_eq!(after["archived_ids"]["missing"], 0);
    assert_eq!(after["live_and_archived"], 2);

    let run = chronicle(dir, LEGACY_STORE, &["rebuild", "dump"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains(CHANGED_ID), "{}", run.stderr);
    ok(
        dir,
        LEGACY_STORE,
        &["rebuild", "dump", "--prefer", "archive"],
    );
    assert_eq!(dumped_amounts(dir), (240, "395.21/EUR".to_string()));

    std::fs::copy(dir.join("changed.jsonl"), dir.join("again.jsonl")).unwrap();
    let run = chronicle(
        dir,
        LEGACY_STORE,
        &["--json", "import", "events", "again.jsonl"],
    );
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["conflicts"], 1);
}
