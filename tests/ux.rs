//! Output for people (#14): `import --dry-run` reads the store and reports
//! what a real run would do, `--show N`, `--limit N`, compact `status`,
//! conflicts shown as a diff.

mod common;

use std::path::Path;

use common::{fixture_str, run, store_uris};

fn import(dir: &Path, store: &str, input: &str, mapping: &str, extra: &[&str]) -> common::Run {
    // Rejects go to the test's folder, never next to the fixtures.
    let rejects = dir.join("rejects.csv").display().to_string();
    let mut args = vec![
        "--json",
        "--store",
        store,
        "import",
        "csv",
        input,
        "--mapping",
        mapping,
        "--rejects",
        &rejects,
    ];
    args.extend_from_slice(extra);
    run(dir, &args)
}

fn counts(r: &common::Run) -> [u64; 6] {
    let j = r.json();
    [
        "read",
        "imported",
        "duplicates",
        "conflicts",
        "rejected",
        "skipped",
    ]
    .map(|k| j[k].as_u64().unwrap_or_else(|| panic!("{k} in {j}")))
}

#[test]
fn dry_run_reports_what_a_real_run_would() {
    let dir = tempfile::tempdir().unwrap();
    let csv = fixture_str("csv/legacy-payments.csv");
    let mapping = fixture_str("csv/legacy-payments.toml");
    for store in store_uris(dir.path(), "dry") {
        // Fresh store: the dry run predicts the first real run.
        let dry = import(dir.path(), &store, &csv, &mapping, &["--dry-run"]);
        let real = import(dir.path(), &store, &csv, &mapping, &[]);
        assert_eq!(counts(&dry), counts(&real), "{store}");
        assert_eq!(counts(&real), [14, 7, 1, 0, 5, 1]);
        // Again: everything is already stored.
        let dry = import(dir.path(), &store, &csv, &mapping, &["--dry-run"]);
        assert_eq!(counts(&dry), [14, 0, 8, 0, 5, 1], "{store}");
        let real = import(dir.path(), &store, &csv, &mapping, &[]);
        assert_eq!(counts(&dry), counts(&real), "{store}");
        // Another amount for one payment: a conflict, reported, not written.
        let text = std::fs::read_to_string(&csv)
            .unwrap()
            .replace("P-1001,42,completed,3.00", "P-1001,42,completed,4.00");
        let changed = dir.path().join("changed.csv");
        std::fs::write(&changed, text).unwrap();
        let changed = changed.to_str().unwrap();
        let dry = import(dir.path(), &store, changed, &mapping, &["--dry-run"]);
        assert_eq!(dry.code, 1);
        assert_eq!(counts(&dry), [14, 0, 7, 1, 5, 1], "{store}");
        assert!(!dir.path().join("changed.csv.conflicts.jsonl").exists());
        let real = import(dir.path(), &store, changed, &mapping, &[]);
        assert_eq!(counts(&dry), counts(&real), "{store}");
        std::fs::remove_file(dir.path().join("changed.csv.conflicts.jsonl")).unwrap();
    }
}

