//! The store contract: one set of test bodies, run against the embedded
//! SQLite backend (a temporary file) and against the MongoDB backend (the
//! server named by `MONGODB_URI`, one fresh database per test). Whatever a
//! command sees through the `Store` trait must not depend on the backend.

mod common;

use chronicle::event::{parse_rfc3339_millis, Event, Millis};
use chronicle::store::{
    scan_all, AppendOutcome, ImportCounts, ImportRun, LockAttempt, MonthCount, RunStatus,
    ScanFilter, Store,
};
#[cfg(feature = "mongodb")]
use common::mongo::{test_db, TestDb};
#[cfg(feature = "mongodb")]
use mongodb::bson::doc;
use uuid::Uuid;

fn ms(text: &str) -> Millis {
    parse_rfc3339_millis(text).unwrap()
}

fn event(id: &str, event_type: &str, received_at: Option<Millis>, payload: &str) -> Event {
    Event {
        id: Uuid::parse_str(id).unwrap(),
        service: "contract".into(),
        event_type: event_type.into(),
        created_at: ms("2016-01-01T12:00:00.000Z"),
        received_at,
        aggregate_id: Some(format!("agg/{}", &id[..4])),
        correlation_id: None,
        payload: payload.into(),
    }
}

/// An id whose text starts with `prefix` (hex), so tests control the order.
fn id(prefix: &str) -> String {
    let hex = format!("{prefix:0<32}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn all(store: &mut dyn Store, filter: &ScanFilter, page: usize) -> Vec<Event> {
    let mut out = Vec::new();
    scan_all(store, filter, page, |e| {
        out.push(e);
        Ok(())
    })
    .unwrap();
    out
}

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id.to_string()).collect()
}

fn kinds(outcomes: &[AppendOutcome]) -> Vec<&'static str> {
    outcomes
        .iter()
        .map(|o| match o {
            AppendOutcome::Inserted => "inserted",
            AppendOutcome::Duplicate => "duplicate",
            AppendOutcome::Conflict { .. } => "conflict",
            AppendOutcome::ArchivedConflict { .. } => "archived-conflict",
        })
        .collect()
}

// ---- the contract -------------------------------------------------------

