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

/// The import runs recorded in a store, as `status --json` shows them.
fn import_runs(dir: &Path, store: &str) -> Vec<Value> {
    let run = common::run(dir, &["--json", "--store", store, "status"]);
    assert_eq!(run.code, 0, "status failed: {}", run.stderr);
    run.json()["import_runs"].as_array().cloned().unwrap_or_default()
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
        &["--store", &store, "import", "events", input.to_str().unwrap()],
        Stdio::null(),
        &[],
    )
    .finish_within(60);
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("store write failed: database or disk is full")
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
        run.stderr.contains("store write failed: database is locked")
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
