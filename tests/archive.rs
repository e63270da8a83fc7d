//! End-to-end tests of `archive`, `verify` and `replay`, run through the
//! built binary against real stores and real Parquet files: round trips,
//! crashes (injected aborts and a real SIGKILL), concurrent runs, late
//! events, damaged files, and the archive read by DuckDB and pyarrow.
//!
//! Every test runs once per store from `common::store_uris`: SQLite, and
//! MongoDB when `MONGODB_URI` is set; the archive contract tests run once
//! per archive location ([`cases`]): a local folder, and S3 when the test
//! server is up (`CHRONICLE_TEST_S3`, scripts/ci/30-s3.sh).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::archive_target::{archive_targets, Target};
use common::python_with;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_chronicle");
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/archive/events.jsonl");
const ARCHIVED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/archive/archived-before-2016-03.jsonl"
);
const READER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/read_archive.py");

/// The live stores every test runs against, as URIs for a fresh store in
/// `dir` named `name`.
fn store_uris(dir: &Path, name: &str) -> Vec<String> {
    vec![format!(
        "sqlite:{}",
        dir.join(format!("{name}.db")).display()
    )]
}

/// Every (fresh store, archive location) pair a contract test runs on.
fn cases(dir: &Path) -> Vec<(String, Target)> {
    let mut out = Vec::new();
    for (i, target) in archive_targets(dir, "archive").into_iter().enumerate() {
        let name = if i == 0 {
            "live".to_string()
        } else {
            format!("live{i}")
        };
        for store in store_uris(dir, &name) {
            out.push((store, target.clone()));
        }
    }
    out
}

