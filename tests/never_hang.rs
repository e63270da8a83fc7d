//! No job ever hangs, and every job stops cleanly when asked to: a failure on
//! any thread (a full disk, a store locked by another process, an unwritable
//! rejects file, a failing projection target) ends the whole job with exit 2
//! and its cause; SIGINT and SIGTERM stop it at the next batch boundary with
//! what was committed kept and recorded (exit 130 and 143); a SIGKILLed
//! import's run record still shows what it had committed.
//!
//! Every run of the binary here has a watchdog: a run still going after its
//! deadline is killed and the test fails with "hung".

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What a watched run of the binary produced.
#[derive(Debug)]
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// A running `chronicle` whose output goes to files (so that a full pipe can
/// never be what blocks it).
struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    what: String,
}

fn start(dir: &Path, args: &[&str], stdin: Stdio, env: &[(&str, &str)]) -> Running {
    let n = uuid::Uuid::new_v4().simple().to_string();
    let out = dir.join(format!("out-{n}.txt"));
    let err = dir.join(format!("err-{n}.txt"));
    let mut cmd = common::command(dir, args);
    cmd.stdin(stdin)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .env_remove("CHRONICLE_FAULT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Running {
        child: cmd.spawn().expect("start chronicle"),
        out,
        err,
        what: format!("chronicle {}", args.join(" ")),
    }
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits at most `secs`; a run still going then is killed, and the test
    /// fails.
    fn finish_within(mut self, secs: u64) -> Finished {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} hung: still running after {secs} s, killed.\nstderr:\n{}",
                    self.what,
                    std::fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Finished {
            code: status.code(),
            stdout: std::fs::read_to_string(&self.out).unwrap(),
            stderr: std::fs::read_to_string(&self.err).unwrap(),
        }
    }
}

/// Sends `signal` (`INT`, `TERM`, `KILL`) to a process.
fn send(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Polls `ready` until it holds; fails the test after `secs`.
fn wait_until(secs: u64, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The canonical JSON line of generated event `i` (ids are stable, so a
/// re-import of the same file finds duplicates).
fn event_line(i: u64) -> String {
    let day = 1 + i % 28;
    let month = 1 + (i / 28) % 12;
    format!(
        r#"{{"id":"{}","meta":{{"service":"gen","type":"t{}","created_at":"2015-{month:02}-{day:02}T10:00:00.000Z","received_at":"2015-{month:02}-{day:02}T10:00:00.{:03}Z","aggregate_id":"a/{i}"}},"payload":{{"i":{i},"text":"a few words to give the event a realistic size, number {i}"}}}}"#,
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("gen:{i}").as_bytes()),
        i % 3,
        i % 1000,
    )
}

/// Writes `n` generated events as JSON lines.
fn events_file(path: &Path, n: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        writeln!(out, "{}", event_line(i)).unwrap();
    }
    out.flush().unwrap();
}

/// A tmpfs of `size` (e.g. `3m`) mounted on `dir`, unmounted on drop.
/// Mounting needs root, which the tests and CI have; without it the test
/// fails saying so instead of passing without having tested anything.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "THIS TEST NEEDS ROOT: cannot mount a {size} tmpfs on {} to fill a disk ({}); \
             run the tests as root, as CI does",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// The import runs recorded in a store, as `status --json` shows them. A
/// SQLite store is read directly: opening it with chronicle while an import
/// writes would wait for the import's write lock.
fn import_runs(dir: &Path, store: &str) -> Vec<Value> {
    if let Some(path) = store.strip_prefix("sqlite:") {
        let Ok(conn) =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        else {
            return Vec::new();
        };
        let Ok(mut stmt) =
            conn.prepare("SELECT record FROM import_runs ORDER BY started_at, run_id")
        else {
            return Vec::new();
        };
        return stmt
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|r| serde_json::from_str(&r.unwrap()).unwrap())
            .collect();
    }
    let run = common::run(dir, &["--json", "--store", store, "status"]);
    if run.code != 0 {
        // The store does not exist until the import has created it; the
        // callers' assertions on the runs catch any other failure.
        eprintln!("status: {}", run.stderr.trim());
        return Vec::new();
    }
    run.json()["import_runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn sqlite_count(db: &Path, sql: &str) -> u64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as u64
}

/// Live events in a store, counted through `export`.
fn live_count(dir: &Path, store: &str) -> u64 {
    let run = common::run(dir, &["--store", store, "export"]);
    assert_eq!(run.code, 0, "export failed: {}", run.stderr);
    run.stdout.lines().count() as u64
}

// ---------------------------------------------------------------------------
// Failures stop the whole job.

#[test]
fn import_into_a_full_disk_fails_fast_and_keeps_what_was_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("events.jsonl");
    events_file(&input, 200_000);
    let small = tmp.path().join("small");
    let _mount = Tmpfs::mount(&small, "3m");
    let db = small.join("s.db");
    let store = format!("sqlite:{}", db.display());

    let run = start(
        tmp.path(),
        &[
            "--store",
            &store,
            "import",
            "events",
            input.to_str().unwrap(),
        ],
        Stdio::null(),
        &[],
    )
    .finish_within(60);
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    assert!(
        run.stderr
            .contains("store write failed: database or disk is full")
            && run.stderr.contains(&store),
        "the cause and the store are named: {}",
        run.stderr
    );

    // What was committed is intact, and the run record says how far it got.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let stored = sqlite_count(&db, "SELECT count(*) FROM events");
    let runs = import_runs(tmp.path(), &store);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["complete"], false);
    assert_ne!(runs[0]["status"], "complete");
    assert_eq!(
        runs[0]["imported"].as_u64().unwrap(),
        stored,
        "the run record counts exactly the committed events"
    );
}

