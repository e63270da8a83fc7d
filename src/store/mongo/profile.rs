//! Wall-time accounting of the MongoDB store's operations, for measuring
//! where a job's time goes when most of it is spent waiting on the server
//! (which a CPU profiler does not see): the archive breakdown in
//! docs/archive.md comes from it (scripts/bench-mongo-archive.sh). Off
//! unless `CHRONICLE_MONGO_PROFILE=FILE` is set; then every handle on the
//! store (the job's and its lock's) adds its time per operation, and when
//! the last one closes the totals are appended to FILE as one JSON line.
//! Off, it costs a clock read per store call (not per event).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The environment variable that turns the accounting on.
pub(super) const PROFILE_ENV: &str = "CHRONICLE_MONGO_PROFILE";

/// Totals of one process's store handles.
pub(super) struct Profile {
    file: PathBuf,
    /// Operation -> (time, calls, documents).
    totals: Mutex<BTreeMap<&'static str, (Duration, u64, u64)>>,
}

impl Profile {
    pub(super) fn from_env() -> Option<Arc<Profile>> {
        let file = std::env::var_os(PROFILE_ENV).filter(|f| !f.is_empty())?;
        Some(Arc::new(Profile {
            file: file.into(),
            totals: Mutex::new(BTreeMap::new()),
        }))
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        let ops: serde_json::Map<String, serde_json::Value> = totals
            .iter()
            .map(|(op, (time, calls, docs))| {
                let value = serde_json::json!({
                    "s": (time.as_secs_f64() * 1000.0).round() / 1000.0,
                    "calls": calls,
                    "docs": docs,
                });
                (op.to_string(), value)
            })
            .collect();
        let line = serde_json::json!({"pid": std::process::id(), "ops": ops});
        // A measuring aid: a file that cannot be written is reported, not fatal.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            eprintln!("{PROFILE_ENV}: cannot write {}: {e}", self.file.display());
        }
    }
}

/// Times one operation from its creation to its drop.
pub(super) struct Span {
    profile: Option<Arc<Profile>>,
    op: &'static str,
    started: Instant,
    docs: u64,
}

impl Span {
    pub(super) fn start(profile: &Option<Arc<Profile>>, op: &'static str) -> Span {
        Span {
            profile: profile.clone(),
            op,
            started: Instant::now(),
            docs: 0,
        }
    }

    /// Documents the operation handled (events read, ids deleted).
    pub(super) fn docs(&mut self, n: usize) {
        self.docs += n as u64;
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(profile) = &self.profile {
            let mut totals = profile.totals.lock().unwrap_or_else(|e| e.into_inner());
            let entry = totals.entry(self.op).or_default();
            entry.0 += self.started.elapsed();
            entry.1 += 1;
            entry.2 += self.docs;
        }
    }
}
