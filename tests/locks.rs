//! One lock for every job (docs/architecture.md, "Locks"): a job killed
//! with SIGKILL while it holds its lock does not lock the next run out,
//! because a holder that is a dead process on this host is taken over at
//! once; a live holder still makes a second run exit 75 naming it.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{command, fixture_str, run, store_uris};

const LATER: &str = "2030-01-01T00:00:00Z";

/// A folder with a chronicle.toml naming `store` and one table projection,
/// and the projection fixture's events imported.
fn setup(dir: &Path, store: &str) {
    std::fs::write(
        dir.join("chronicle.toml"),
        format!(
            r#"store = "{store}"
archive = "archive"

[projections.counts]
kind = "table"
types = ["payment-completed", "payment-refunded"]
target = "sqlite:reports.db"
group = [{{ name = "country", value = "payload.country" }}]
columns = [{{ name = "events", value = "count()" }}]
"#
        ),
    )
    .unwrap();
    let out = run(
        dir,
        &[
            "import",
            "events",
            &fixture_str("projections/payments.jsonl"),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// The arguments of each locking job, and the name of its lock.
fn jobs() -> Vec<(Vec<&'static str>, &'static str)> {
    vec![
        (vec!["archive", "--before", "2016-02-01"], "archive"),
        (
            vec!["rebuild", "counts", "--now", LATER],
            "projection:counts",
        ),
        (
            vec!["project", "counts", "--now", LATER],
            "projection:counts",
        ),
    ]
}

/// Starts `args` paused right after it took its lock, and waits until the
/// lock is held.
// The child is returned to the caller, which kills and waits for it.
#[allow(clippy::zombie_processes)]
fn start_holding(dir: &Path, store: &str, args: &[&str], lock: &str) -> Child {
    let mut probe = chronicle::store::open(store).unwrap();
    let mut child = command(dir, args)
        .env("CHRONICLE_FAULT", "after-lock:60000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // An already expired probe lock: it never keeps the job out, and
        // once the job holds the lock, the probe is refused.
        let attempt = probe.try_lock(lock, "probe", -1);
        if matches!(attempt, Ok(chronicle::store::LockAttempt::Held { .. })) {
            return child;
        }
        if attempt.is_err() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} never took its lock ({attempt:?})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_job_does_not_lock_out_the_next_run_but_a_live_one_does() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, store) in store_uris(tmp.path(), "locks").into_iter().enumerate() {
        let dir = tmp.path().join(format!("run{i}"));
        std::fs::create_dir(&dir).unwrap();
        setup(&dir, &store);
        for (args, lock) in jobs() {
            let mut first = start_holding(&dir, &store, &args, lock);

            // A live holder: exit 75 naming it.
            let second = run(&dir, &args);
            assert_eq!(second.code, 75, "{args:?}: {}", second.stderr);
            assert!(
                second.stderr.contains(&format!("pid {}", first.id())),
                "{args:?}: holder not named: {}",
                second.stderr
            );

            // Killed while holding it: the next run takes it over at once
            // (the TTL is ten minutes).
            first.kill().unwrap();
            first.wait().unwrap();
            let third = run(&dir, &args);
            assert_eq!(third.code, 0, "{args:?} after a kill: {}", third.stderr);
        }
    }
}