#[test]
fn import_while_another_process_holds_the_write_lock_fails_instead_of_waiting_forever() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("s.db");
    let store = format!("sqlite:{}", db.display());
    // The input comes through a pipe, so the import can only have started
    // writing once this test feeds it, after the lock is taken.
    let mut run = start(
        tmp.path(),
        &["--store", &store, "import", "events", "-"],
        Stdio::piped(),
        &[],
    );
    // The first line lets the input be opened (its format is sniffed from
    // the first bytes); the batch is not full yet, so nothing is written.
    let mut stdin = run.child.stdin.take().unwrap();
    writeln!(stdin, "{}", event_line(0)).unwrap();
    stdin.flush().unwrap();
    wait_until(30, "the import run to be recorded", || {
        db.exists()
            && rusqlite::Connection::open(&db)
                .and_then(|c| c.query_row("SELECT count(*) FROM import_runs", [], |r| r.get(0)))
                .is_ok_and(|n: i64| n > 0)
    });
    // Another process (here: this test) holds the write lock for longer
    // than the store's 10 s busy timeout.
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.busy_timeout(Duration::from_secs(30)).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let feeder = std::thread::spawn(move || {
        // Stops at the first write error: the import has gone.
        for i in 1..200_000 {
            if writeln!(stdin, "{}", event_line(i)).is_err() {
                return;
            }
        }
    });
    let run = run.finish_within(40);
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    feeder.join().unwrap();
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    assert!(
        run.stderr
            .contains("store write failed: database is locked")
            && run.stderr.contains(&store),
        "the cause and the store are named: {}",
        run.stderr
    );
    let runs = import_runs(tmp.path(), &store);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["complete"], false);
    assert_eq!(runs[0]["imported"], 0);
    assert_eq!(sqlite_count(&db, "SELECT count(*) FROM events"), 0);
}

#[test]
fn rejects_into_a_full_device_fail_the_import_instead_of_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    for store in common::store_uris(tmp.path(), "rejects") {
        let input = tmp.path().join("bad.jsonl");
        let mut text = String::new();
        for i in 0..200_000 {
            text.push_str(&format!("{{\"not an event\": {i}}}\n"));
        }
        std::fs::write(&input, text).unwrap();
        let run = start(
            tmp.path(),
            &[
                "--store",
                &store,
                "import",
                "events",
                input.to_str().unwrap(),
                "--rejects",
                "/dev/full",
            ],
            Stdio::null(),
            &[],
        )
        .finish_within(60);
        assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
        assert!(
            run.stderr.contains("/dev/full"),
            "the rejects file is named: {}",
            run.stderr
        );
        let runs = import_runs(tmp.path(), &store);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0]["complete"], false);
        assert_eq!(runs[0]["status"], "failed");
    }
}