fn run(store: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--store").arg(store).args(args);
    cmd.env_remove("CHRONICLE_FAULT")
        .env_remove("CHRONICLE_STORE")
        .env_remove("CHRONICLE_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run chronicle")
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(store: &str, args: &[&str]) -> Output {
    let out = run(store, args, &[]);
    assert_eq!(code(&out), 0, "chronicle {args:?} failed: {}", stderr(&out));
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn export(store: &str, dir: &Path, extra: &[&str]) -> Vec<String> {
    let out = dir.join(format!("export-{}.jsonl", nanos()));
    let mut args = vec!["-q", "export", "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    ok(store, &args);
    lines(&out)
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A fresh store in `dir` holding the fixture's 240 events (Jan-Apr 2016).
fn seeded(store: &str) {
    ok(store, &["-q", "import", "events", FIXTURE]);
}

/// Events in the archive, as export lines, read back through `replay` into a
/// scratch store.
fn archived_lines(archive: &Target, dir: &Path) -> Vec<String> {
    let scratch = format!(
        "sqlite:{}",
        dir.join(format!("scratch-{}.db", nanos())).display()
    );
    ok(&scratch, &["-q", "replay", "--from", &archive.arg()]);
    export(&scratch, dir, &[])
}

fn ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The invariant after any completed run: every original event exactly once
/// in archive ∪ live, none in both, and `verify` finds nothing wrong.
fn assert_exactly_once(store: &str, archive: &Target, dir: &Path, original: &[String]) {
    let live = export(store, dir, &[]);
    let archived = archived_lines(archive, dir);
    let live_ids: BTreeSet<String> = ids(&live).into_iter().collect();
    let archived_ids: BTreeSet<String> = ids(&archived).into_iter().collect();
    assert_eq!(
        archived_ids.len(),
        archived.len(),
        "an id is archived twice"
    );
    assert!(
        live_ids.is_disjoint(&archived_ids),
        "events both live and archived"
    );
    let mut all: Vec<String> = live.into_iter().chain(archived).collect();
    all.sort();
    let mut expected = original.to_vec();
    expected.sort();
    assert_eq!(
        all, expected,
        "archive ∪ live differs from the original events"
    );
    let out = run(store, &["verify", "--archive", &archive.arg()], &[]);
    assert_eq!(code(&out), 0, "verify: {}", stderr(&out));
}

fn archive_args<'a>(archive: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--json",
        "archive",
        "--before",
        "2016-03-15",
        "--to",
        archive,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn archive_verify_replay_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    for (store, archive) in cases(tmp.path()) {
        let arg = archive.arg();
        seeded(&store);
        let original = export(&store, tmp.path(), &[]);

        let dry = json(&ok(&store, &archive_args(&arg, &["--dry-run"])));
        assert_eq!(dry["partitions"].as_array().unwrap().len(), 2);
        assert_eq!(dry["partitions"][0]["live"], 54);
        assert_eq!(dry["partitions"][0]["per_type"]["payment-completed"], 19);
        assert!(archive.is_empty(), "a dry run wrote files");

        let report = json(&ok(&store, &archive_args(&arg, &[])));
        assert_eq!(report["archived"], 123);
        assert_eq!(report["deleted"], 123);
        assert!(archive.exists("year=2016/month=01/part-00001.parquet"));
        assert!(archive.exists("year=2016/month=02/_manifest.json"));
        assert!(
            !archive.has_folder("year=2016/month=03"),
            "March is not before the cutoff"
        );

        // What was archived is exactly the committed expectation; the live
        // store keeps the rest.
        let expected = lines(Path::new(ARCHIVED));
        assert_eq!(archived_lines(&archive, tmp.path()), expected);
        let live = export(&store, tmp.path(), &[]);
        assert_eq!(live.len(), 240 - 123);
        assert_exactly_once(&store, &archive, tmp.path(), &original);

        // Replay into a fresh store: everything inserted once; again: nothing.
        let fresh = format!(
            "sqlite:{}",
            tmp.path().join(format!("fresh-{}.db", nanos())).display()
        );
        let from = arg.as_str();
        let first = json(&ok(&fresh, &["--json", "replay", "--from", from]));
        assert_eq!(
            (first["inserted"].as_u64(), first["duplicates"].as_u64()),
            (Some(123), Some(0))
        );
        let second = json(&ok(&fresh, &["--json", "replay", "--from", from]));
        assert_eq!(
            (second["inserted"].as_u64(), second["duplicates"].as_u64()),
            (Some(0), Some(123))
        );
        assert_eq!(export(&fresh, tmp.path(), &[]), expected);

        // Filters: one type, a time window.
        let typed = json(&ok(
            &fresh,
            &[
                "--json",
                "replay",
                "--from",
                from,
                "--type",
                "payment-refunded",
                "--since",
                "2016-02-01",
            ],
        ));
        let want = expected
            .iter()
            .filter(|l| {
                l.contains("\"type\":\"payment-refunded\"")
                    && l.contains("\"received_at\":\"2016-02")
            })
            .count() as u64;
        assert_eq!(typed["read"].as_u64(), Some(want));

        // archive -> replay -> archive is the identity: the store keeps
        // its archived ids, so replaying into it inserts nothing, and no
        // part is written again.
        let manifests_before = archive.read_string("year=2016/month=01/_manifest.json");
        let replayed = json(&ok(&store, &["--json", "replay", "--from", from]));
        assert_eq!(replayed["duplicates"], 123);
        assert_eq!(export(&store, tmp.path(), &[]).len(), 117);
        let again = json(&ok(&store, &archive_args(&arg, &[])));
        assert_eq!(
            (
                again["archived"].as_u64(),
                again["already_archived"].as_u64()
            ),
            (Some(0), Some(0))
        );
        assert_eq!(
            archive.read_string("year=2016/month=01/_manifest.json"),
            manifests_before
        );
        assert_exactly_once(&store, &archive, tmp.path(), &original);

        // Status shows the archived partitions beside the live ones.
        let status = json(&ok(&store, &["--json", "status"]));
        assert_eq!(status["live_total"], 117);
        let st = tmp.path().join("chronicle.toml");
        std::fs::write(&st, format!("archive = {:?}\n", arg.as_str())).unwrap();
        let status = json(&ok(
            &store,
            &["--json", "--config", st.to_str().unwrap(), "status"],
        ));
        assert_eq!(status["archive"]["total"], 123);
        assert_eq!(status["archive"]["partitions"][1]["partition"], "2016-02");
        assert_eq!(status["archive"]["partitions"][1]["files"], 1);
    }
}

#[test]
fn keep_live_then_archive_again_deletes_once_identical() {
    let tmp = tempfile::tempdir().unwrap();
    for (store, archive) in cases(tmp.path()) {
        let arg = archive.arg();
        seeded(&store);
        let original = export(&store, tmp.path(), &[]);
        let report = json(&ok(&store, &archive_args(&arg, &["--keep-live"])));
        assert_eq!(
            (report["archived"].as_u64(), report["deleted"].as_u64()),
            (Some(123), Some(0))
        );
        assert_eq!(export(&store, tmp.path(), &[]).len(), 240);
        let out = run(
            &store,
            &["--json", "verify", "--archive", arg.as_str()],
            &[],
        );
        assert_eq!(code(&out), 1);
        assert_eq!(json(&out)["live_and_archived"], 123);
        let report = json(&ok(&store, &archive_args(&arg, &[])));
        assert_eq!(
            (
                report["archived"].as_u64(),
                report["already_archived"].as_u64()
            ),
            (Some(0), Some(123))
        );
        assert_exactly_once(&store, &archive, tmp.path(), &original);
    }
}

#[test]
fn late_events_go_into_a_new_part_and_conflicts_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    for (store, archive) in cases(tmp.path()) {
        let arg = archive.arg();
        seeded(&store);
        ok(&store, &archive_args(&arg, &[]));
        let archived = lines(Path::new(ARCHIVED));

        // One new late event in January, one archived event imported again
        // unchanged, and one archived id imported with other content: the
        // import already counts those two as a duplicate and a conflict
        // (tests/archive_boundary.rs), so only the late event is archived.
        let late = r#"{"id":"00000000-0000-4000-8000-000000000001","meta":{"service":"core","type":"payment-completed","created_at":"2016-01-10T00:00:00.000Z","received_at":"2016-01-10T00:00:00.000Z"},"payload":{"late":true}}"#;
        let same = archived[3].clone();
        let mut changed: Value = serde_json::from_str(&archived[10]).unwrap();
        changed["payload"]["tampered"] = Value::Bool(true);
        let input = tmp.path().join("late.jsonl");
        std::fs::write(&input, format!("{late}\n{same}\n{changed}\n")).unwrap();
        let imported = run(
            &store,
            &["--json", "import", "events", input.to_str().unwrap()],
            &[],
        );
        assert_eq!(code(&imported), 1, "the conflict makes the import exit 1");
        let counts = json(&imported);
        assert_eq!(
            (
                &counts["imported"],
                &counts["duplicates"],
                &counts["conflicts"]
            ),
            (&Value::from(1), &Value::from(1), &Value::from(1))
        );

        let report = json(&ok(&store, &archive_args(&arg, &[])));
        assert_eq!(report["archived"], 1);
        assert_eq!(report["already_archived"], 0);
        assert_eq!(report["conflicts"], 0);
        let jan = &report["partitions"][0];
        assert_eq!(jan["new_files"][0], "part-00002.parquet");
        let manifest: Value =
            serde_json::from_str(&archive.read_string("year=2016/month=01/_manifest.json"))
                .unwrap();
        assert_eq!(manifest["parts"].as_array().unwrap().len(), 2);
        assert_eq!(manifest["parts"][1]["rows"], 1);

        // The conflicting version never became live.
        let live_ids = ids(&export(&store, tmp.path(), &["--until", "2016-03-01"]));
        assert!(live_ids.is_empty(), "{live_ids:?}");
        // The late event is read back in order, merged across both parts.
        let replayed = archived_lines(&archive, tmp.path());
        assert_eq!(replayed.len(), 124);
        let pos = replayed
            .iter()
            .position(|l| l.contains("\"late\":true"))
            .unwrap();
        let jan10 = replayed
            .iter()
            .filter(|l| l.contains("\"received_at\":\"2016-01-0"))
            .count();
        assert_eq!(pos, jan10);
    }
}

#[test]
fn injected_crashes_recover_on_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    for point in [
        "after-lock",
        "mid-write",
        "after-rename",
        "after-verify",
        "after-manifest",
        "before-delete",
        "after-delete",
    ] {
        let dir = tmp.path().join(point);
        std::fs::create_dir_all(&dir).unwrap();
        for (store, archive) in cases(&dir) {
            let arg = archive.arg();
            seeded(&store);
            let original = export(&store, &dir, &[]);
            let out = run(
                &store,
                &archive_args(&arg, &[]),
                &[("CHRONICLE_FAULT", point)],
            );
            assert_ne!(
                code(&out),
                0,
                "{point}: the injected fault did not stop the run"
            );
            assert!(stderr(&out).contains(point), "{point}: {}", stderr(&out));
            if point == "after-rename" || point == "after-manifest" {
                let v = run(&store, &["verify", "--archive", arg.as_str()], &[]);
                assert_eq!(code(&v), 1, "{point}: verify should see the half-done run");
                let text = stderr(&v);
                let expected = if point == "after-rename" {
                    "not listed in the manifest"
                } else {
                    "also live"
                };
                assert!(text.contains(expected), "{point}: {text}");
            }
            // The killed run's lock does not block the next run: its
            // process is gone.
            let again = run(&store, &archive_args(&arg, &[]), &[]);
            assert_eq!(
                code(&again),
                0,
                "{point}: re-run failed: {}",
                stderr(&again)
            );
            let report = json(&again);
            if point == "after-rename" {
                assert_eq!(
                    report["partitions"][0]["adopted_files"][0],
                    "part-00001.parquet"
                );
            }
            assert_exactly_once(&store, &archive, &dir, &original);
            assert_eq!(
                archived_lines(&archive, &dir),
                lines(Path::new(ARCHIVED)),
                "{point}"
            );
        }
    }
}

/// A JSON-lines file of `n` events spread over 2015, for the runs that must
/// last long enough to be interrupted.
fn many_events(path: &Path, n: usize) {
    use std::fmt::Write as _;
    let mut text = String::new();
    let start = 1_420_070_400_000i64; // 2015-01-01
    let step = 365 * 86_400_000i64 / n as i64;
    for i in 0..n {
        let ms = start + i as i64 * step;
        let t = chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let _ = writeln!(
            text,
            r#"{{"id":"{}","meta":{{"service":"bulk","type":"t{}","created_at":"{t}","received_at":"{t}","aggregate_id":"a/{}"}},"payload":{{"i":{i},"text":"some words to make the row a realistic size, number {i}"}}}}"#,
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("bulk:{i}").as_bytes()),
            i % 5,
            i % 1000
        );
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn sigkill_at_random_moments_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("many.jsonl");
    many_events(&input, 60_000);
    for (store, archive) in cases(tmp.path()) {
        let arg = archive.arg();
        ok(&store, &["-q", "import", "events", input.to_str().unwrap()]);
        let original = export(&store, tmp.path(), &[]);
        let mut seed = (nanos() % 1_000_003) as u64;
        for round in 0..3 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let delay = 50 + (seed >> 33) % 1500;
            let mut child = Command::new(BIN)
                .args([
                    "-q",
                    "--store",
                    &store,
                    "archive",
                    "--before",
                    "2016-01-01",
                    "--to",
                ])
                .arg(&arg)
                .env_remove("CHRONICLE_FAULT")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay));
            let killed = child.try_wait().unwrap().is_none();
            if killed {
                child.kill().unwrap(); // SIGKILL
            }
            let status = child.wait().unwrap();
            eprintln!(
                "round {round}: SIGKILL after {delay} ms: {}",
                if killed { "killed" } else { "had finished" }
            );
            assert!(
                killed || status.success(),
                "archive failed on its own: {status}"
            );
        }
        ok(
            &store,
            &[
                "-q",
                "archive",
                "--before",
                "2016-01-01",
                "--to",
                arg.as_str(),
            ],
        );
        assert_exactly_once(&store, &archive, tmp.path(), &original);
        assert!(export(&store, tmp.path(), &[]).is_empty());
    }
}

