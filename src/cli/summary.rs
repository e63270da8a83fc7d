//! The one schema of `--json` summaries (docs/json.md), and the Prometheus
//! metrics file written from the same figures. Commands hand over their
//! report and a few [`Figures`]; the envelope keys (`command`, `run_id`,
//! `store`, `started_at`, `elapsed_s`, `events_per_s`, `rejects_files`,
//! `conflicts_files`) are added here and nowhere else, so they cannot drift
//! apart between commands again.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde_json::{Map, Value};

use chronicle::event::{format_millis, now_millis, Millis};

/// What a command adds to its report to make the summary.
pub struct Figures<'a> {
    /// The store, as printed elsewhere (never with a password).
    pub store: String,
    /// The events the command went through (read, exported, archived...):
    /// the basis of `events_per_s`.
    pub events: u64,
    pub rejects_files: &'a [PathBuf],
    pub conflicts_files: &'a [PathBuf],
}

impl<'a> Figures<'a> {
    pub fn new(store: String, events: u64) -> Figures<'a> {
        Figures {
            store,
            events,
            rejects_files: &[],
            conflicts_files: &[],
        }
    }
}

/// One invocation of chronicle: its command, id and clock.
pub struct RunContext {
    command: &'static str,
    run_id: String,
    started_at: Millis,
    started: Instant,
}

impl RunContext {
    pub fn start(command: &'static str) -> RunContext {
        RunContext {
            command,
            run_id: uuid::Uuid::new_v4().to_string(),
            started_at: now_millis(),
            started: Instant::now(),
        }
    }

    /// The report with the envelope keys. A report that timed its own job
    /// (`elapsed_s`, `events_per_s`) keeps those figures; otherwise the
    /// whole invocation is timed.
    pub fn envelope(&self, report: &Value, figures: &Figures<'_>) -> Value {
        let mut obj = match report {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        let elapsed = obj
            .get("elapsed_s")
            .and_then(Value::as_f64)
            .unwrap_or_else(|| (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
        let per_s = obj
            .get("events_per_s")
            .and_then(Value::as_f64)
            .unwrap_or(if elapsed > 0.0 {
                (figures.events as f64 / elapsed).round()
            } else {
                0.0
            });
        let paths = |files: &[PathBuf]| -> Value {
            files
                .iter()
                .map(|p| Value::String(p.display().to_string()))
                .collect()
        };
        obj.insert("command".into(), self.command.into());
        obj.insert("run_id".into(), self.run_id.clone().into());
        obj.insert("store".into(), figures.store.clone().into());
        obj.insert("started_at".into(), format_millis(self.started_at).into());
        obj.insert("elapsed_s".into(), elapsed.into());
        obj.insert("events_per_s".into(), per_s.into());
        obj.insert("rejects_files".into(), paths(figures.rejects_files));
        obj.insert("conflicts_files".into(), paths(figures.conflicts_files));
        Value::Object(obj)
    }

    /// Writes the metrics file for this run: `summary` is the run's
    /// summary (absent when the command failed before making one).
    pub fn write_metrics(
        &self,
        path: &Path,
        summary: Option<&Value>,
        exit_code: i32,
    ) -> anyhow::Result<()> {
        let now = now_millis() as f64 / 1000.0;
        let last_success = if exit_code == 0 {
            Some(now)
        } else {
            // A failed run keeps the previous success time, so that an alert
            // on its age keeps working through failures.
            previous_last_success(path, self.command)
        };
        let text = metrics_text(
            self.command,
            summary,
            exit_code,
            self.started.elapsed().as_secs_f64(),
            now,
            last_success,
        );
        write_atomically(path, &text)
    }
}

const SUCCESS_METRIC: &str = "chronicle_last_success_timestamp_seconds";

/// The Prometheus text exposition of one run.
fn metrics_text(
    command: &str,
    summary: Option<&Value>,
    exit_code: i32,
    duration_s: f64,
    now: f64,
    last_success: Option<f64>,
) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "{name}{{command=\"{command}\"}} {value}");
    };
    gauge(
        "chronicle_last_run_exit_code",
        "Exit code of the last run (0 clean, 1 problems, 2 fatal, 75 locked).",
        exit_code as f64,
    );
    gauge(
        "chronicle_last_run_duration_seconds",
        "Wall-clock duration of the last run.",
        duration_s,
    );
    gauge(
        "chronicle_last_run_timestamp_seconds",
        "Unix time at which the last run ended.",
        now,
    );
    if let Some(t) = last_success {
        gauge(
            SUCCESS_METRIC,
            "Unix time at which the last run with exit code 0 ended.",
            t,
        );
    }
    let counts = summary.map(counts).unwrap_or_default();
    if !counts.is_empty() {
        let name = "chronicle_last_run_count";
        let _ = writeln!(
            out,
            "# HELP {name} The counts of the last run's summary (see docs/json.md)."
        );
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (count, value) in counts {
            let _ = writeln!(
                out,
                "{name}{{command=\"{command}\",count=\"{count}\"}} {value}"
            );
        }
    }
    out
}

/// The whole-number figures of a summary: its top-level counts, and the
/// number of `problems` where a command lists them.
fn counts(summary: &Value) -> Vec<(String, u64)> {
    let Some(obj) = summary.as_object() else {
        return Vec::new();
    };
    obj.iter()
        .filter_map(|(key, value)| match value {
            Value::Number(n) => n.as_u64().map(|n| (key.clone(), n)),
            Value::Array(items) if key == "problems" => Some((key.clone(), items.len() as u64)),
            _ => None,
        })
        .collect()
}

fn previous_last_success(path: &Path, command: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let series = format!("{SUCCESS_METRIC}{{command=\"{command}\"}} ");
    text.lines()
        .find(|line| line.starts_with(&series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Written beside the target and renamed over it: the textfile collector
/// never reads half a file. The temporary name does not end in `.prom`, so
/// the collector ignores it.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("metrics file {} names no file", path.display()))?;
    let temp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.with_context(|| format!("cannot write metrics file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_carry_counts_and_keep_the_last_success_after_a_failure() {
        let summary = serde_json::json!({
            "read": 10, "imported": 7, "dry_run": false, "elapsed_s": 1.5,
            "problems": ["a", "b"], "per_type": {"x": 1}
        });
        let text = metrics_text("import", Some(&summary), 1, 1.5, 200.0, Some(100.0));
        assert!(text.contains("chronicle_last_run_exit_code{command=\"import\"} 1\n"));
        assert!(text.contains("chronicle_last_success_timestamp_seconds{command=\"import\"} 100\n"));
        assert!(text.contains("chronicle_last_run_count{command=\"import\",count=\"read\"} 10\n"));
        assert!(
            text.contains("chronicle_last_run_count{command=\"import\",count=\"problems\"} 2\n")
        );
        assert!(!text.contains("dry_run") && !text.contains("per_type"));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chronicle.prom");
        write_atomically(&path, &text).unwrap();
        assert_eq!(previous_last_success(&path, "import"), Some(100.0));
        assert_eq!(previous_last_success(&path, "archive"), None);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