#[test]
fn archive_into_a_full_disk_stops_with_the_cause_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 24_000;
    let input = tmp.path().join("events.jsonl");
    events_file(&input, n);
    let store = format!("sqlite:{}", tmp.path().join("live.db").display());
    let seed = common::run(
        tmp.path(),
        &[
            "-q",
            "--store",
            &store,
            "import",
            "events",
            input.to_str().unwrap(),
        ],
    );
    assert_eq!(seed.code, 0, "{}", seed.stderr);
    // Room for the first months' parts only.
    let archive = tmp.path().join("archive");
    let _mount = Tmpfs::mount(&archive, "256k");

    let run = start(
        tmp.path(),
        &[
            "--store",
            &store,
            "archive",
            "--before",
            "2016-01-01",
            "--to",
            archive.to_str().unwrap(),
        ],
        Stdio::null(),
        &[],
    )
    .finish_within(120);
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("No space left on device"),
        "the cause is named: {}",
        run.stderr
    );
    // Every event is either archived (in a verified, listed part) or live.
    let check = tmp.path().join("check.db");
    let replayed = common::run(
        tmp.path(),
        &[
            "--json",
            "--store",
            &format!("sqlite:{}", check.display()),
            "replay",
            "--from",
            archive.to_str().unwrap(),
        ],
    );
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    let archived = replayed.json()["inserted"].as_u64().unwrap();
    assert!(
        archived > 0,
        "some months were archived before the disk filled"
    );
    // Events of a part that was listed but not yet deleted from live (the
    // delete step may fail on the full disk too) are in both, which the
    // next run settles; none may be in neither.
    let live = tmp.path().join("live.jsonl");
    let exported = common::run(
        tmp.path(),
        &["--store", &store, "export", "-o", live.to_str().unwrap()],
    );
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    let merged = common::run(
        tmp.path(),
        &[
            "-q",
            "--store",
            &format!("sqlite:{}", check.display()),
            "import",
            "events",
            live.to_str().unwrap(),
        ],
    );
    assert!(merged.code == 0, "{}", merged.stderr);
    assert_eq!(
        live_count(tmp.path(), &format!("sqlite:{}", check.display())),
        n,
        "every event is archived or live"
    );
}

#[test]
fn rebuild_into_a_failing_target_stops_with_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("events.jsonl");
    events_file(&input, 30_000);
    std::fs::write(
        tmp.path().join("chronicle.toml"),
        r#"store = "sqlite:store.db"
[projections.state]
kind = "latest"
types = ["t0", "t1", "t2"]
lag = "0"
target = "sqlite:small/reports.db"
fields = ["text"]
"#,
    )
    .unwrap();
    let seed = common::run(
        tmp.path(),
        &[
            "-q",
            "--config",
            "chronicle.toml",
            "import",
            "events",
            input.to_str().unwrap(),
        ],
    );
    assert_eq!(seed.code, 0, "{}", seed.stderr);
    let _mount = Tmpfs::mount(&tmp.path().join("small"), "256k");
    let run = start(
        tmp.path(),
        &["--config", "chronicle.toml", "rebuild", "state"],
        Stdio::null(),
        &[],
    )
    .finish_within(120);
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("database or disk is full"),
        "the cause is named: {}",
        run.stderr
    );
    // The rebuild was one transaction: no table, no checkpoint.
    let conn = rusqlite::Connection::open(tmp.path().join("small/reports.db")).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'state%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
}

// ---------------------------------------------------------------------------
// SIGINT and SIGTERM stop at a batch boundary, keeping what was committed.

/// Input sizes: SQLite must outlast its first 2-second commit group; the
/// MongoDB-compatible test server takes far longer per event.
fn sized(store: &str, sqlite: u64, mongo: u64) -> u64 {
    if store.starts_with("sqlite:") {
        sqlite
    } else {
        mongo
    }
}