#[test]
fn a_second_concurrent_run_exits_75_naming_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    for (store, archive) in cases(tmp.path()) {
        let arg = archive.arg();
        seeded(&store);
        let first = Command::new(BIN)
            .args([
                "--json",
                "--store",
                &store,
                "archive",
                "--before",
                "2016-03-15",
                "--to",
            ])
            .arg(&arg)
            .env("CHRONICLE_FAULT", "after-lock:3000")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = first.id();
        std::thread::sleep(Duration::from_millis(1000));
        let second = run(&store, &archive_args(&arg, &[]), &[]);
        assert_eq!(code(&second), 75, "{}", stderr(&second));
        assert!(
            stderr(&second).contains(&format!("pid {pid}")),
            "holder not named: {}",
            stderr(&second)
        );
        let first = first.wait_with_output().unwrap();
        assert_eq!(code(&first), 0, "{}", stderr(&first));
        assert_eq!(json(&first)["archived"], 123);
        // The lock is released: a third run goes ahead.
        ok(&store, &archive_args(&arg, &[]));
    }
}

#[test]
fn an_expired_lock_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    for (store, archive) in cases(tmp.path()) {
        let arg = archive.arg();
        seeded(&store);
        let mut s = chronicle::store::open(&store).unwrap();
        // A holder on another machine whose TTL has already passed.
        s.try_lock(
            "archive",
            "chronicle archive pid 1 on elsewhere (run x)",
            -1000,
        )
        .unwrap();
        let out = ok(&store, &archive_args(&arg, &[]));
        assert_eq!(json(&out)["archived"], 123);
        // A live holder elsewhere blocks.
        s.try_lock(
            "archive",
            "chronicle archive pid 1 on elsewhere (run y)",
            60_000,
        )
        .unwrap();
        let out = run(&store, &archive_args(&arg, &[]), &[]);
        assert_eq!(code(&out), 75);
        assert!(stderr(&out).contains("pid 1 on elsewhere"));
    }
}

