//! The command line's promises to cron, pipes and careless typing, run
//! through the built binary on real stores: `--quiet` still reports every
//! problem on stderr; a closed stdout ends a command quietly with success;
//! read-only commands never create a store and work on a read-only file;
//! empty or inverted time ranges are refused; a `latest` rebuild reports the
//! rows its table holds.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::{command, fixture, fixture_str, run, store_uris, Run};

const EVENTS: &str = "archive/events.jsonl";
/// Far after every fixture event: "now" for projection runs.
const LATER: &str = "2030-01-01T00:00:00Z";

fn with_store<'a>(store: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--store", store];
    all.extend_from_slice(args);
    all
}

fn ok(dir: &Path, args: &[&str]) -> Run {
    let out = run(dir, args);
    assert_eq!(out.code, 0, "chronicle {args:?}: {}", out.stderr);
    out
}

/// Imports the fixture events into `dir`'s store.
fn seed(dir: &Path, store: &str) {
    ok(
        dir,
        &with_store(store, &["-q", "import", "events", &fixture_str(EVENTS)]),
    );
}

/// A SQLite store in `dir` with the fixture events, January and February
/// 2016 archived into `dir/archive`; returns its URI.
fn archived_store(dir: &Path, extra: &[&str]) -> String {
    let store = format!("sqlite:{}", dir.join("live.db").display());
    seed(dir, &store);
    let mut args = vec![
        "-q",
        "archive",
        "--before",
        "2016-03-01",
        "--lag",
        "0",
        "--to",
        "archive",
    ];
    args.extend_from_slice(extra);
    ok(dir, &with_store(&store, &args));
    store
}

/// Runs with stdout connected to a pipe whose reader has already gone, as
/// under `| head` once head has what it wants. Deterministic: the very
/// first write fails with EPIPE.
fn run_into_closed_pipe(dir: &Path, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    command(dir, args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run chronicle")
}

// ---------------------------------------------------------------- --quiet

#[test]
fn quiet_import_still_reports_rejects_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("csv/legacy-payments.csv"),
        dir.path().join("payments.csv"),
    )
    .unwrap();
    let out = run(
        dir.path(),
        &[
            "--quiet",
            "import",
            "csv",
            "payments.csv",
            "--mapping",
            &fixture_str("csv/legacy-payments.toml"),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stdout, "", "--quiet prints no summary");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("rejected payments.csv:")),
        "each reject sample names the file and line:\n{}",
        out.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("written to payments.csv.rejects.csv")),
        "the rejects file is named:\n{}",
        out.stderr
    );
}

#[test]
fn quiet_import_still_reports_conflicts_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    for store in store_uris(dir.path(), "conflicts") {
        seed(dir.path(), &store);
        let first = std::fs::read_to_string(fixture(EVENTS))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string();
        let mut event: serde_json::Value = serde_json::from_str(&first).unwrap();
        let id = event["id"].as_str().unwrap().to_string();
        event["payload"]["tampered"] = serde_json::json!(true);
        let changed = dir.path().join("changed.jsonl");
        std::fs::write(&changed, format!("{event}\n")).unwrap();
        let out = run(
            dir.path(),
            &with_store(
                &store,
                &["--quiet", "import", "events", changed.to_str().unwrap()],
            ),
        );
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(out.stdout, "");
        let conflict: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("conflict "))
            .collect();
        assert_eq!(conflict.len(), 1, "one line per conflict:\n{}", out.stderr);
        assert!(conflict[0].contains(&id), "{}", conflict[0]);
        assert!(
            !out.stderr.contains("stored:"),
            "--quiet gives the one-line form:\n{}",
            out.stderr
        );
    }
}

#[test]
fn quiet_verify_still_names_each_problem_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let store = archived_store(dir.path(), &[]);
    let jan = dir
        .path()
        .join("archive/year=2016/month=01/part-00001.parquet");
    let mut bytes = std::fs::read(&jan).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&jan, &bytes).unwrap();

    for mode in ["--quiet", "--json"] {
        let out = run(
            dir.path(),
            &with_store(&store, &[mode, "verify", "--archive", "archive"]),
        );
        assert_eq!(out.code, 1, "{mode}: {}", out.stderr);
        let problems: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("month=01/part-00001.parquet"))
            .collect();
        assert!(
            !problems.is_empty(),
            "{mode}: the damaged part is named on stderr:\n{}",
            out.stderr
        );
    }
}

