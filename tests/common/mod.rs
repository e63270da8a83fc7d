//! Shared helpers for the integration tests: run the built `chronicle`
//! binary in a scratch folder, locate fixtures, and read results back.
#![allow(dead_code)]

pub mod archive_target;
pub mod emit;
#[cfg(feature = "mongodb")]
pub mod mongo;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The single JSON object printed by `--json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_chronicle")
}

/// A `chronicle` command running in `dir`, isolated from the caller's
/// environment and config.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir)
        .args(args)
        .env_remove("CHRONICLE_STORE")
        .env_remove("CHRONICLE_CONFIG")
        .stdin(Stdio::null());
    cmd
}

pub fn run(dir: &Path, args: &[&str]) -> Run {
    let out = command(dir, args).output().expect("run chronicle");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

pub fn fixture_str(relative: &str) -> String {
    fixture(relative).display().to_string()
}

/// The byte offset of the first `needle` in the file at `path` (to cut a
/// fixture at a known place).
pub fn offset_in(path: &Path, needle: &str) -> usize {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("`{needle}` is not in {}", path.display()))
}

/// Parses JSON lines, dropping `meta.received_at` (assigned by the store at
/// write time), sorted by id so that comparisons do not depend on it.
pub fn events_without_received_at(jsonl: &str) -> Vec<serde_json::Value> {
    let mut events: Vec<serde_json::Value> = jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["meta"]
                .as_object_mut()
                .expect("meta")
                .remove("received_at");
            v
        })
        .collect();
    events.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    events
}

/// The stores every store-agnostic test runs against: a SQLite file in
/// `dir`, plus MongoDB when `MONGODB_URI` is set (a fresh database per call).
pub fn store_uris(dir: &Path, name: &str) -> Vec<String> {
    let mut uris = vec![format!(
        "sqlite:{}",
        dir.join(format!("{name}.db")).display()
    )];
    if let Some(uri) = mongodb_uri() {
        let db = format!("chronicle_test_{}_{}", name, uuid::Uuid::new_v4().simple());
        uris.push(format!("{}/{}", uri.trim_end_matches('/'), db));
    }
    uris
}

/// `MONGODB_URI`, or `None` outside CI when it is unset (the caller's tests
/// then run on SQLite only, and say so). In CI a missing server is a failure.
pub fn mongodb_uri() -> Option<String> {
    if cfg!(not(feature = "mongodb")) {
        eprintln!(
            "skipped: built without the mongodb feature, MongoDB variants of this test did not run"
        );
        return None;
    }
    match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but MONGODB_URI is not: the MongoDB tests cannot run")
        }
        _ => {
            eprintln!("skipped: MONGODB_URI not set, MongoDB variants of this test did not run");
            None
        }
    }
}

/// True when `python3` can import `modules` (the independent readers some
/// tests check against). Outside CI a missing module skips the test, saying
/// so; in CI it is a failure.
pub fn python_with(modules: &str) -> bool {
    tool_runs(
        "python3",
        &["-c", &format!("import {modules}")],
        &format!("python3 with {modules}"),
    )
}

/// True when `program args` runs and succeeds. Outside CI a missing tool
/// skips the test, saying so; in CI it is a failure (`what` names it).
pub fn tool_runs(program: &str, args: &[&str], what: &str) -> bool {
    let ok = Command::new(program)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "{what} is required in CI");
        eprintln!("skipped: {what} is not available");
    }
    ok
}