#[test]
fn damaged_parts_are_reported_by_verify_and_replay() {
    let tmp = tempfile::tempdir().unwrap();
    for store in store_uris(tmp.path(), "live") {
        seeded(&store);
        let archive = tmp.path().join("archive");
        ok(&store, &archive_args(archive.to_str().unwrap(), &[]));
        let jan = archive.join("year=2016/month=01/part-00001.parquet");
        let feb = archive.join("year=2016/month=02/part-00001.parquet");
        let from = archive.to_str().unwrap();
        let fresh = format!("sqlite:{}", tmp.path().join("fresh.db").display());

        // One flipped byte in the middle of January's part.
        let good = std::fs::read(&jan).unwrap();
        let mut bad = good.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        std::fs::write(&jan, &bad).unwrap();
        let out = run(&store, &["verify", "--archive", from], &[]);
        assert_eq!(code(&out), 1);
        let text = stderr(&out);
        assert!(
            text.contains(&format!("{}: SHA-256 is", jan.display())),
            "{text}"
        );
        let out = run(&fresh, &["replay", "--from", from], &[]);
        assert_eq!(code(&out), 2);
        assert!(stderr(&out).contains("is damaged"), "{}", stderr(&out));

        // February's part truncated: verify says it is not Parquet.
        std::fs::write(&jan, &good).unwrap();
        let whole = std::fs::read(&feb).unwrap();
        std::fs::write(&feb, &whole[..whole.len() / 3]).unwrap();
        let out = run(&store, &["verify", "--archive", from], &[]);
        assert_eq!(code(&out), 1);
        let text = stderr(&out);
        assert!(
            text.contains(&format!("{}: does not open as Parquet", feb.display())),
            "{text}"
        );
        assert!(text.contains("the manifest records"), "{text}");
        let out = run(&fresh, &["replay", "--from", from], &[]);
        assert_eq!(code(&out), 2);
        assert!(
            stderr(&out).contains(&format!("{} is damaged", feb.display())),
            "{}",
            stderr(&out)
        );

        // A missing part and an unlisted file.
        std::fs::remove_file(&feb).unwrap();
        std::fs::copy(&jan, archive.join("year=2016/month=01/part-00009.parquet")).unwrap();
        let out = run(&store, &["verify", "--archive", from], &[]);
        let text = stderr(&out);
        assert!(
            text.contains("listed in the manifest but the file is gone"),
            "{text}"
        );
        assert!(
            text.contains("part-00009.parquet: part file not listed in the manifest"),
            "{text}"
        );
        assert_eq!(code(&out), 1);
    }
}