// ------------------------------------------------------------------ pipes

#[test]
fn status_and_export_into_a_closed_pipe_end_quietly_with_success() {
    let dir = tempfile::tempdir().unwrap();
    for store in store_uris(dir.path(), "pipes") {
        seed(dir.path(), &store);
        for args in [
            vec!["status"],
            vec!["--json", "status"],
            vec!["export"],
            vec!["export", "--type", "payment-completed"],
        ] {
            let out = run_into_closed_pipe(dir.path(), &with_store(&store, &args));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{args:?} into a closed pipe: {stderr}"
            );
            assert!(
                !stderr.contains("error") && !stderr.contains("panicked"),
                "{args:?}: a closed pipe is not an error: {stderr}"
            );
        }
    }
}

// ---------------------------------------------- read-only commands, stores

/// A folder holding a `chronicle.toml` with the fixture projections, whose
/// store (`sqlite:store.db`) does not exist.
fn projection_sandbox() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("projections/chronicle.toml"),
        dir.path().join("chronicle.toml"),
    )
    .unwrap();
    dir
}

#[test]
fn read_only_commands_refuse_a_missing_store_and_create_nothing() {
    let dir = projection_sandbox();
    std::fs::create_dir(dir.path().join("archive")).unwrap();
    for store in store_uris(dir.path(), "typo") {
        for args in [
            vec!["status"],
            vec!["export"],
            vec!["verify", "--archive", "archive"],
            vec!["rebuild", "payment_state", "--now", LATER],
            vec!["rebuild", "revenue", "--dry-run", "--now", LATER],
            vec!["project", "feed", "--now", LATER],
        ] {
            let out = run(dir.path(), &with_store(&store, &args));
            assert_eq!(out.code, 2, "{store} {args:?}: {}", out.stderr);
            let shown = store.split('?').next().unwrap();
            let named = if let Some(path) = shown.strip_prefix("sqlite:") {
                out.stderr.contains(path)
            } else {
                out.stderr.contains(shown.rsplit('/').next().unwrap())
            };
            assert!(
                named && out.stderr.contains("does not exist"),
                "{args:?} names the missing store {store}:\n{}",
                out.stderr
            );
        }
        if let Some(path) = store.strip_prefix("sqlite:") {
            assert!(!Path::new(path).exists(), "no store was created at {path}");
        }
    }
    assert!(!dir.path().join("typo.db").exists());
}

#[test]
fn status_creates_no_projection_target() {
    let dir = projection_sandbox();
    seed(dir.path(), "sqlite:store.db");
    let json = ok(dir.path(), &["--json", "status"]).json();
    let revenue = json["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "revenue")
        .unwrap()
        .clone();
    assert_eq!(revenue["checkpoint"], serde_json::Value::Null, "{revenue}");
    assert_eq!(revenue["error"], serde_json::Value::Null, "{revenue}");
    assert!(
        !dir.path().join("reports.db").exists(),
        "status looked at sqlite:reports.db and created it"
    );
}

#[test]
fn sqlite_without_a_path_is_refused_as_store_and_as_projection_target() {
    let dir = projection_sandbox();
    for args in [
        vec!["--store", "sqlite:", "status"],
        vec![
            "--store",
            "sqlite:",
            "import",
            "events",
            &fixture_str(EVENTS),
        ],
        vec!["--store", "sqlite://", "export"],
    ] {
        let out = run(dir.path(), &args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("names no file"),
            "{args:?}: {}",
            out.stderr
        );
    }

    ok(
        dir.path(),
        &[
            "-q",
            "import",
            "events",
            &fixture_str("projections/payments.jsonl"),
        ],
    );
    let config = dir.path().join("chronicle.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("target = \"sqlite:reports.db\"", "target = \"sqlite:\""),
    )
    .unwrap();
    let out = run(dir.path(), &["rebuild", "payment_state", "--now", LATER]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("`sqlite:` names no file"),
        "{}",
        out.stderr
    );
}

/// Makes a file (and its folder) impossible to write for this process:
/// `chattr +i` for root, who ignores permission bits, `chmod` otherwise.
/// Undone on drop so that the temporary folder can be removed.
struct ReadOnly {
    paths: Vec<PathBuf>,
    root: bool,
}