#[test]
fn dry_run_does_not_create_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let r = import(
        dir.path(),
        "sqlite:new.db",
        &fixture_str("csv/clean-payments.csv"),
        &fixture_str("csv/clean-payments.toml"),
        &["--dry-run"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["imported"], 3);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn show_prints_mapped_events_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let r = import(
        dir.path(),
        "sqlite:s.db",
        &fixture_str("csv/legacy-payments.csv"),
        &fixture_str("csv/legacy-payments.toml"),
        &["--dry-run", "--show", "2"],
    );
    let j = r.json();
    let events = j["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["payload"]["amount"], "3.00/EUR");
    assert_eq!(events[0]["meta"]["created_at"], "2016-01-01T12:00:00.000Z");
    let rejects = j["rejects"].as_array().unwrap();
    assert_eq!(rejects.len(), 2);
    assert_eq!(rejects[0]["line"], 8);
    assert!(rejects[1]["reason"].as_str().unwrap().contains("user_id"));
    // The human form: canonical JSON lines, then the rejects.
    let r = run(
        dir.path(),
        &[
            "--store",
            "sqlite:s.db",
            "import",
            "csv",
            &fixture_str("csv/legacy-payments.csv"),
            "--mapping",
            &fixture_str("csv/legacy-payments.toml"),
            "--dry-run",
            "--show",
            "1",
        ],
    );
    let first_event = r
        .stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("an event line");
    let event: serde_json::Value = serde_json::from_str(first_event).unwrap();
    assert_eq!(event["id"], "e8fb33a9-772c-5528-aed1-f2cdc20e4b8b");
    assert!(
        r.stdout.contains("legacy-payments.csv:8: event.created_at"),
        "{}",
        r.stdout
    );
}

#[test]
fn limit_reads_only_the_first_records() {
    let dir = tempfile::tempdir().unwrap();
    let csv = fixture_str("csv/legacy-payments.csv");
    let mapping = fixture_str("csv/legacy-payments.toml");
    for store in store_uris(dir.path(), "limit") {
        let r = import(dir.path(), &store, &csv, &mapping, &["--limit", "3"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(counts(&r), [3, 3, 0, 0, 0, 0]);
        let r = run(dir.path(), &["--json", "--store", &store, "export"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let exported = run(dir.path(), &["--store", &store, "export"]).stdout;
        assert_eq!(exported.lines().count(), 3);
        // Over several inputs the limit is shared.
        let r = run(
            dir.path(),
            &[
                "--json",
                "--store",
                &store,
                "import",
                "csv",
                &csv,
                &csv,
                "--mapping",
                &mapping,
                "--limit",
                "20",
                "--dry-run",
            ],
        );
        assert_eq!(r.json()["read"], 20);
    }
}

#[test]
fn status_is_compact_with_years_runs_and_created_months() {
    let root = tempfile::tempdir().unwrap();
    let csv = fixture_str("csv/legacy-payments.csv");
    let mapping = fixture_str("csv/legacy-payments.toml");
    for (i, store) in store_uris(root.path(), "status").into_iter().enumerate() {
        // Each store gets its own folder, hence its own ./archive.
        let dir = root.path().join(format!("s{i}"));
        std::fs::create_dir(&dir).unwrap();
        let dir = dir.as_path();
        for _ in 0..7 {
            let r = import(dir, &store, &csv, &mapping, &[]);
            assert_eq!(r.code, 1, "{}", r.stderr);
        }
        let events = fixture_str("archive/events.jsonl");
        let r = run(dir, &["--store", &store, "import", "events", &events]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let r = run(
            dir,
            &["--store", &store, "archive", "--before", "2016-03-01"],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);

        let j = run(dir, &["--json", "--store", &store, "status"]);
        let j = if j.code == 0 {
            j.json()
        } else {
            panic!("{}", j.stderr)
        };
        // Runs: the last five of eight, with created_at months, and the
        // mapping as hash and path, never its text.
        assert_eq!(j["import_runs_total"], 8);
        let runs = j["import_runs"].as_array().unwrap();
        assert_eq!(runs.len(), 5);
        let csv_run = &runs[0];
        assert!(csv_run.get("mapping").is_none(), "{csv_run}");
        assert_eq!(csv_run["mapping_path"], mapping);
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&mapping).unwrap()));
        assert_eq!(csv_run["mapping_sha256"], sha);
        assert_eq!(csv_run["created_min"], "2016-01-01T12:00:00.000Z");
        let events_run = &runs[4];
        assert_eq!(events_run["source"], "events");
        assert_eq!(events_run["mapping_sha256"], "");
        // Years: the archived 2016 events, the live ones of this year.
        let years = j["by_year"].as_array().unwrap();
        let archived: u64 = years.iter().map(|y| y["archived"].as_u64().unwrap()).sum();
        assert_eq!(archived, j["archive"]["total"].as_u64().unwrap());
        assert!(archived > 0);
        let live: u64 = years.iter().map(|y| y["live"].as_u64().unwrap()).sum();
        assert_eq!(live, j["live_total"].as_u64().unwrap());
        assert!(years
            .iter()
            .any(|y| y["year"] == "2016" && y["archived"].as_u64() > Some(0)));

        // The human form: compact by default, details on request.
        let text = run(dir, &["--store", &store, "status"]).stdout;
        assert!(text.contains("the last 5 of 8"), "{text}");
        assert!(text.contains("created 2016-01..2016-12"), "{text}");
        assert!(!text.contains("per month"), "{text}");
        assert!(!text.contains("[event]"), "{text}");
        let full = run(
            dir,
            &["--store", &store, "status", "--months", "--runs", "all"],
        )
        .stdout;
        assert!(full.contains("live events per month"), "{full}");
        assert!(full.contains("archived partitions"), "{full}");
        assert_eq!(full.matches("  csv  ").count(), 7, "{full}");
    }
}

#[test]
fn a_conflict_is_shown_as_the_fields_that_differ() {
    let dir = tempfile::tempdir().unwrap();
    let csv = fixture_str("csv/legacy-payments.csv");
    let mapping = fixture_str("csv/legacy-payments.toml");
    let r = run(
        dir.path(),
        &[
            "import",
            "csv",
            &csv,
            "--mapping",
            &mapping,
            "--rejects",
            "r.csv",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let text = std::fs::read_to_string(&csv).unwrap().replace(
        "P-1001,42,completed,3.00,EUR,DE",
        "P-1001,42,completed,4.00,EUR,AT",
    );
    let changed = dir.path().join("changed.csv");
    std::fs::write(&changed, text).unwrap();
    let r = run(
        dir.path(),
        &[
            "import",
            "csv",
            changed.to_str().unwrap(),
            "--mapping",
            &mapping,
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("  payload.amount: stored \"3.00/EUR\", incoming \"4.00/EUR\"\n"),
        "{}",
        r.stderr
    );
    assert!(r
        .stderr
        .contains("  payload.country: stored \"DE\", incoming \"AT\""));
    // Only what differs: no whole documents, no received_at.
    assert!(!r.stderr.contains("stored:   {"), "{}", r.stderr);
    assert!(!r.stderr.contains("received_at"), "{}", r.stderr);
    let block: Vec<&str> = r
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("conflict "))
        .take_while(|l| l.starts_with("conflict ") || l.starts_with("  "))
        .collect();
    assert_eq!(block.len(), 3, "{block:?}");
    // The conflicts file stays complete: both whole versions.
    let line = std::fs::read_to_string(dir.path().join("changed.csv.conflicts.jsonl")).unwrap();
    let c: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(c["stored"]["payload"]["amount"], "3.00/EUR");
    assert_eq!(c["stored"]["payload"]["user_id"], 42);
    assert_eq!(c["incoming"]["payload"]["amount"], "4.00/EUR");
}

/// Records the progress total and the last position of one job.
#[derive(Default)]
struct Recorder(std::sync::Mutex<(Option<u64>, u64)>);

impl chronicle::progress::Progress for Recorder {
    fn start(&self, _label: &str, total: Option<u64>, _unit: chronicle::progress::Unit) {
        *self.0.lock().unwrap() = (total, 0);
    }
    fn set_position(&self, position: u64) {
        self.0.lock().unwrap().1 = position;
    }
}

#[test]
fn the_archive_progress_total_is_what_is_archived() {
    use chronicle::archive::layout::Granularity;
    use chronicle::archive::{archive, ArchiveOptions};
    // Monthly partitions before March, then daily ones before 15 April:
    // a bound on a month's first day and one in the middle of a month.
    for (granularity, before, expected) in [
        (Granularity::Month, "2016-03-01", Some(123u64)),
        (Granularity::Day, "2016-04-15", None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let r = run(
            dir.path(),
            &["import", "events", &fixture_str("archive/events.jsonl")],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let db = dir.path().join("chronicle.db");
        let mut store = chronicle::store::open(&format!("sqlite:{}", db.display())).unwrap();
        let recorder = Recorder::default();
        let options = ArchiveOptions {
            root: chronicle::archive::location::Archive::local(&dir.path().join("archive")),
            before: chronicle::event::parse_time_bound(before).unwrap(),
            lag_ms: 0,
            granularity,
            dry_run: false,
            keep_live: false,
            count_total: true,
            limits: Default::default(),
        };
        let report = archive(store.as_mut(), &options, &recorder).unwrap();
        let (total, position) = *recorder.0.lock().unwrap();
        assert!(report.archived > 0);
        if let Some(expected) = expected {
            assert_eq!(report.archived, expected);
        }
        assert_eq!(total, Some(report.archived), "{before}");
        assert_eq!(position, report.archived, "{before}");
    }
}

/// Records every bar of one job: its label, total and last position.
#[derive(Default)]
struct Bars(std::sync::Mutex<Vec<(String, Option<u64>, u64)>>);

impl chronicle::progress::Progress for Bars {
    fn start(&self, label: &str, total: Option<u64>, _unit: chronicle::progress::Unit) {
        self.0.lock().unwrap().push((label.to_string(), total, 0));
    }
    fn set_position(&self, position: u64) {
        if let Some(bar) = self.0.lock().unwrap().last_mut() {
            bar.2 = position;
        }
    }
}

#[test]
fn the_archive_delete_phase_has_a_bar_with_the_right_total() {
    use chronicle::archive::layout::Granularity;
    use chronicle::archive::{archive, ArchiveOptions};
    for keep_live in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let r = run(
            dir.path(),
            &["import", "events", &fixture_str("archive/events.jsonl")],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let db = dir.path().join("chronicle.db");
        let mut store = chronicle::store::open(&format!("sqlite:{}", db.display())).unwrap();
        let bars = Bars::default();
        let options = ArchiveOptions {
            root: chronicle::archive::location::Archive::local(&dir.path().join("archive")),
            before: chronicle::event::parse_time_bound("2016-05-01").unwrap(),
            lag_ms: 0,
            granularity: Granularity::Month,
            dry_run: false,
            keep_live,
            count_total: true,
            limits: Default::default(),
        };
        let report = archive(store.as_mut(), &options, &bars).unwrap();
        assert_eq!(report.archived, 240);
        let bars = bars.0.into_inner().unwrap();
        let labels: Vec<&str> = bars.iter().map(|b| b.0.as_str()).collect();
        let deleting = "deleting archived events from the live store";
        let recording = "recording archived ids";
        // Archiving, then the delete phase: the records, then the deletes.
        let expected = if keep_live {
            vec!["archiving", recording]
        } else {
            vec!["archiving", recording, deleting]
        };
        assert_eq!(labels, expected, "keep_live {keep_live}");
        for (label, total, position) in &bars[1..] {
            assert_eq!(*total, Some(report.archived), "{label}");
            assert_eq!(*position, report.archived, "{label}");
        }
        if !keep_live {
            assert_eq!(report.deleted, report.archived);
        }
    }
}

#[test]
fn a_partition_of_many_parts_is_deleted_between_its_parts_with_exact_bars() {
    use chronicle::archive::layout::Granularity;
    use chronicle::archive::{archive, ArchiveLimits, ArchiveOptions};
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        &["import", "events", &fixture_str("archive/events.jsonl")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let db = dir.path().join("chronicle.db");
    let uri = format!("sqlite:{}", db.display());
    let mut store = chronicle::store::open(&uri).unwrap();
    let bars = Bars::default();
    // Parts of 20 rows, deletes once 30 ids are queued: January's parts
    // are flushed while the partition is still being scanned.
    let options = ArchiveOptions {
        root: chronicle::archive::location::Archive::local(&dir.path().join("archive")),
        before: chronicle::event::parse_time_bound("2016-03-01").unwrap(),
        lag_ms: 0,
        granularity: Granularity::Month,
        dry_run: false,
        keep_live: false,
        count_total: true,
        limits: ArchiveLimits {
            part_rows: 20,
            delete_batch: 30,
        },
    };
    let report = archive(store.as_mut(), &options, &bars).unwrap();
    assert_eq!(report.archived, 123);
    assert_eq!(report.deleted, 123);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let first = &report.partitions[0];
    assert!(first.new_files.len() >= 3, "{first:?}");
    let bars = bars.0.into_inner().unwrap();
    let deletes: Vec<&(String, Option<u64>, u64)> = bars
        .iter()
        .filter(|b| b.0 == "deleting archived events from the live store")
        .collect();
    assert!(deletes.len() >= 3, "{bars:?}");
    for (_, total, position) in &deletes {
        assert_eq!(Some(*position), *total, "{bars:?}");
    }
    let deleted: u64 = deletes.iter().map(|b| b.2).sum();
    assert_eq!(deleted, 123);
    // The archiving bar comes back after a delete between parts, where it was.
    let resumed = bars
        .windows(3)
        .find(|w| w[1].0.starts_with("deleting") && w[2].0 == "archiving")
        .expect("archiving resumes after a delete phase");
    assert!(resumed[2].2 > 0, "{bars:?}");
    assert_eq!(
        bars.last().unwrap().0,
        "deleting archived events from the live store"
    );
    drop(store);
    // Nothing live before March, every id recorded once, verify clean, and a
    // second run has nothing to do.
    let r = run(
        dir.path(),
        &[
            "--json",
            "verify",
            "--archive",
            &dir.path().join("archive").display().to_string(),
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut store = chronicle::store::open(&uri).unwrap();
    let again = archive(store.as_mut(), &options, &chronicle::progress::NoProgress).unwrap();
    assert_eq!((again.archived, again.deleted), (0, 0));
    let counts = store.archived_counts().unwrap();
    assert_eq!(counts.iter().map(|c| c.ids).sum::<u64>(), 123);
    let live_before_march = store
        .month_counts()
        .unwrap()
        .iter()
        .filter(|m| m.month.as_str() < "2016-03")
        .count();
    assert_eq!(live_before_march, 0);
}

/// Runs chronicle on a pseudo-terminal (util-linux `script`), as a person
/// at a terminal would; returns what the terminal showed.
fn on_terminal(dir: &Path, args: &[&str]) -> String {
    let mut line = common::bin().to_string();
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    let out = std::process::Command::new("script")
        .current_dir(dir)
        .args(["-qec", &line, "/dev/null"])
        .env_remove("CHRONICLE_STORE")
        .env_remove("CHRONICLE_CONFIG")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_archive_delete_bar_shows_on_a_terminal_only_and_never_with_quiet_or_json() {
    let archive_args = ["archive", "--before", "2016-05-01", "--lag", "0"];
    for (flag, shown) in [
        (None, true),
        (Some("--quiet"), false),
        (Some("--json"), false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let r = run(
            dir.path(),
            &["import", "events", &fixture_str("archive/events.jsonl")],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let args: Vec<&str> = flag.into_iter().chain(archive_args).collect();
        let screen = on_terminal(dir.path(), &args);
        assert_eq!(
            screen.contains("deleting archived events from the live store"),
            shown,
            "{flag:?}: {screen}"
        );
        if shown {
            assert!(screen.contains("/240 events"), "{screen}");
        }
    }
    // Not a terminal: no bar, whatever the flags.
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        &["import", "events", &fixture_str("archive/events.jsonl")],
    );
    let r = run(dir.path(), &archive_args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("deleting"), "{}", r.stderr);
}

#[test]
fn the_verify_progress_counts_events_not_partitions() {
    use chronicle::archive::verify::verify;
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        &["import", "events", &fixture_str("archive/events.jsonl")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(dir.path(), &["--json", "archive", "--before", "2016-05-01"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let archived = r.json()["archived"].as_u64().unwrap();
    assert_eq!(archived, 240);
    let recorder = Recorder::default();
    let archive = chronicle::archive::location::Archive::local(&dir.path().join("archive"));
    let report = verify(&archive, None, &recorder).unwrap();
    assert_eq!(report.partitions, 4);
    assert_eq!(*recorder.0.lock().unwrap(), (Some(archived), archived));
}

#[test]
fn dry_run_resolves_repeats_within_the_input_like_a_real_run() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("twice.csv");
    std::fs::write(
        &csv,
        "payment_id;user_id;status;amount;currency;created\n\
         C-1;7;completed;10.00;EUR;2017-06-01T10:00:00+02:00\n\
         C-1;7;completed;10.00;EUR;2017-06-01T10:00:00+02:00\n\
         C-1;7;completed;11.00;EUR;2017-06-01T10:00:00+02:00\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();
    let mapping = fixture_str("csv/clean-payments.toml");
    for store in store_uris(dir.path(), "twice") {
        let dry = import(dir.path(), &store, csv, &mapping, &["--dry-run"]);
        assert_eq!(dry.code, 1);
        assert_eq!(counts(&dry), [3, 1, 1, 1, 0, 0], "{store}");
        let text = run(
            dir.path(),
            &[
                "--store",
                &store,
                "import",
                "csv",
                csv,
                "--mapping",
                &mapping,
                "--dry-run",
            ],
        );
        assert!(
            text.stderr
                .contains("repeats an earlier record of this input with other content"),
            "{}",
            text.stderr
        );
        let real = import(dir.path(), &store, csv, &mapping, &[]);
        assert_eq!(counts(&real), counts(&dry), "{store}");
        std::fs::remove_file(dir.path().join("twice.csv.conflicts.jsonl")).unwrap();
    }
}
