//! Test hook for crash tests: `CHRONICLE_FAULT=<point>` aborts the process
//! at that point of a job, as a crash or `kill -9` would, and
//! `CHRONICLE_FAULT=<point>:<ms>` pauses there instead (to hold a lock
//! while a second run starts, or to be killed while holding it), and
//! `CHRONICLE_FAULT=<point>:panic` panics there (a bug on a worker thread).
//!
//! Points: `after-lock` (archive, rebuild, project: the lock is held),
//! and the archive's `mid-write`, `after-rename`, `after-verify`,
//! `after-manifest`, `before-delete`, `after-delete`; the SQLite
//! store's `mid-upgrade` (schema version 3 or 4, before its commit); and
//! `fold-partition` (a rebuild folding archive partitions apart, on its
//! worker threads).

/// Aborts or pauses here when `CHRONICLE_FAULT` names `point`.
pub fn fault(point: &str) {
    let Ok(value) = std::env::var("CHRONICLE_FAULT") else {
        return;
    };
    if value == point {
        eprintln!("CHRONICLE_FAULT: aborting at {point}");
        std::process::abort();
    }
    if value.strip_prefix(point) == Some(":panic") {
        panic!("CHRONICLE_FAULT: panicking at {point}");
    }
    if let Some(ms) = value
        .strip_prefix(point)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|ms| ms.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
