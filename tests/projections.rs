//! Projections end to end: the real binary, a real SQLite store and target,
//! the real PostgreSQL, the real archive, against fixtures/projections/
//! (expected outputs computed independently by fixtures/projections/expected.py).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_chronicle");
/// Far after every fixture event: "now" for runs that must see them all.
const LATER: &str = "2030-01-01T00:00:00Z";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/projections")
}

fn expected(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap()
}

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        for f in ["chronicle.toml", "count_by_type.py"] {
            std::fs::copy(fixtures().join(f), dir.path().join(f)).unwrap();
        }
        Sandbox { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let path = self.path("chronicle.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, edit(text)).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("CHRONICLE_STORE")
            .env_remove("CHRONICLE_CONFIG");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs and insists on exit 0.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "chronicle {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Imports canonical events (keeping their received_at).
    fn import_lines(&self, lines: &[&str]) {
        let name = format!("batch-{}.jsonl", uuid::Uuid::new_v4());
        let path = self.path(&name);
        let mut f = std::fs::File::create(&path).unwrap();
        for line in lines {
            writeln!(f, "{line}").unwrap();
        }
        drop(f);
        self.ok(&["--quiet", "import", "events", path.to_str().unwrap()]);
    }

    fn import_fixture(&self, name: &str) {
        let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        self.import_lines(&lines);
    }

    /// The table as CSV (header, rows ordered by the first columns).
    fn dump(&self, table: &str) -> String {
        let conn = rusqlite::Connection::open(self.path("reports.db")).unwrap();
        dump_sqlite(&conn, table)
    }
}

fn dump_sqlite(conn: &rusqlite::Connection, table: &str) -> String {
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1, 2"))
        .unwrap();
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let mut out = names.join(",") + "\n";
    let mut rows = stmt.query([]).unwrap();
    while let Some(row) = rows.next().unwrap() {
        let cells: Vec<String> = (0..names.len())
            .map(|i| match row.get_ref(i).unwrap() {
                ValueRef::Null => String::new(),
                ValueRef::Integer(n) => n.to_string(),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn fixture_lines() -> Vec<String> {
    expected("payments.jsonl")
        .lines()
        .map(str::to_string)
        .collect()
}

fn received_at(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap();
    v["meta"]["received_at"].as_str().unwrap().to_string()
}

/// A tiny deterministic generator, so that failures can be replayed by seed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Adds five minutes (the revenue projection's lag) to an RFC 3339 time.
fn plus_lag(t: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(t).unwrap() + chrono::Duration::minutes(5);
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[test]
fn rebuild_writes_the_expected_tables_and_skips_other_types() {
    let s = Sandbox::new();
    s.import_fixture("payments.jsonl");
    for name in ["revenue", "by_country", "payment_state"] {
        let report = s.json(&["rebuild", name, "--now", LATER]);
        assert_eq!(report["per_type"]["payment-completed"], 41, "{report}");
        assert!(report["per_type"].get("payment-failed").is_none());
        assert_eq!(report["until"], "2029-12-31T23:55:00.000Z");
    }
    assert_eq!(s.dump("monthly_revenue"), expected("revenue.expected.csv"));
    assert_eq!(s.dump("by_country"), expected("by_country.expected.csv"));
    assert_eq!(
        s.dump("payment_state"),
        expected("payment_state.expected.csv")
    );
    // A second rebuild swaps over an existing table.
    s.ok(&["rebuild", "revenue", "--now", LATER]);
    assert_eq!(s.dump("monthly_revenue"), expected("revenue.expected.csv"));
    let status = s.json(&["status"]);
    let revenue = status["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "revenue")
        .unwrap();
    assert_eq!(revenue["checkpoint"], "2029-12-31T23:55:00.000Z");
    assert_eq!(revenue["last_run"], "rebuild");
}

#[test]
fn dry_run_counts_per_source_and_type_and_writes_nothing() {
    let s = Sandbox::new();
    s.import_fixture("payments.jsonl");
    let report = s.json(&["rebuild", "revenue", "--dry-run", "--now", LATER]);
    assert_eq!(report["events"], 51);
    assert_eq!(report["from_live"], 51);
    assert_eq!(report["per_type"]["payment-refunded"], 10);
    assert!(!s.path("reports.db").exists());
}

#[test]
fn incremental_runs_equal_a_rebuild_however_interleaved() {
    let lines = fixture_lines();
    for seed in 1..=3u64 {
        let mut rng = Lcg(seed);
        let s = Sandbox::new();
        let mut imported = 0;
        while imported < lines.len() {
            let take = 1 + rng.below(20) as usize;
            let chunk = &lines[imported..(imported + take).min(lines.len())];
            // Within a chunk, the store receives the events in any order.
            let mut shuffled: Vec<&str> = chunk.iter().map(String::as_str).collect();
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, rng.below(i as u64 + 1) as usize);
            }
            s.import_lines(&shuffled);
            imported += chunk.len();
            // Everything received up to the chunk's last event is now stored,
            // so that time (plus the lag) is a valid "now".
            let last = received_at(chunk.last().unwrap());
            let next = lines.get(imported).map(|l| received_at(l));
            let now = match &next {
                // Just before the next event arrives: the edge case.
                Some(n) if rng.below(2) == 0 => plus_lag(n),
                _ => plus_lag(&last),
            };
            for name in ["revenue", "by_country", "payment_state"] {
                let mode = if rng.below(8) == 0 {
                    "rebuild"
                } else {
                    "project"
                };
                s.ok(&[mode, name, "--now", &now]);
                if rng.below(4) == 0 {
                    // A repeated run at the same time applies nothing twice.
                    s.ok(&["project", name, "--now", &now]);
                }
            }
        }
        for name in ["revenue", "by_country", "payment_state"] {
            s.ok(&["project", name, "--now", LATER]);
        }
        assert_eq!(
            s.dump("monthly_revenue"),
            expected("revenue.expected.csv"),
            "seed {seed}"
        );
        assert_eq!(
            s.dump("by_country"),
            expected("by_country.expected.csv"),
            "seed {seed}"
        );
        assert_eq!(
            s.dump("payment_state"),
            expected("payment_state.expected.csv"),
            "seed {seed}"
        );
    }
}

#[test]
fn an_event_received_exactly_at_the_checkpoint_is_applied_once() {
    let s = Sandbox::new();
    let lines = fixture_lines();
    s.import_lines(&lines[..20].iter().map(String::as_str).collect::<Vec<_>>());
    let first = s.json(&["project", "revenue", "--now", "2016-02-15T00:05:00Z"]);
    let checkpoint = first["until"].as_str().unwrap().to_string();
    assert_eq!(checkpoint, "2016-02-15T00:00:00.000Z");
    // A slow delivery: stamped exactly at the checkpoint, stored after the run.
    let late = format!(
        r#"{{"id":"6f1c1e8e-0000-4000-8000-000000000001","meta":{{"service":"fixtures","type":"payment-completed","created_at":"2016-02-14T23:00:00Z","received_at":"{checkpoint}","aggregate_id":"payment/late"}},"payload":{{"amount":"5.00/EUR"}}}}"#
    );
    s.import_lines(&[&late]);
    let stable = "2016-03-01T00:00:00.000Z";
    // The classic `> last AND < stable` window does not contain it ...
    let store = rusqlite::Connection::open(s.path("store.db")).unwrap();
    let ms = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis()
    };
    let count = |sql: &str| -> i64 {
        store
            .query_row(sql, [ms(&checkpoint), ms(stable)], |r| r.get(0))
            .unwrap()
    };
    let id_filter = "id = x'6f1c1e8e000040008000000000000001'";
    assert_eq!(
        count(&format!("SELECT count(*) FROM events WHERE {id_filter} AND received_at > ?1 AND received_at < ?2")),
        0
    );
    // ... chronicle's half-open [checkpoint, stable) does, exactly once.
    assert_eq!(
        count(&format!("SELECT count(*) FROM events WHERE {id_filter} AND received_at >= ?1 AND received_at < ?2")),
        1
    );
    let second = s.json(&["project", "revenue", "--now", &plus_lag(stable)]);
    assert_eq!(second["since"], checkpoint.as_str());
    // completed_payments of the late event's group, 0 when it has no row.
    let feb_eur = |dump: &str| -> i64 {
        dump.lines()
            .find(|l| l.starts_with("2016-02,EUR,"))
            .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
            .unwrap_or(0)
    };
    let after_second = s.dump("monthly_revenue");
    s.ok(&["project", "revenue", "--now", &plus_lag(stable)]);
    assert_eq!(s.dump("monthly_revenue"), after_second);
    // The incremental result equals a rebuild of the same events.
    s.ok(&["rebuild", "revenue", "--now", &plus_lag(stable)]);
    assert_eq!(s.dump("monthly_revenue"), after_second);
    let rebuilt_without_late = {
        let t = Sandbox::new();
        t.import_lines(&lines[..20].iter().map(String::as_str).collect::<Vec<_>>());
        t.ok(&["rebuild", "revenue", "--now", &plus_lag(stable)]);
        t.dump("monthly_revenue")
    };
    assert_eq!(feb_eur(&after_second), feb_eur(&rebuilt_without_late) + 1);
}

#[test]
fn latest_is_by_created_at_not_by_arrival() {
    let expected_row = "purchase/77,purchase-completed,completed,2016-05-04T14:01:50.000Z";
    let row = |s: &Sandbox| {
        let dump = s.dump("purchase_state");
        let line = dump.lines().nth(1).unwrap().to_string();
        assert_eq!(dump.lines().count(), 2, "{dump}");
        line
    };
    // Rebuild.
    let s = Sandbox::new();
    s.import_fixture("field-case.jsonl");
    s.ok(&["rebuild", "purchase_state", "--now", "2016-05-04T15:00:00Z"]);
    assert!(row(&s).starts_with(expected_row), "{}", row(&s));
    // Incremental, in the order the events arrived.
    let text = expected("field-case.jsonl");
    let (completed, landed) = {
        let mut l = text.lines();
        (l.next().unwrap(), l.next().unwrap())
    };
    let s = Sandbox::new();
    s.import_lines(&[completed]);
    s.ok(&["project", "purchase_state", "--now", "2016-05-04T14:02:00Z"]);
    assert!(row(&s).starts_with(expected_row));
    s.import_lines(&[landed]);
    let report = s.json(&["project", "purchase_state", "--now", "2016-05-04T14:05:00Z"]);
    assert_eq!(report["events"], 1);
    assert!(row(&s).starts_with(expected_row), "{}", row(&s));
    // Incremental, both in one window.
    let s = Sandbox::new();
    s.import_fixture("field-case.jsonl");
    s.ok(&["project", "purchase_state", "--now", "2016-05-04T14:05:00Z"]);
    assert!(row(&s).starts_with(expected_row));
}

#[test]
fn half_archived_half_live_equals_all_live() {
    for keep_live in [false, true] {
        let s = Sandbox::new();
        s.import_fixture("payments.jsonl");
        let mut args = vec!["--quiet", "archive", "--before", "2016-03-01", "--lag", "0"];
        if keep_live {
            args.push("--keep-live");
        }
        s.ok(&args);
        let dry = s.json(&["rebuild", "revenue", "--dry-run", "--now", LATER]);
        assert_eq!(dry["events"], 51, "{dry}");
        if keep_live {
            assert!(dry["in_both"].as_u64().unwrap() > 10, "{dry}");
            // The archived copy is read, the live one skipped (an id counts
            // once, see docs/projections.md "Archive and live").
            assert_eq!(dry["from_archive"], dry["in_both"], "{dry}");
        } else {
            assert!(dry["from_archive"].as_u64().unwrap() > 10, "{dry}");
            assert!(dry["from_live"].as_u64().unwrap() > 10, "{dry}");
            assert_eq!(dry["in_both"], 0);
        }
        for name in ["revenue", "by_country", "payment_state"] {
            s.ok(&["rebuild", name, "--now", LATER]);
        }
        assert_eq!(s.dump("monthly_revenue"), expected("revenue.expected.csv"));
        assert_eq!(s.dump("by_country"), expected("by_country.expected.csv"));
        assert_eq!(
            s.dump("payment_state"),
            expected("payment_state.expected.csv")
        );
    }
}

#[test]
fn exec_receives_only_its_types_in_order_and_failure_keeps_the_checkpoint() {
    let s = Sandbox::new();
    s.import_fixture("payments.jsonl");
    s.ok(&["rebuild", "feed", "--now", LATER]);
    let exported = s.ok(&[
        "export",
        "--type",
        "payment-refunded",
        "--type",
        "payment-failed",
    ]);
    let received = std::fs::read_to_string(s.path("received.jsonl")).unwrap();
    assert_eq!(received, exported);
    assert_eq!(received.lines().count(), 19);
    // The reset command runs before a rebuild: no duplicates.
    s.ok(&["rebuild", "feed", "--now", LATER]);
    assert_eq!(
        std::fs::read_to_string(s.path("received.jsonl")).unwrap(),
        exported
    );

    // The documented example program.
    s.ok(&["rebuild", "counts", "--now", "2016-03-01T00:00:00Z"]);
    s.ok(&["project", "counts", "--now", LATER]);
    let counts: Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("counts.json")).unwrap()).unwrap();
    assert_eq!(
        counts,
        serde_json::json!({"payment-completed": 41, "payment-refunded": 10})
    );

    // A failing program: exit 2 naming its status, checkpoint unchanged.
    s.edit_config(|t| {
        t + r#"
[projections.failing]
kind = "exec"
types = ["payment-refunded"]
command = ["sh", "-c", "cat > /dev/null; test \"$CHRONICLE_MODE\" = rebuild || exit 3"]
"#
    });
    s.ok(&["rebuild", "failing", "--now", "2016-02-01T00:00:00Z"]);
    let out = s.run(&["project", "failing", "--now", LATER]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exited with status 3"), "{stderr}");
    let status = s.json(&["status"]);
    let failing = status["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "failing")
        .unwrap()
        .clone();
    assert_eq!(failing["checkpoint"], "2016-01-31T23:55:00.000Z");
}

#[test]
fn a_concurrent_run_exits_75_naming_the_holder() {
    let s = Sandbox::new();
    s.import_fixture("payments.jsonl");
    s.edit_config(|t| {
        t + r#"
[projections.slow]
kind = "exec"
types = ["payment-refunded"]
command = ["sh", "-c", "cat > /dev/null; sleep 3"]
"#
    });
    let mut first = s
        .command(&["--quiet", "rebuild", "slow", "--now", LATER])
        .spawn()
        .unwrap();
    let store = s.path("store.db");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let held = rusqlite::Connection::open(&store)
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM locks WHERE name = 'projection:slow'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .unwrap_or(0);
        if held > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first run never took its lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = s.run(&["project", "slow", "--now", LATER]);
    assert_eq!(second.status.code(), Some(75));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("chronicle rebuild slow (pid"), "{stderr}");
    assert!(first.wait().unwrap().success());
    // Released: the next run goes through.
    s.ok(&["project", "slow", "--now", LATER]);
}

#[test]
fn a_killed_rebuild_leaves_the_previous_table_intact() {
    let s = Sandbox::new();
    // Enough events that the rebuild is still writing when it is killed.
    let path = s.path("many.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..60_000u64 {
        let day = 1 + i % 28;
        writeln!(
            f,
            r#"{{"id":"{}","meta":{{"service":"load","type":"payment-completed","created_at":"2016-01-{day:02}T10:00:00Z","received_at":"2016-01-{day:02}T10:00:{:02}.{:03}Z","aggregate_id":"payment/{}"}},"payload":{{"amount":"1.00/EUR","country":"DE"}}}}"#,
            uuid::Uuid::from_u128(i as u128 + 1),
            i % 60,
            i % 1000,
            i % 20_000
        )
        .unwrap();
    }
    drop(f);
    s.ok(&["--quiet", "import", "events", path.to_str().unwrap()]);
    s.ok(&["rebuild", "payment_state", "--now", "2016-01-03T00:00:00Z"]);
    let before = s.dump("payment_state");
    assert!(before.lines().count() > 100);
    let conn = rusqlite::Connection::open(s.path("reports.db")).unwrap();
    let checkpoint = |s: &Sandbox| {
        let status = s.json(&["status"]);
        status["projections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "payment_state")
            .unwrap()["checkpoint"]
            .clone()
    };
    // SIGKILL at random moments of the write phase. Whenever the kill lands
    // before the commit, the old table and checkpoint must be intact; when
    // the run got to commit first, the new ones must be complete.
    let mut intact = 0;
    let mut rng = Lcg(now_seed());
    for attempt in 0..10 {
        // A killed run's lock stays until its TTL; clear it for the next try.
        rusqlite::Connection::open(s.path("store.db"))
            .unwrap()
            .execute("DELETE FROM locks", [])
            .unwrap();
        let wal = s.path("reports.db-wal");
        let wal_size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let start_size = wal_size();
        let mut child = s
            .command(&["--quiet", "rebuild", "payment_state", "--now", LATER])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the rebuild writes to the target, then a random while.
        let deadline = Instant::now() + Duration::from_secs(30);
        while wal_size() == start_size && Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(rng.below(150)));
        let _ = child.kill(); // SIGKILL; an error means it had finished
        child.wait().unwrap();
        let now = dump_sqlite(&conn, "payment_state");
        if now == before {
            assert_eq!(
                checkpoint(&s),
                "2016-01-02T23:55:00.000Z",
                "attempt {attempt}"
            );
            intact += 1;
            if intact >= 2 {
                break;
            }
        } else {
            assert_eq!(
                now.lines().count(),
                20_001,
                "attempt {attempt}: a partial table"
            );
            assert_eq!(checkpoint(&s), "2029-12-31T23:55:00.000Z");
            s.ok(&["rebuild", "payment_state", "--now", "2016-01-03T00:00:00Z"]);
            assert_eq!(dump_sqlite(&conn, "payment_state"), before);
        }
    }
    assert!(intact > 0, "no kill landed before the commit");
    rusqlite::Connection::open(s.path("store.db"))
        .unwrap()
        .execute("DELETE FROM locks", [])
        .unwrap();
    s.ok(&["rebuild", "payment_state", "--now", LATER]);
    assert_eq!(s.dump("payment_state").lines().count(), 20_001);
}

fn now_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn config_errors_name_the_key() {
    let s = Sandbox::new();
    s.edit_config(|t| t.replace("month(meta.created_at)", "moth(meta.created_at)"));
    let out = s.run(&["rebuild", "revenue"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("projections.revenue.group[0].value: unknown function `moth`"),
        "{stderr}"
    );
    let out = s.run(&["rebuild", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no projection `nope`"));
}

#[test]
fn a_bad_amount_fails_the_run_naming_the_event() {
    let s = Sandbox::new();
    s.import_lines(&[r#"{"id":"6f1c1e8e-0000-4000-8000-0000000000aa","meta":{"service":"x","type":"payment-completed","created_at":"2016-01-01T00:00:00Z","received_at":"2016-01-01T00:00:00Z"},"payload":{"amount":"3,00 EUR"}}"#]);
    let out = s.run(&["rebuild", "revenue", "--now", LATER]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("event 6f1c1e8e-0000-4000-8000-0000000000aa (payment-completed)")
            && stderr.contains("not a money string"),
        "{stderr}"
    );
    assert!(!s.path("reports.db").exists() || s.dump_tables().is_empty());
}

/// A window that only the archive holds is folded partition by partition on
/// the reader threads (src/projection/direct.rs): its tables equal the
/// all-live ones, and of two bad events in different partitions the error
/// names the earlier one, every time, whichever partition's thread meets
/// its bad event first.
#[test]
fn an_archive_only_rebuild_equals_all_live_and_fails_at_the_first_bad_event() {
    let s = Sandbox::new();
    s.import_fixture("payments.jsonl");
    s.ok(&["--quiet", "archive", "--before", "2100-01-01", "--lag", "0"]);
    let dry = s.json(&["rebuild", "revenue", "--dry-run", "--now", LATER]);
    assert_eq!(
        (dry["from_live"].as_u64(), dry["in_both"].as_u64()),
        (Some(0), Some(0)),
        "{dry}"
    );
    for name in ["revenue", "by_country"] {
        s.ok(&["rebuild", name, "--now", LATER]);
    }
    assert_eq!(s.dump("monthly_revenue"), expected("revenue.expected.csv"));
    assert_eq!(s.dump("by_country"), expected("by_country.expected.csv"));

    let bad = |id: &str, month: &str| {
        format!(
            r#"{{"id":"{id}","meta":{{"service":"x","type":"payment-completed","created_at":"2016-{month}-20T00:00:00Z","received_at":"2016-{month}-20T00:00:00Z"}},"payload":{{"amount":"3,00 EUR"}}}}"#
        )
    };
    // February's partition is the second one dealt (to the second reader
    // thread), March's the third (to the first): the threads race.
    let (feb, mar) = (
        "6f1c1e8e-0000-4000-8000-0000000000fe",
        "6f1c1e8e-0000-4000-8000-00000000003a",
    );
    let s = Sandbox::new();
    s.import_fixture("payments.jsonl");
    s.import_lines(&[&bad(mar, "03"), &bad(feb, "02")]);
    s.ok(&["--quiet", "archive", "--before", "2100-01-01", "--lag", "0"]);
    for _ in 0..5 {
        let out = s.run(&["rebuild", "revenue", "--now", LATER]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("event {feb} (payment-completed)"))
                && !stderr.contains(mar)
                && stderr.contains("not a money string"),
            "{stderr}"
        );
    }
    assert!(!s.path("reports.db").exists() || s.dump_tables().is_empty());
}

/// An incremental run whose window starts inside an archived partition and
/// that the live store holds nothing of (folded per partition, see
/// src/projection/direct.rs) applies exactly the rest of that partition.
#[test]
fn an_incremental_run_over_the_archive_alone_starts_mid_partition() {
    let mut lines = fixture_lines();
    lines.sort_by_key(|l| received_at(l));
    let s = Sandbox::new();
    s.import_fixture("payments.jsonl");
    // The first run stops in the middle of February's partition.
    let mid = lines
        .iter()
        .position(|l| received_at(l).as_str() >= "2016-02-15")
        .unwrap();
    let now = plus_lag(&received_at(&lines[mid]));
    for name in ["revenue", "by_country"] {
        s.ok(&["project", name, "--now", &now]);
    }
    assert_ne!(s.dump("monthly_revenue"), expected("revenue.expected.csv"));
    s.ok(&["--quiet", "archive", "--before", "2100-01-01", "--lag", "0"]);
    for name in ["revenue", "by_country"] {
        s.ok(&["project", name, "--now", LATER]);
    }
    assert_eq!(s.dump("monthly_revenue"), expected("revenue.expected.csv"));
    assert_eq!(s.dump("by_country"), expected("by_country.expected.csv"));
}

/// A fold that panics on a reader thread (`CHRONICLE_FAULT=...:panic`, as a
/// bug would) fails the run with exit 2 and the cause, never hangs it or
/// kills it with a panic of the whole process, and leaves the table as it
/// was.
#[test]
fn a_panicking_partition_fold_fails_the_run_and_keeps_the_table() {
    let s = Sandbox::new();
    s.import_fixture("payments.jsonl");
    s.ok(&["rebuild", "revenue", "--now", LATER]);
    let before = s.dump("monthly_revenue");
    s.ok(&["--quiet", "archive", "--before", "2100-01-01", "--lag", "0"]);
    let out = s
        .command(&["rebuild", "revenue", "--now", LATER])
        .env("CHRONICLE_FAULT", "fold-partition:panic")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("an archive reader thread panicked"),
        "{stderr}"
    );
    assert_eq!(s.dump("monthly_revenue"), before);
}

impl Sandbox {
    fn dump_tables(&self) -> Vec<String> {
        let conn = rusqlite::Connection::open(self.path("reports.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'chronicle_%'")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }
}

// ---------------------------------------------------------------- PostgreSQL

/// A connection to the test server, or `None` (skip) outside CI.
#[cfg(feature = "postgres")]
fn postgres_url() -> Option<String> {
    let url = std::env::var("CHRONICLE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match postgres::Client::connect(&url, postgres::NoTls) {
        Ok(_) => Some(url),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("PostgreSQL at {url} is unreachable in CI: {e}")
        }
        Err(e) => {
            eprintln!("skipped: PostgreSQL at {url} is unreachable ({e})");
            None
        }
    }
}

/// A schema of its own for one test, dropped at the end.
#[cfg(feature = "postgres")]
struct PgSchema {
    url: String,
    name: String,
}

#[cfg(feature = "postgres")]
impl PgSchema {
    fn new(url: &str) -> PgSchema {
        let name = format!("chronicle_test_{}", uuid::Uuid::new_v4().simple());
        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        PgSchema {
            url: url.to_string(),
            name,
        }
    }

    /// The target URI whose search_path is this schema.
    fn target(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.url, self.name)
    }

    fn dump(&self, table: &str) -> String {
        let mut client = postgres::Client::connect(&self.target(), postgres::NoTls).unwrap();
        let rows = client
            .query(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                &[&self.name, &table],
            )
            .unwrap();
        let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let select = names
            .iter()
            .map(|n| format!("\"{n}\"::text"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = names.join(",") + "\n";
        for row in client
            .query(
                &format!("SELECT {select} FROM \"{table}\" ORDER BY 1, 2"),
                &[],
            )
            .unwrap()
        {
            let cells: Vec<String> = (0..names.len())
                .map(|i| row.get::<_, Option<String>>(i).unwrap_or_default())
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }
}

#[cfg(feature = "postgres")]
impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

#[test]
#[cfg(feature = "postgres")]
fn table_and_latest_into_postgres() {
    let Some(url) = postgres_url() else { return };
    let schema = PgSchema::new(&url);
    let s = Sandbox::new();
    let target = schema.target();
    s.edit_config(|t| t.replace("sqlite:reports.db", &target));
    s.import_fixture("payments.jsonl");
    for name in ["revenue", "by_country", "payment_state"] {
        s.ok(&["rebuild", name, "--now", LATER]);
    }
    assert_eq!(
        schema.dump("monthly_revenue"),
        expected("revenue.expected.csv")
    );
    assert_eq!(
        schema.dump("by_country"),
        expected("by_country.expected.csv")
    );
    assert_eq!(
        schema.dump("payment_state"),
        expected("payment_state.expected.csv")
    );
    // Rebuilding again swaps over the live table (index names must not clash).
    s.ok(&["rebuild", "revenue", "--now", LATER]);
    assert_eq!(
        schema.dump("monthly_revenue"),
        expected("revenue.expected.csv")
    );
    let status = s.json(&["status"]);
    assert!(status["projections"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["error"].is_null()));

    // Incremental runs into a second schema reach the same tables.
    let inc = PgSchema::new(&url);
    let t = Sandbox::new();
    let target = inc.target();
    t.edit_config(|c| c.replace("sqlite:reports.db", &target));
    let lines = fixture_lines();
    for chunk in lines.chunks(17) {
        t.import_lines(&chunk.iter().map(String::as_str).collect::<Vec<_>>());
        let now = plus_lag(&received_at(chunk.last().unwrap()));
        for name in ["revenue", "by_country", "payment_state"] {
            t.ok(&["project", name, "--now", &now]);
        }
    }
    for name in ["revenue", "by_country", "payment_state"] {
        t.ok(&["project", name, "--now", LATER]);
    }
    assert_eq!(
        inc.dump("monthly_revenue"),
        expected("revenue.expected.csv")
    );
    assert_eq!(inc.dump("by_country"), expected("by_country.expected.csv"));
    assert_eq!(
        inc.dump("payment_state"),
        expected("payment_state.expected.csv")
    );
}

#[test]
fn project_refuses_to_recreate_a_dropped_table() {
    let s = Sandbox::new();
    s.import_fixture("payments.jsonl");
    s.ok(&["rebuild", "revenue", "--now", "2016-03-01T00:00:00Z"]);
    rusqlite::Connection::open(s.path("reports.db"))
        .unwrap()
        .execute("DROP TABLE monthly_revenue", [])
        .unwrap();
    let out = s.run(&["project", "revenue", "--now", LATER]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("run `chronicle rebuild revenue`"),
        "{stderr}"
    );
    s.ok(&["rebuild", "revenue", "--now", LATER]);
    assert_eq!(s.dump("monthly_revenue"), expected("revenue.expected.csv"));
}