/// Live events once a killed client's last write has settled on the server
/// (MongoDB finishes a bulk insert whose client has gone).
fn settled_live_count(dir: &Path, store: &str) -> u64 {
    let mut last = live_count(dir, store);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = live_count(dir, store);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Imports `input` again and checks that, with the `first` events committed
/// before, nothing is lost and nothing is counted as new twice.
fn rerun_completes(dir: &Path, store: &str, input: &Path, total: u64, first: u64) {
    let again = common::run(
        dir,
        &[
            "--json",
            "--store",
            store,
            "import",
            "events",
            input.to_str().unwrap(),
        ],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    let summary = again.json();
    assert_eq!(summary["read"], total);
    assert_eq!(
        summary["duplicates"], first,
        "what was committed counts as duplicates"
    );
    assert_eq!(summary["imported"], total - first);
    assert_eq!(live_count(dir, store), total);
    let runs = import_runs(dir, store);
    assert_eq!(runs.last().unwrap()["status"], "complete");
}

/// An import of generated events into `store` that has committed its first
/// batches and is still going; with its input and the input's size.
fn import_under_way(dir: &Path, store: &str, flags: &[&str]) -> (Running, PathBuf, u64) {
    let total = sized(store, 150_000, 12_000);
    let input = dir.join(format!("events-{total}.jsonl"));
    events_file(&input, total);
    let mut args = flags.to_vec();
    let path = input.to_str().unwrap();
    args.extend([
        "--store",
        store,
        "import",
        "events",
        path,
        "--batch-size",
        "2000",
    ]);
    let mut run = start(dir, &args, Stdio::null(), &[]);
    wait_for_committed_events(dir, store, &mut run);
    (run, input, total)
}

/// Waits until the import run recorded in `store` has committed events.
fn wait_for_committed_events(dir: &Path, store: &str, run: &mut Running) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            run.is_running(),
            "the import ended before it could be interrupted: make the input bigger"
        );
        let committed = import_runs(dir, store)
            .last()
            .and_then(|r| r["imported"].as_u64())
            .unwrap_or(0);
        if committed > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no batch was committed in 120 s");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn sigint_stops_an_import_at_a_batch_boundary_and_a_rerun_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    for store in common::store_uris(tmp.path(), "sigint") {
        let (run, input, total) = import_under_way(tmp.path(), &store, &["--json"]);
        send("INT", run.pid());
        let run = run.finish_within(120);
        assert_eq!(run.code, Some(130), "stderr: {}", run.stderr);
        assert!(
            run.stderr.contains("interrupted by SIGINT"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("Run the same command again"),
            "{}",
            run.stderr
        );
        let summary: Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_eq!(summary["interrupted"], "SIGINT");
        let first = summary["imported"].as_u64().unwrap();
        assert!(first > 0 && first < total, "stopped part way: {first}");
        assert_eq!(
            live_count(tmp.path(), &store),
            first,
            "the counts printed were committed"
        );
        let runs = import_runs(tmp.path(), &store);
        assert_eq!(runs[0]["status"], "interrupted");
        assert_eq!(runs[0]["complete"], false);
        assert_eq!(runs[0]["imported"], first);
        rerun_completes(tmp.path(), &store, &input, total, first);
    }
}

#[test]
fn sigterm_stops_an_import_waiting_on_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    for store in common::store_uris(tmp.path(), "sigterm") {
        let total = sized(&store, 40_000, 8_000);
        let input = tmp.path().join(format!("events-{total}.jsonl"));
        events_file(&input, total);
        let lines: Vec<String> = std::fs::read_to_string(&input)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let mut run = start(
            tmp.path(),
            &[
                "--json",
                "--store",
                &store,
                "import",
                "events",
                "-",
                "--batch-size",
                "2000",
            ],
            Stdio::piped(),
            &[],
        );
        // Part of the input, then a pipe that stays open and idle.
        let mut stdin = run.child.stdin.take().unwrap();
        for line in &lines[..lines.len() * 5 / 8] {
            writeln!(stdin, "{line}").unwrap();
        }
        stdin.flush().unwrap();
        wait_until(60, "the import run to be recorded", || {
            !import_runs(tmp.path(), &store).is_empty()
        });
        std::thread::sleep(Duration::from_secs(2));
        send("TERM", run.pid());
        let run = run.finish_within(120);
        drop(stdin);
        assert_eq!(run.code, Some(143), "stderr: {}", run.stderr);
        assert!(
            run.stderr.contains("interrupted by SIGTERM"),
            "{}",
            run.stderr
        );
        let summary: Value = serde_json::from_str(run.stdout.trim()).unwrap();
        let first = summary["imported"].as_u64().unwrap();
        assert_eq!(live_count(tmp.path(), &store), first);
        let runs = import_runs(tmp.path(), &store);
        assert_eq!(runs[0]["status"], "interrupted");
        assert_eq!(runs[0]["imported"], first);
        rerun_completes(tmp.path(), &store, &input, total, first);
    }
}