fn append_with_duplicates_and_conflicts(store: &mut dyn Store) {
    let t = ms("2020-05-01T00:00:00.000Z");
    // Numbers that a careless JSON <-> BSON conversion would change.
    let tricky = r#"{"big":18446744073709551615,"f":1.5,"i":1,"l":-9007199254740993,"n":null,"nested":{"a":[1,2.0,"x",{"b":true}]},"tiny":5e-324,"whole":3.0}"#;
    let a = event(&id("a1"), "x", Some(t), tricky);
    let b = event(&id("b1"), "x", None, r#"{"v":1}"#);
    let out = store.append(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(kinds(&out), ["inserted", "inserted"]);

    let mut b_changed = b.clone();
    b_changed.payload = r#"{"v":2}"#.into();
    let c = event(&id("c1"), "y", Some(t), r#"{}"#);
    let mut a_later = a.clone();
    a_later.received_at = Some(t + 5_000); // received_at is not content
    let out = store
        .append(&[a_later, b_changed.clone(), c.clone()])
        .unwrap();
    assert_eq!(kinds(&out), ["duplicate", "conflict", "inserted"]);
    let AppendOutcome::Conflict { stored } = &out[1] else {
        unreachable!()
    };
    assert!(stored.same_content(&b), "the stored version is reported");
    assert!(
        stored.received_at.is_some(),
        "the store assigned received_at"
    );

    // Repeats inside one batch resolve as if appended one after another.
    let d = event(&id("d1"), "y", Some(t), r#"{"k":"v"}"#);
    let mut d_changed = d.clone();
    d_changed.service = "other".into();
    let out = store
        .append(&[d.clone(), d.clone(), d_changed, b.clone()])
        .unwrap();
    assert_eq!(
        kinds(&out),
        ["inserted", "duplicate", "conflict", "duplicate"]
    );
    let AppendOutcome::Conflict { stored } = &out[2] else {
        unreachable!()
    };
    assert!(stored.same_content(&d));
    assert_eq!(stored.received_at, Some(t));

    // Nothing was overwritten, and payloads read back byte for byte.
    let got = store.get_many(&[a.id, b.id, d.id]).unwrap();
    assert_eq!(got.len(), 3);
    for e in &got {
        let original = [&a, &b, &d].into_iter().find(|o| o.id == e.id).unwrap();
        assert!(e.same_content(original), "{e} vs {original}");
        assert_eq!(e.payload, original.payload);
    }
    assert_eq!(all(store, &ScanFilter::default(), 10).len(), 4);
}

/// Events for the scan tests: several share a millisecond, so the id is the
/// tie-breaker, and ids are chosen so that text order is not insert order.
fn scan_fixture(store: &mut dyn Store) -> Vec<Event> {
    let t0 = ms("2021-03-01T10:00:00.000Z");
    let events = vec![
        event(&id("f0"), "x", Some(t0 + 1), "{}"),
        event(&id("0f"), "y", Some(t0 + 1), "{}"),
        event(&id("a0"), "x", Some(t0), "{}"),
        event(&id("9f"), "z", Some(t0 + 1), "{}"),
        event(&id("00"), "x", Some(t0 + 2), "{}"),
        event(&id("a1"), "y", Some(t0), "{}"),
        event(&id("ff"), "z", Some(t0 - 1), "{}"),
        event(&id("5a"), "x", Some(t0 + 1), "{}"),
    ];
    // Two batches, so the order is not the order of one insert.
    store.append(&events[4..]).unwrap();
    store.append(&events[..4]).unwrap();
    let mut sorted = events;
    sorted.sort_by_key(|e| (e.received_at, e.id.to_string()));
    sorted
}

fn ordered_scans_with_type_filters(store: &mut dyn Store) {
    let expected = scan_fixture(store);
    for page in [1, 2, 3, 100] {
        let got = all(store, &ScanFilter::default(), page);
        assert_eq!(ids(&got), ids(&expected), "page size {page}");
    }
    for types in [vec!["x"], vec!["x", "z"], vec!["nope"], vec!["z", "y", "x"]] {
        let filter = ScanFilter {
            types: types.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        };
        let want: Vec<Event> = expected
            .iter()
            .filter(|e| types.contains(&e.event_type.as_str()))
            .cloned()
            .collect();
        for page in [1, 2, 50] {
            assert_eq!(
                ids(&all(store, &filter, page)),
                ids(&want),
                "types {types:?} page {page}"
            );
        }
    }
    // A page asked for from an arbitrary position, not continuing a scan.
    let middle = &expected[3];
    let after = (middle.received_at.unwrap(), middle.id);
    let page = store
        .scan_page(&ScanFilter::default(), Some(&after), 3)
        .unwrap();
    assert_eq!(ids(&page), ids(&expected[4..7]));
    // And the same position again: the answer must not depend on history.
    let page = store
        .scan_page(&ScanFilter::default(), Some(&after), 100)
        .unwrap();
    assert_eq!(ids(&page), ids(&expected[4..]));
}

fn half_open_ranges_sharing_a_millisecond(store: &mut dyn Store) {
    let since = ms("2022-01-01T00:00:00.000Z");
    let until = ms("2022-01-01T00:00:01.000Z");
    let events = vec![
        event(&id("01"), "x", Some(since - 1), "{}"),
        event(&id("02"), "x", Some(since), "{}"),
        event(&id("f2"), "y", Some(since), "{}"),
        event(&id("82"), "x", Some(since), "{}"),
        event(&id("03"), "x", Some(since + 1), "{}"),
        event(&id("04"), "y", Some(until - 1), "{}"),
        event(&id("e4"), "x", Some(until - 1), "{}"),
        event(&id("05"), "x", Some(until), "{}"),
        event(&id("f5"), "y", Some(until), "{}"),
    ];
    store.append(&events).unwrap();
    let at = |ts: &[Millis]| -> Vec<String> {
        let mut v: Vec<&Event> = events
            .iter()
            .filter(|e| ts.contains(&e.received_at.unwrap()))
            .collect();
        v.sort_by_key(|e| (e.received_at, e.id.to_string()));
        v.iter().map(|e| e.id.to_string()).collect()
    };
    let filter = ScanFilter {
        types: vec![],
        since: Some(since),
        until: Some(until),
    };
    let want = at(&[since, since + 1, until - 1]);
    for page in [1, 2, 3, 10] {
        assert_eq!(ids(&all(store, &filter, page)), want, "page {page}");
    }
    let only_since = ScanFilter {
        since: Some(until),
        ..Default::default()
    };
    assert_eq!(ids(&all(store, &only_since, 1)), at(&[until]));
    let only_until = ScanFilter {
        until: Some(since),
        ..Default::default()
    };
    assert_eq!(ids(&all(store, &only_until, 1)), at(&[since - 1]));
    let typed = ScanFilter {
        types: vec!["y".into()],
        since: Some(since),
        until: Some(until),
    };
    assert_eq!(ids(&all(store, &typed, 1)), vec![id("f2"), id("04")]);
    let empty = ScanFilter {
        since: Some(until),
        until: Some(until),
        ..Default::default()
    };
    assert!(all(store, &empty, 5).is_empty());
}

fn deletes_by_id(store: &mut dyn Store) {
    let t = ms("2023-01-01T00:00:00.000Z");
    let events: Vec<Event> = ["10", "20", "30", "40", "50"]
        .iter()
        .enumerate()
        .map(|(i, p)| event(&id(p), "x", Some(t + i as i64), "{}"))
        .collect();
    store.append(&events).unwrap();
    let missing = Uuid::parse_str(&id("99")).unwrap();
    assert_eq!(
        store
            .delete_ids(&[events[0].id, events[2].id, missing])
            .unwrap(),
        2
    );
    assert_eq!(store.delete_ids(&[events[0].id]).unwrap(), 0);
    assert_eq!(store.delete_ids(&[]).unwrap(), 0);
    let left = all(store, &ScanFilter::default(), 2);
    assert_eq!(ids(&left), vec![id("20"), id("40"), id("50")]);
    assert_eq!(
        store.get_many(&[events[0].id, events[1].id]).unwrap().len(),
        1
    );
    // A deleted id can be written again (the archive restores this way).
    let out = store.append(&events[..1]).unwrap();
    assert_eq!(kinds(&out), ["inserted"]);
}

fn counts_per_month(store: &mut dyn Store) {
    let events = vec![
        event(&id("01"), "x", Some(ms("2016-01-01T00:00:00.000Z")), "{}"),
        event(&id("02"), "x", Some(ms("2016-01-31T23:59:59.999Z")), "{}"),
        event(&id("03"), "y", Some(ms("2016-01-15T12:00:00.000Z")), "{}"),
        event(&id("04"), "x", Some(ms("2016-02-01T00:00:00.000Z")), "{}"),
        event(&id("05"), "B", Some(ms("2016-02-29T10:00:00.000Z")), "{}"),
        event(&id("06"), "x", Some(ms("2015-12-31T23:59:59.999Z")), "{}"),
    ];
    store.append(&events).unwrap();
    let row = |month: &str, t: &str, count| MonthCount {
        event_type: t.into(),
        month: month.into(),
        count,
    };
    assert_eq!(
        store.month_counts().unwrap(),
        vec![
            row("2015-12", "x", 1),
            row("2016-01", "x", 2),
            row("2016-01", "y", 1),
            row("2016-02", "B", 1),
            row("2016-02", "x", 1),
        ]
    );
}

fn checkpoints_and_locks(store: &mut dyn Store) {
    assert_eq!(store.checkpoint("archive").unwrap(), None);
    store.set_checkpoint("archive", "2016-01").unwrap();
    store.set_checkpoint("other", "x").unwrap();
    store.set_checkpoint("archive", "2016-02").unwrap();
    assert_eq!(
        store.checkpoint("archive").unwrap().as_deref(),
        Some("2016-02")
    );
    assert_eq!(store.checkpoint("other").unwrap().as_deref(), Some("x"));

    assert_eq!(
        store.try_lock("job", "a", 60_000).unwrap(),
        LockAttempt::Acquired
    );
    match store.try_lock("job", "b", 60_000).unwrap() {
        LockAttempt::Held { holder, expires_at } => {
            assert_eq!(holder, "a");
            assert!(expires_at > chronicle::event::now_millis());
        }
        other => panic!("expected held, got {other:?}"),
    }
    // Re-taking one's own lock renews it; someone else's unlock is a no-op.
    assert_eq!(
        store.try_lock("job", "a", 60_000).unwrap(),
        LockAttempt::Acquired
    );
    store.unlock("job", "b").unwrap();
    assert!(matches!(
        store.try_lock("job", "b", 60_000).unwrap(),
        LockAttempt::Held { .. }
    ));
    // Other names are independent.
    assert_eq!(
        store.try_lock("job2", "b", 60_000).unwrap(),
        LockAttempt::Acquired
    );
    // Released: the next one gets it.
    store.unlock("job", "a").unwrap();
    assert_eq!(
        store.try_lock("job", "b", 60_000).unwrap(),
        LockAttempt::Acquired
    );
    // A lock whose TTL has passed is taken over. The TTL is long enough that
    // a loaded machine cannot let it pass between the first two calls (a
    // 30 ms TTL made this test flaky), and the sleep outlasts it.
    assert_eq!(
        store.try_lock("ttl", "a", 1_500).unwrap(),
        LockAttempt::Acquired
    );
    assert!(matches!(
        store.try_lock("ttl", "b", 1_500).unwrap(),
        LockAttempt::Held { .. }
    ));
    std::thread::sleep(std::time::Duration::from_millis(1_600));
    assert_eq!(
        store.try_lock("ttl", "b", 60_000).unwrap(),
        LockAttempt::Acquired
    );
    assert!(matches!(
        store.try_lock("ttl", "a", 60_000).unwrap(),
        LockAttempt::Held { holder, .. } if holder == "b"
    ));
}

fn import_runs_are_recorded(store: &mut dyn Store) {
    let mut run = ImportRun {
        run_id: "r2".into(),
        source: "csv".into(),
        file: "b.csv".into(),
        size: 10,
        sha256: String::new(),
        mapping: "[event]\n".into(),
        mapping_path: "m.toml".into(),
        started_at: "2024-01-02T00:00:00.000Z".into(),
        finished_at: String::new(),
        counts: ImportCounts::default(),
        complete: false,
        status: Some(RunStatus::Running),
        created_min: Some("2016-01-01T00:00:00.000Z".into()),
        created_max: Some("2016-03-01T00:00:00.000Z".into()),
    };
    store.record_run(&run).unwrap();
    let mut first = run.clone();
    first.run_id = "r1".into();
    first.started_at = "2024-01-01T00:00:00.000Z".into();
    store.record_run(&first).unwrap();
    run.counts.read = 5;
    run.counts.imported = 4;
    run.counts.duplicates = 1;
    run.complete = true;
    run.status = Some(RunStatus::Complete);
    run.sha256 = "ab".repeat(32);
    store.record_run(&run).unwrap();
    assert_eq!(store.runs().unwrap(), vec![first, run]);
}

// ---- running it against each backend -------------------------------------

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let uri = format!("sqlite:{}", dir.path().join("store.db").display());
                    let mut store = chronicle::store::open(&uri).unwrap();
                    super::$name(store.as_mut());
                }
            )*
        }
        #[cfg(feature = "mongodb")]
        mod mongo {
            $(
                #[test]
                fn $name() {
                    let Some(db) = super::test_db(stringify!($name)) else { return };
                    let mut store = chronicle::store::open(&db.uri).unwrap();
                    super::$name(store.as_mut());
                }
            )*
        }
    };
}