impl ReadOnly {
    fn make(paths: &[&Path]) -> ReadOnly {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let probe = paths[0].parent().unwrap().join(".uid-probe");
        std::fs::write(&probe, "").unwrap();
        let root = std::fs::metadata(&probe).unwrap().uid() == 0;
        std::fs::remove_file(&probe).unwrap();
        for path in paths {
            if root {
                let status = std::process::Command::new("chattr")
                    .arg("+i")
                    .arg(path)
                    .status()
                    .expect("chattr (e2fsprogs) is needed to make a file read-only for root");
                assert!(status.success(), "chattr +i {}", path.display());
            } else {
                let mode = if path.is_dir() { 0o555 } else { 0o444 };
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        }
        ReadOnly {
            paths: paths.iter().map(|p| p.to_path_buf()).collect(),
            root,
        }
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        for path in &self.paths {
            if self.root {
                let _ = std::process::Command::new("chattr")
                    .arg("-i")
                    .arg(path)
                    .status();
            } else {
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
            }
        }
    }
}

#[test]
fn read_only_commands_work_on_a_read_only_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("frozen");
    std::fs::create_dir(&folder).unwrap();
    let db = folder.join("store.db");
    let store = format!("sqlite:{}", db.display());
    seed(dir.path(), &store);
    let expected = std::fs::read_to_string(fixture(EVENTS))
        .unwrap()
        .lines()
        .count();

    // The file and its folder first, while no `-shm` index exists (none
    // can be made), then the file alone.
    for frozen in [vec![db.as_path(), folder.as_path()], vec![db.as_path()]] {
        assert!(
            frozen.len() == 1 || !folder.join("store.db-shm").exists(),
            "the import left its WAL index behind"
        );
        let _guard = ReadOnly::make(&frozen);
        let out = ok(dir.path(), &with_store(&store, &["--json", "status"]));
        assert_eq!(out.json()["live_total"], expected as u64, "{}", out.stdout);
        let exported = dir.path().join("out.jsonl");
        ok(
            dir.path(),
            &with_store(&store, &["export", "-o", exported.to_str().unwrap()]),
        );
        assert_eq!(
            std::fs::read_to_string(&exported).unwrap().lines().count(),
            expected
        );

        // A command that must write says which store refused it.
        let out = run(
            dir.path(),
            &with_store(&store, &["import", "events", &fixture_str(EVENTS)]),
        );
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains(&store), "{}", out.stderr);
    }
}

// ----------------------------------------------------------------- ranges

#[test]
fn inverted_or_empty_time_ranges_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = archived_store(dir.path(), &["--keep-live"]);
    for (since, until) in [("2016-03-01", "2016-02-01"), ("2016-02-01", "2016-02-01")] {
        for args in [
            vec![
                "replay", "--from", "archive", "--since", since, "--until", until,
            ],
            vec!["export", "--since", since, "--until", until],
        ] {
            let out = run(dir.path(), &with_store(&store, &args));
            assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
            assert!(
                out.stderr.contains("is not before --until"),
                "{args:?}: {}",
                out.stderr
            );
            assert_eq!(out.stdout, "", "{args:?} read nothing");
        }
    }
    // A real range still works.
    let out = ok(
        dir.path(),
        &with_store(
            &store,
            &["export", "--since", "2016-02-01", "--until", "2016-03-01"],
        ),
    );
    assert!(out.stdout.lines().count() > 0);
}

// ----------------------------------------------------------------- latest

#[test]
fn latest_rebuild_reports_the_rows_in_its_table() {
    let dir = projection_sandbox();
    ok(
        dir.path(),
        &[
            "-q",
            "import",
            "events",
            &fixture_str("projections/payments.jsonl"),
        ],
    );
    let out = ok(dir.path(), &["rebuild", "payment_state", "--now", LATER]);
    let json = ok(
        dir.path(),
        &["--json", "rebuild", "payment_state", "--now", LATER],
    )
    .json();

    let conn = rusqlite::Connection::open(dir.path().join("reports.db")).unwrap();
    let in_table: u64 = conn
        .query_row("SELECT COUNT(*) FROM payment_state", [], |r| r.get(0))
        .unwrap();
    let events = json["events"].as_u64().unwrap();
    assert!(
        in_table < events,
        "the fixture updates aggregates more than once"
    );
    assert_eq!(json["table_rows"], in_table);
    assert_eq!(json["events_applied"], events);
    assert!(
        out.stdout.contains(&format!(
            "{in_table} rows in sqlite:reports.db table payment_state ({events} events applied)"
        )),
        "{}",
        out.stdout
    );
}