#[test]
fn sigterm_stops_an_archive_between_parts_and_a_rerun_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    for store in common::store_uris(tmp.path(), "archive") {
        let n = sized(&store, 24_000, 6_000);
        let input = tmp.path().join(format!("events-{n}.jsonl"));
        events_file(&input, n);
        let seed = common::run(
            tmp.path(),
            &[
                "-q",
                "--store",
                &store,
                "import",
                "events",
                input.to_str().unwrap(),
            ],
        );
        assert_eq!(seed.code, 0, "{}", seed.stderr);
        let archive = tmp
            .path()
            .join(format!("archive-{}", uuid::Uuid::new_v4().simple()));
        let args = [
            "--json",
            "--store",
            &store,
            "archive",
            "--before",
            "2016-01-01",
            "--to",
            archive.to_str().unwrap(),
        ];
        // Each part pauses at its first row: time to see January done and
        // February begun.
        let mut run = start(
            tmp.path(),
            &args,
            Stdio::null(),
            &[("CHRONICLE_FAULT", "mid-write:3000")],
        );
        let february = archive.join("year=2015/month=02");
        wait_until(120, "February's part to be begun", || {
            std::fs::read_dir(&february).is_ok_and(|d| d.count() > 0)
        });
        assert!(run.is_running());
        send("TERM", run.pid());
        let run = run.finish_within(120);
        assert_eq!(run.code, Some(143), "stderr: {}", run.stderr);
        assert!(
            run.stderr.contains("interrupted by SIGTERM"),
            "{}",
            run.stderr
        );
        let report: Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_eq!(report["interrupted"], "SIGTERM");
        let archived = report["archived"].as_u64().unwrap();
        assert_eq!(
            report["partitions"].as_array().unwrap().len(),
            1,
            "January only"
        );
        assert!(archived > 0);
        assert_eq!(
            report["deleted"], archived,
            "January's verified events left live"
        );
        assert_eq!(live_count(tmp.path(), &store), n - archived);
        let leftovers: Vec<_> = std::fs::read_dir(&february).unwrap().collect();
        assert!(
            leftovers.is_empty(),
            "the unfinished part is removed: {leftovers:?}"
        );

        // A second run finishes; every event is archived exactly once.
        let again = common::run(tmp.path(), &args[1..]);
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert_eq!(live_count(tmp.path(), &store), 0);
        let check = format!(
            "sqlite:{}",
            tmp.path()
                .join(format!("check-{}.db", uuid::Uuid::new_v4().simple()))
                .display()
        );
        let replayed = common::run(
            tmp.path(),
            &[
                "--json",
                "--store",
                &check,
                "replay",
                "--from",
                archive.to_str().unwrap(),
            ],
        );
        assert_eq!(replayed.code, 0, "{}", replayed.stderr);
        assert_eq!(replayed.json()["read"], n);
        assert_eq!(replayed.json()["inserted"], n);
    }
}

// ---------------------------------------------------------------------------
// A killed import's run record.

#[test]
fn a_sigkilled_imports_run_record_shows_what_it_had_committed() {
    let tmp = tempfile::tempdir().unwrap();
    for store in common::store_uris(tmp.path(), "sigkill") {
        let (run, input, total) = import_under_way(tmp.path(), &store, &[]);
        send("KILL", run.pid());
        let run = run.finish_within(120);
        assert_eq!(run.code, None, "killed by the signal");
        let runs = import_runs(tmp.path(), &store);
        let recorded = runs[0]["imported"].as_u64().unwrap();
        let stored = settled_live_count(tmp.path(), &store);
        assert!(
            recorded > 0,
            "the record shows the batches written: {}",
            runs[0]
        );
        assert_eq!(runs[0]["complete"], false);
        assert_eq!(runs[0]["status"], "running");
        if store.starts_with("sqlite:") {
            // Counts and events commit in one transaction.
            assert_eq!(recorded, stored);
        } else {
            // Each batch is recorded right after it is written.
            assert!(
                recorded <= stored && stored - recorded <= 2_000,
                "{recorded} vs {stored}"
            );
        }
        rerun_completes(tmp.path(), &store, &input, total, stored);
    }
}