contract!(
    append_with_duplicates_and_conflicts,
    ordered_scans_with_type_filters,
    half_open_ranges_sharing_a_millisecond,
    deletes_by_id,
    counts_per_month,
    checkpoints_and_locks,
    import_runs_are_recorded,
);

// ---- MongoDB only: layout and failure handling ----------------------------

#[cfg(feature = "mongodb")]
fn mongo_db(test: &str) -> Option<TestDb> {
    test_db(test)
}

#[test]
#[cfg(feature = "mongodb")]
fn mongo_layout_and_indexes() {
    let Some(db) = mongo_db("layout") else { return };
    // An index made by hand, under another name and with a double 1 as a
    // shell writes it, counts as present.
    let database = db.client().database(&db.name);
    let coll = database.collection::<mongodb::bson::Document>("ledger");
    coll.create_index(
        mongodb::IndexModel::builder()
            .keys(doc! {"meta.aggregate_id": 1.0})
            .options(
                mongodb::options::IndexOptions::builder()
                    .name("by_hand".to_string())
                    .build(),
            )
            .build(),
    )
    .run()
    .unwrap();
    let mut store = chronicle::store::open(&db.uri_with("collection=ledger")).unwrap();
    let e = event(
        &id("ab"),
        "x",
        Some(ms("2020-01-02T03:04:05.678Z")),
        r#"{"amount":"3.00/EUR","n":7,"u":18446744073709551615}"#,
    );
    store.append(std::slice::from_ref(&e)).unwrap();
    assert_eq!(
        store.describe(),
        format!("mongodb://{}?collection=ledger", {
            let base = db.uri.split_once("://").unwrap().1;
            base.split('?').next().unwrap().to_string()
        })
    );
    let stored = coll.find_one(doc! {}).run().unwrap().unwrap();
    assert_eq!(stored.get_str("_id").unwrap(), id("ab"));
    let meta = stored.get_document("meta").unwrap();
    assert_eq!(
        meta.get_datetime("received_at").unwrap().timestamp_millis(),
        ms("2020-01-02T03:04:05.678Z")
    );
    assert_eq!(
        meta.get_datetime("created_at").unwrap().timestamp_millis(),
        e.created_at
    );
    assert_eq!(meta.get_str("aggregate_id").unwrap(), "agg/ab00");
    let payload = stored.get_document("payload").unwrap();
    assert_eq!(payload.get_str("amount").unwrap(), "3.00/EUR");
    assert_eq!(payload.get_i32("n").unwrap(), 7);
    assert!(matches!(
        payload.get("u"),
        Some(mongodb::bson::Bson::Decimal128(_))
    ));
    let mut keys: Vec<String> = coll
        .list_indexes()
        .run()
        .unwrap()
        .map(|m| {
            m.unwrap()
                .keys
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "_id",
            "meta.aggregate_id",
            "meta.received_at,_id",
            "meta.type,meta.received_at,_id"
        ]
    );
    store.set_checkpoint("c", "v").unwrap();
    let names: Vec<String> = database.list_collection_names().run().unwrap();
    for expected in ["ledger", "ledger_checkpoints"] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} in {names:?}"
        );
    }
    // Opening again does not create duplicate indexes.
    drop(store);
    chronicle::store::open(&db.uri_with("collection=ledger")).unwrap();
    let names: Vec<String> = coll.list_index_names().run().unwrap();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names.contains(&"by_hand".to_string()), "{names:?}");
}