// ------------------------------------------------------ one JSON schema

/// Checks the envelope of docs/json.md and returns the object.
fn check_summary(value: &serde_json::Value, command: &str, store: &str) {
    let obj = value.as_object().unwrap_or_else(|| panic!("{value}"));
    assert_eq!(obj["command"], command, "{value}");
    let run_id = obj["run_id"].as_str().unwrap_or_else(|| panic!("{value}"));
    assert!(uuid::Uuid::parse_str(run_id).is_ok(), "{value}");
    assert_eq!(obj["store"], store, "{value}");
    let started = obj["started_at"]
        .as_str()
        .unwrap_or_else(|| panic!("{value}"));
    assert!(
        started.len() == 24 && started.ends_with('Z') && started.as_bytes()[10] == b'T',
        "started_at is RFC 3339 UTC with milliseconds: {value}"
    );
    for key in ["elapsed_s", "events_per_s"] {
        assert!(
            obj[key].as_f64().is_some_and(|n| n >= 0.0),
            "{command}: {key} is a number: {value}"
        );
    }
    for key in ["rejects_files", "conflicts_files"] {
        assert!(
            obj[key]
                .as_array()
                .is_some_and(|a| a.iter().all(|p| p.is_string())),
            "{command}: {key} is a list of paths: {value}"
        );
    }
    for old in ["seconds", "events_per_second"] {
        assert!(!obj.contains_key(old), "{command}: no `{old}`: {value}");
    }
}