#[test]
fn duckdb_and_pyarrow_read_what_export_wrote() {
    if !python_with("duckdb, pyarrow") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (store, archive) in cases(tmp.path()) {
        let arg = archive.arg();
        seeded(&store);
        let before = export(&store, tmp.path(), &["--until", "2016-03-01"]);
        ok(&store, &archive_args(&arg, &[]));
        // DuckDB reads S3 only through its httpfs extension, which cannot
        // be installed offline: S3 archives are read by pyarrow's
        // S3FileSystem.
        let engines: &[&str] = if archive.is_s3() {
            &["pyarrow"]
        } else {
            &["duckdb", "pyarrow"]
        };
        for &engine in engines {
            let out = Command::new("python3")
                .args([READER, arg.as_str(), engine])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{engine}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let read: Vec<Value> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let exported: Vec<Value> = before
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(read.len(), 123, "{engine}");
            assert_eq!(
                read, exported,
                "{engine} reads other events than chronicle exported"
            );
        }
    }
}

#[test]
fn daily_partitions_and_mixing_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (store, archive) in cases(tmp.path()) {
        let arg = archive.arg();
        seeded(&store);
        let original = export(&store, tmp.path(), &[]);
        let report = json(&ok(&store, &archive_args(&arg, &["--partition", "day"])));
        // Daily partitions that end by 2016-03-15: every event before it.
        let received = |l: &String| {
            serde_json::from_str::<Value>(l).unwrap()["meta"]["received_at"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let expected = original
            .iter()
            .filter(|l| received(l).as_str() < "2016-03-15")
            .count() as u64;
        assert_eq!(report["archived"].as_u64(), Some(expected));
        assert!(export(&store, tmp.path(), &[])
            .iter()
            .all(|l| received(l).as_str() >= "2016-03-15"));
        assert!(archive.exists("year=2016/month=01/day=01/_manifest.json"));
        assert_exactly_once(&store, &archive, tmp.path(), &original);
        let out = run(&store, &archive_args(&arg, &[]), &[]);
        assert_eq!(code(&out), 2);
        assert!(
            stderr(&out).contains("use the same --partition"),
            "{}",
            stderr(&out)
        );
    }
}