/// Arms the server's `failCommand` fail point for connections of `app`.
/// Returns false (after printing why) when the server does not allow fail
/// points and the test may skip.
#[cfg(feature = "mongodb")]
fn fail_point(db: &TestDb, mode: mongodb::bson::Bson, data: mongodb::bson::Document) -> bool {
    let result = db
        .client()
        .database("admin")
        .run_command(doc! {"configureFailPoint": "failCommand", "mode": mode, "data": data})
        .run();
    match result {
        Ok(_) => true,
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("the test server refuses configureFailPoint (start it with test commands enabled): {e}");
            }
            println!("skipped: the server does not allow fail points: {e}");
            false
        }
    }
}

#[cfg(feature = "mongodb")]
fn fail_point_off(db: &TestDb) {
    db.client()
        .database("admin")
        .run_command(doc! {"configureFailPoint": "failCommand", "mode": "off"})
        .run()
        .unwrap();
}

#[test]
#[cfg(feature = "mongodb")]
fn mongo_retried_batches_neither_lose_nor_double_count() {
    let Some(db) = mongo_db("retry") else { return };
    let app = format!("chronicle-retry-{}", std::process::id());
    let mut store = chronicle::store::open(&db.uri_with(&format!("appName={app}"))).unwrap();
    let t = ms("2020-01-01T00:00:00.000Z");
    let stored_before: Vec<Event> = (0..3)
        .map(|i| event(&id(&format!("1{i}")), "x", Some(t), "{}"))
        .collect();
    store.append(&stored_before).unwrap();
    // The write is applied, then the reply reports a write-concern failure
    // (64, wtimeout: not replicated in time): chronicle's retries meet its
    // own inserts again and must still count them as inserted, while the
    // events that were stored before stay duplicates. (Code 91, a shutdown,
    // works the same but makes the driver wait a heartbeat per attempt.)
    if !fail_point(
        &db,
        doc! {"times": 3}.into(),
        doc! {"failCommands": ["insert"], "appName": &app,
        "writeConcernError": {"code": 64, "errmsg": "waiting for replication timed out"}},
    ) {
        return;
    }
    let mut batch: Vec<Event> = (0..20)
        .map(|i| event(&id(&format!("2{i:02}")), "x", Some(t + i), "{}"))
        .collect();
    batch.extend(stored_before.iter().cloned());
    let out = store.append(&batch);
    fail_point_off(&db);
    let out = out.unwrap();
    assert_eq!(kinds(&out[..20]), vec!["inserted"; 20]);
    assert_eq!(kinds(&out[20..]), vec!["duplicate"; 3]);
    assert_eq!(all(store.as_mut(), &ScanFilter::default(), 7).len(), 23);

    // Connections dropped before the write: retried until it goes through.
    assert!(fail_point(
        &db,
        doc! {"times": 3}.into(),
        doc! {"failCommands": ["insert"], "appName": &app, "closeConnection": true},
    ));
    let more: Vec<Event> = (0..5)
        .map(|i| event(&id(&format!("3{i}")), "y", Some(t), "{}"))
        .collect();
    let out = store.append(&more);
    fail_point_off(&db);
    assert_eq!(kinds(&out.unwrap()), vec!["inserted"; 5]);
    assert_eq!(all(store.as_mut(), &ScanFilter::default(), 100).len(), 28);
}

#[test]
#[cfg(feature = "mongodb")]
fn mongo_refused_write_is_an_error_naming_the_event() {
    let Some(db) = mongo_db("refused") else {
        return;
    };
    let app = format!("chronicle-refused-{}", std::process::id());
    let mut store = chronicle::store::open(&db.uri_with(&format!("appName={app}"))).unwrap();
    // 121 DocumentValidationFailure: not transient, must not be retried
    // forever nor counted as anything.
    if !fail_point(
        &db,
        doc! {"times": 1}.into(),
        doc! {"failCommands": ["insert"], "appName": &app, "errorCode": 121},
    ) {
        return;
    }
    let e = event(&id("77"), "x", None, "{}");
    let result = store.append(&[e]);
    fail_point_off(&db);
    let message = format!("{:#}", result.unwrap_err());
    assert!(message.contains("MongoDB at"), "{message}");
    assert!(!message.contains("Topology"), "{message}");
}