#[test]
fn every_command_prints_one_summary_in_one_schema() {
    let dir = projection_sandbox();
    let d = dir.path();
    let store = "sqlite:store.db";
    std::fs::copy(fixture("csv/legacy-payments.csv"), d.join("payments.csv")).unwrap();

    let out = run(
        d,
        &[
            "--json",
            "import",
            "csv",
            "payments.csv",
            "--mapping",
            &fixture_str("csv/legacy-payments.toml"),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let json = out.json();
    check_summary(&json, "import", store);
    assert_eq!(json["rejects_files"][0], "payments.csv.rejects.csv");
    assert!(json["read"].as_u64().unwrap() > 0);

    let json = ok(
        d,
        &[
            "--json",
            "import",
            "events",
            &fixture_str("projections/payments.jsonl"),
        ],
    )
    .json();
    check_summary(&json, "import", store);
    assert_eq!(json["rejects_files"], serde_json::json!([]));

    let json = ok(d, &["--json", "export", "-o", "all.jsonl"]).json();
    check_summary(&json, "export", store);
    let lines = std::fs::read_to_string(d.join("all.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(json["exported"], lines as u64);

    // To stdout, the events stay clean and the summary goes to stderr.
    let out = ok(d, &["--json", "export"]);
    assert_eq!(out.stdout.lines().count(), lines);
    let summary: serde_json::Value =
        serde_json::from_str(out.stderr.lines().last().unwrap()).unwrap();
    check_summary(&summary, "export", store);
    assert_eq!(summary["exported"], lines as u64);

    let json = ok(d, &["--json", "status"]).json();
    check_summary(&json, "status", store);

    let json = ok(
        d,
        &["--json", "archive", "--before", "2016-02-01", "--lag", "0"],
    )
    .json();
    check_summary(&json, "archive", store);
    let archived = json["archived"].as_u64().unwrap();
    assert!(archived > 0);

    let json = ok(d, &["--json", "verify"]).json();
    check_summary(&json, "verify", store);

    let json = ok(d, &["--store", "sqlite:replayed.db", "--json", "replay"]).json();
    check_summary(&json, "replay", "sqlite:replayed.db");
    assert_eq!(json["read"], archived);

    let json = ok(d, &["--json", "rebuild", "payment_state", "--now", LATER]).json();
    check_summary(&json, "rebuild", store);
    let json = ok(d, &["--json", "project", "payment_state", "--now", LATER]).json();
    check_summary(&json, "project", store);
}

// ------------------------------------------------------- --metrics-file

/// The samples of a Prometheus text file, checking its syntax on the way.
fn samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        assert!(
            series[..name_end]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "metric name: {line}"
        );
        assert!(series.ends_with('}') || !series.contains('{'), "{line}");
        out.insert(
            series.to_string(),
            value.parse().unwrap_or_else(|_| panic!("{line}")),
        );
    }
    out
}

#[test]
fn metrics_file_carries_counts_exit_code_and_last_success() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let prom = d.join("textfile/chronicle-import.prom");
    std::fs::create_dir(d.join("textfile")).unwrap();
    let metrics = prom.to_str().unwrap();

    ok(
        d,
        &[
            "--quiet",
            "--metrics-file",
            metrics,
            "import",
            "events",
            &fixture_str(EVENTS),
        ],
    );
    let first = samples(&std::fs::read_to_string(&prom).unwrap());
    let imported = std::fs::read_to_string(fixture(EVENTS))
        .unwrap()
        .lines()
        .count();
    assert_eq!(
        first[r#"chronicle_last_run_exit_code{command="import"}"#],
        0.0
    );
    assert_eq!(
        first[r#"chronicle_last_run_count{command="import",count="imported"}"#],
        imported as f64
    );
    assert!(first[r#"chronicle_last_run_duration_seconds{command="import"}"#] >= 0.0);
    let success = first[r#"chronicle_last_success_timestamp_seconds{command="import"}"#];
    assert_eq!(
        success,
        first[r#"chronicle_last_run_timestamp_seconds{command="import"}"#]
    );

    // A failed run: its exit code, no counts, and the last success kept.
    let out = run(
        d,
        &[
            "--metrics-file",
            metrics,
            "import",
            "events",
            "missing.jsonl",
        ],
    );
    assert_eq!(out.code, 2);
    let second = samples(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(
        second[r#"chronicle_last_run_exit_code{command="import"}"#],
        2.0
    );
    assert_eq!(
        second[r#"chronicle_last_success_timestamp_seconds{command="import"}"#],
        success
    );
    assert!(!second
        .keys()
        .any(|k| k.starts_with("chronicle_last_run_count")));
    assert_eq!(
        std::fs::read_dir(d.join("textfile")).unwrap().count(),
        1,
        "no temporary file is left beside the metrics file"
    );
}

// ------------------------------------------- help, completions, man pages

#[test]
fn every_subcommand_help_ends_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    for path in [
        "import",
        "import csv",
        "import dump",
        "import events",
        "mapping",
        "mapping draft",
        "export",
        "status",
        "archive",
        "verify",
        "replay",
        "rebuild",
        "project",
        "completions",
        "man",
    ] {
        let mut args: Vec<&str> = path.split(' ').collect();
        args.push("--help");
        let out = ok(dir.path(), &args);
        let tail: Vec<&str> = out
            .stdout
            .trim_end()
            .lines()
            .rev()
            .take_while(|l| *l != "Examples:")
            .collect();
        assert!(
            out.stdout.contains("\nExamples:\n"),
            "{path}: {}",
            out.stdout
        );
        assert!((2..=4).contains(&tail.len()), "{path}: {tail:?}");
        assert!(
            tail.iter().all(|l| l.contains(&format!("chronicle {path}"))
                || l.contains("chronicle --quiet")
                || l.contains("chronicle export")),
            "{path}: every example is a chronicle command: {tail:?}"
        );
    }
}

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = ok(dir.path(), &["completions", shell]);
        for word in ["import", "archive", "rebuild", "metrics-file"] {
            assert!(out.stdout.contains(word), "{shell}: no {word}");
        }
    }
    // bash accepts the script.
    let script = ok(dir.path(), &["completions", "bash"]).stdout;
    let file = dir.path().join("chronicle.bash");
    std::fs::write(&file, script).unwrap();
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p chronicle",
            file.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    // An unknown shell is a usage error.
    assert_eq!(run(dir.path(), &["completions", "tcsh"]).code, 2);
}

#[test]
fn man_prints_the_page_and_writes_one_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let page = ok(dir.path(), &["man"]).stdout;
    assert!(page.contains(".TH chronicle 1"), "{page}");
    assert!(page.contains("archive"));

    let out = dir.path().join("man1");
    ok(dir.path(), &["man", "--dir", out.to_str().unwrap()]);
    for name in [
        "chronicle.1",
        "chronicle-import.1",
        "chronicle-import-csv.1",
        "chronicle-archive.1",
        "chronicle-rebuild.1",
    ] {
        let text =
            std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{name}");
    }
    // The examples reach the man pages too.
    let archive = std::fs::read_to_string(out.join("chronicle-archive.1")).unwrap();
    assert!(
        archive.contains("chronicle archive \\-\\-before 90d"),
        "{archive}"
    );
}
