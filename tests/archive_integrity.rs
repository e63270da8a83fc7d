//! The archive folder under concurrent writers and hostile manifests, run
//! through the built binary on real SQLite stores and real Parquet files:
//! - one archive folder, one writer: a second store archiving into the same
//!   folder exits 75 naming the holder; a writer whose lock was taken over
//!   loses its manifest update cleanly (exit 75) instead of overwriting it;
//!   a part replaced after its manifest was written is never trusted for the
//!   delete from live;
//! - a manifest cannot steer the archive: entries naming other files are
//!   refused, and edited time ranges or types fail `verify` and hide nothing
//!   from `replay`;
//! - a part whose rows are out of (received_at, id) order, with a manifest
//!   rewritten to match it, fails `verify` and is refused by `replay` and
//!   `rebuild`;
//! - `verify --quiet` still prints every problem on stderr.
//!
//! Races are made deterministic with the `CHRONICLE_FAULT=<point>:<ms>`
//! pause hook of the archive procedure. The concurrent-writer tests run on
//! a local folder and on S3 when the test server is up ([`each_target`]).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::archive_target::{archive_targets, Target};
use serde_json::Value;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/archive/events.jsonl");

fn run(dir: &Path, store: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::command(dir, &["--store", store]);
    cmd.args(args).env_remove("CHRONICLE_FAULT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run chronicle")
}

fn spawn(dir: &Path, store: &str, args: &[&str], fault: &str) -> Child {
    common::command(dir, &["--store", store])
        .args(args)
        .env("CHRONICLE_FAULT", fault)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chronicle")
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(dir: &Path, store: &str, args: &[&str]) -> Output {
    let out = run(dir, store, args, &[]);
    assert_eq!(code(&out), 0, "chronicle {args:?}: {}", stderr(&out));
    out
}

fn sqlite(dir: &Path, name: &str) -> String {
    format!("sqlite:{}", dir.join(format!("{name}.db")).display())
}

fn archive_args<'a>(archive: &'a str, before: &'a str) -> Vec<&'a str> {
    vec!["--json", "archive", "--before", before, "--to", archive]
}

/// Runs `test` once per archive location (a local folder, and S3 when the
/// test server is up), each in a folder of its own for its stores.
fn each_target(test: impl Fn(&Path, &Target)) {
    let tmp = tempfile::tempdir().unwrap();
    for (i, target) in archive_targets(tmp.path(), "archive").iter().enumerate() {
        let dir = tmp.path().join(format!("case{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        eprintln!("archive at {}", target.arg());
        test(&dir, target);
    }
}

/// Every event of a store, as export lines.
fn export(dir: &Path, store: &str) -> Vec<String> {
    let out = dir.join(format!("export-{}.jsonl", uuid::Uuid::new_v4().simple()));
    ok(dir, store, &["-q", "export", "-o", out.to_str().unwrap()]);
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every archived event, read back through `replay` into a scratch store.
fn archived(dir: &Path, archive: &Target) -> Vec<String> {
    let scratch = sqlite(dir, &format!("scratch-{}", uuid::Uuid::new_v4().simple()));
    ok(dir, &scratch, &["-q", "replay", "--from", &archive.arg()]);
    export(dir, &scratch)
}

fn id_of(line: &str) -> String {
    serde_json::from_str::<Value>(line).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `n` events spread evenly over `days` days from `start` (an RFC 3339
/// instant), with ids derived from `tag`.
fn events(path: &Path, tag: &str, n: usize, start: &str, days: i64) {
    let start = chrono::DateTime::parse_from_rfc3339(start)
        .unwrap()
        .timestamp_millis();
    let step = days * 86_400_000 / n as i64;
    let mut text = String::new();
    for i in 0..n {
        let t = chrono::DateTime::from_timestamp_millis(start + i as i64 * step)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ");
        text.push_str(&format!(
            r#"{{"id":"{}","meta":{{"service":"{tag}","type":"t{}","created_at":"{t}","received_at":"{t}"}},"payload":{{"i":{i},"text":"a few words to give the row a realistic size"}}}}"#,
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("{tag}:{i}").as_bytes()),
            i % 3
        ));
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// Two stores with disjoint events in the same months: the archive fixture
/// (240 events, January to April 2016) and 500 others (January, February),
/// and the export lines of both.
fn two_stores(dir: &Path) -> (String, String, Vec<String>) {
    let (a, b) = (sqlite(dir, "a"), sqlite(dir, "b"));
    ok(dir, &a, &["-q", "import", "events", FIXTURE]);
    let input = dir.join("other.jsonl");
    events(&input, "other", 500, "2016-01-01T00:00:00Z", 59);
    ok(
        dir,
        &b,
        &["-q", "import", "events", input.to_str().unwrap()],
    );
    let originals = export(dir, &a).into_iter().chain(export(dir, &b)).collect();
    (a, b, originals)
}

/// Every event of `originals` is exactly once in archive ∪ the live stores,
/// and `verify` finds nothing wrong from either store.
fn assert_exactly_once(dir: &Path, archive: &Target, stores: &[&str], originals: &[String]) {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut all = archived(dir, archive);
    for store in stores {
        all.extend(export(dir, store));
    }
    for line in all {
        found.entry(id_of(&line)).or_default().push(line);
    }
    let twice: Vec<&String> = found
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(
        twice.is_empty(),
        "{} ids found twice, e.g. {:?}",
        twice.len(),
        twice.first()
    );
    let mut expected = originals.to_vec();
    expected.sort();
    let mut got: Vec<String> = found.into_values().flatten().collect();
    got.sort();
    let missing = expected
        .iter()
        .filter(|l| got.binary_search(l).is_err())
        .count();
    assert_eq!(missing, 0, "{missing} events are neither archived nor live");
    assert_eq!(got, expected);
    for store in stores {
        // Stores sharing an archive folder learn each other's archived ids
        // (archived-id records, docs/archive.md) at their next archive run
        // or `verify --repair`; only then do their records match it.
        let archive = &archive.arg();
        run(
            dir,
            store,
            &["verify", "--archive", archive, "--repair"],
            &[],
        );
        let out = run(dir, store, &["verify", "--archive", archive], &[]);
        assert_eq!(code(&out), 0, "verify: {}", stderr(&out));
    }
}

/// Waits until `path` exists, at most `seconds` (the assertions that
/// follow fail if it never does).
fn wait_for(path: &Path, seconds: u64) {
    let started = Instant::now();
    while !path.exists() && started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the file `key` of `archive` exists, at most `seconds`.
fn wait_for_key(archive: &Target, key: &str, seconds: u64) {
    let started = Instant::now();
    while !archive.exists(key) && started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_store_archiving_into_the_same_folder_exits_75_and_nothing_is_lost() {
    each_target(|dir, archive| {
        let arg = archive.arg();
        let (a, b, originals) = two_stores(dir);

        // A holds the folder (paused right after taking its locks) while B,
        // archiving another store, tries the same folder.
        let first = spawn(
            dir,
            &a,
            &archive_args(&arg, "2016-03-15"),
            "after-lock:4000",
        );
        let pid = first.id();
        wait_for_key(archive, "_archive.lock", 10);
        let second = run(dir, &b, &archive_args(&arg, "2016-03-15"), &[]);
        assert_eq!(code(&second), 75, "{}", stderr(&second));
        let message = stderr(&second);
        assert!(
            message.contains(&format!("pid {pid}")),
            "holder not named: {message}"
        );
        assert!(message.contains("archive folder"), "{message}");
        assert_eq!(
            export(dir, &b).len(),
            500,
            "the refused run deleted live events"
        );

        let first = first.wait_with_output().unwrap();
        assert_eq!(code(&first), 0, "{}", stderr(&first));
        // The lock is released: B now archives into the same folder, after A.
        let report: Value =
            serde_json::from_slice(&ok(dir, &b, &archive_args(&arg, "2016-03-15")).stdout).unwrap();
        assert_eq!(report["archived"], 500);
        assert!(!archive.control_exists("_archive.lock"));
        assert_exactly_once(dir, archive, &[&a, &b], &originals);
    });
}

/// The reported failure as it happens, without hooks: two stores start
/// archiving into one folder at the same moment. One may be refused with
/// 75 (and then archives after the other); none loses an event.
#[test]
fn two_stores_started_at_once_never_lose_events() {
    each_target(|dir, archive| {
        let arg = archive.arg();
        let stores = [sqlite(dir, "a"), sqlite(dir, "b")];
        let mut originals = Vec::new();
        for (store, tag) in stores.iter().zip(["a", "b"]) {
            let input = dir.join(format!("{tag}.jsonl"));
            events(&input, tag, 20_000, "2015-01-01T00:00:00Z", 365);
            ok(
                dir,
                store,
                &["-q", "import", "events", input.to_str().unwrap()],
            );
            originals.extend(export(dir, store));
        }
        let children: Vec<Child> = stores
            .iter()
            .map(|s| spawn(dir, s, &archive_args(&arg, "2016-01-01"), "none"))
            .collect();
        let outputs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        // Once both have ended, a refused run archives after the other.
        for (store, out) in stores.iter().zip(outputs) {
            match code(&out) {
                0 => {}
                75 => {
                    assert!(
                        stderr(&out).contains("is locked by chronicle archive pid"),
                        "{}",
                        stderr(&out)
                    );
                    ok(dir, store, &archive_args(&arg, "2016-01-01"));
                }
                other => panic!("archive exited {other}: {}", stderr(&out)),
            }
        }
        for store in &stores {
            assert!(
                export(dir, store).is_empty(),
                "{store} still holds live events"
            );
        }
        assert_exactly_once(dir, archive, &[&stores[0], &stores[1]], &originals);
    });
}

#[test]
fn a_writer_whose_lock_was_taken_over_loses_the_manifest_race_cleanly() {
    each_target(|dir, archive| {
        let arg = archive.arg();
        let (a, b, originals) = two_stores(dir);

        // A stalls between verifying its first part and listing it in the
        // manifest, long enough for its lock to expire (simulated by moving the
        // expiry into the past), and B takes the folder over meanwhile.
        let first = spawn(
            dir,
            &a,
            &archive_args(&arg, "2016-03-15"),
            "after-verify:8000",
        );
        let pid = first.id();
        wait_for_key(archive, "year=2016/month=01/part-00001.parquet", 60);
        std::thread::sleep(Duration::from_millis(1000));
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let expired = serde_json::json!({
            "holder": format!("chronicle archive pid {pid} on {} (run stalled)", host.trim()),
            "host": host.trim(),
            "pid": pid,
            "run": "stalled",
            "acquired_at": "2016-01-01T00:00:00.000Z",
            "expires_at": "2016-01-01T00:10:00.000Z",
        });
        archive.write_string("_archive.lock", &expired.to_string());
        let second = run(dir, &b, &archive_args(&arg, "2016-03-15"), &[]);
        // B leaves A's unlisted part alone (its events are not B's) and says so.
        assert_eq!(code(&second), 1, "{}", stderr(&second));
        assert!(
            stderr(&second).contains("part-00001.parquet: not in the manifest"),
            "{}",
            stderr(&second)
        );

        // A resumes: B's manifest is not the one A read, so A stops with 75
        // rather than overwriting it, and deletes nothing.
        let first = first.wait_with_output().unwrap();
        assert_eq!(code(&first), 75, "{}", stderr(&first));
        assert!(
            stderr(&first).contains("changed by another writer"),
            "{}",
            stderr(&first)
        );
        assert_eq!(
            export(dir, &a).len(),
            240,
            "the losing run deleted live events"
        );

        // A's next run adopts its part and finishes; nothing is lost or doubled.
        let again: Value =
            serde_json::from_slice(&ok(dir, &a, &archive_args(&arg, "2016-03-15")).stdout).unwrap();
        assert_eq!(
            again["partitions"][0]["adopted_files"][0],
            "part-00001.parquet"
        );
        assert_exactly_once(dir, archive, &[&a, &b], &originals);
    });
}

#[test]
fn a_part_replaced_after_its_manifest_is_never_trusted_for_the_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (a, b, _) = two_stores(dir);
    let january = |store: &str| {
        export(dir, store)
            .into_iter()
            .filter(|l| l.contains("\"received_at\":\"2016-01"))
            .count()
    };
    let live_january = january(&a);
    // Another store's January part, archived elsewhere.
    let elsewhere = dir.join("elsewhere");
    ok(
        dir,
        &b,
        &archive_args(elsewhere.to_str().unwrap(), "2016-02-01"),
    );

    // A pauses after listing its January part; meanwhile the part is
    // replaced by the other store's, as a racing writer did before.
    let archive = dir.join("archive");
    let part = archive.join("year=2016/month=01/part-00001.parquet");
    let first = spawn(
        dir,
        &a,
        &archive_args(archive.to_str().unwrap(), "2016-02-01"),
        "after-manifest:4000",
    );
    wait_for(&archive.join("year=2016/month=01/_manifest.json"), 60);
    std::thread::sleep(Duration::from_millis(500));
    let tmp_copy = archive.join("year=2016/month=01/replacement");
    std::fs::copy(
        elsewhere.join("year=2016/month=01/part-00001.parquet"),
        &tmp_copy,
    )
    .unwrap();
    std::fs::rename(&tmp_copy, &part).unwrap();

    let first = first.wait_with_output().unwrap();
    assert_eq!(code(&first), 2, "{}", stderr(&first));
    let message = stderr(&first);
    assert!(message.contains(&part.display().to_string()), "{message}");
    assert!(
        message.contains("not deleted from the live store"),
        "{message}"
    );
    assert_eq!(
        january(&a),
        live_january,
        "January's events were deleted on the strength of a replaced part"
    );
}

#[test]
fn temporary_files_carry_the_run_id_and_a_killed_runs_lock_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (a, _, _) = two_stores(dir);
    let original = export(dir, &a);
    let archive = dir.join("archive");
    let out = run(
        dir,
        &a,
        &archive_args(archive.to_str().unwrap(), "2016-03-15"),
        &[("CHRONICLE_FAULT", "mid-write")],
    );
    assert_ne!(code(&out), 0, "the injected abort did not stop the run");
    // The killed run's lock is still there, and its temporary part is named
    // after its run id.
    let lock: Value =
        serde_json::from_slice(&std::fs::read(archive.join("_archive.lock")).unwrap()).unwrap();
    let run_id = lock["run"].as_str().unwrap().to_string();
    assert!(!run_id.is_empty());
    let temp = archive.join(format!(
        "year=2016/month=01/.part-00001.parquet.{run_id}.tmp"
    ));
    assert!(temp.exists(), "no {}", temp.display());
    // Its process is gone, so the next run takes the lock over at once and
    // removes the leftover.
    ok(
        dir,
        &a,
        &archive_args(archive.to_str().unwrap(), "2016-03-15"),
    );
    assert!(!temp.exists());
    assert!(!archive.join("_archive.lock").exists());
    assert_exactly_once(dir, &Target::Local(archive.clone()), &[&a], &original);
}

/// The fixture archived whole (January to April 2016), with its original
/// export lines.
fn archived_fixture(dir: &Path) -> (String, PathBuf, Vec<String>) {
    let store = sqlite(dir, "live");
    ok(dir, &store, &["-q", "import", "events", FIXTURE]);
    let original = export(dir, &store);
    let archive = dir.join("archive");
    ok(
        dir,
        &store,
        &archive_args(archive.to_str().unwrap(), "2016-05-01"),
    );
    assert!(export(dir, &store).is_empty());
    (store, archive, original)
}

fn manifest_path(archive: &Path, month: &str) -> PathBuf {
    archive.join(format!("year=2016/month={month}/_manifest.json"))
}

fn read_manifest(archive: &Path, month: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(manifest_path(archive, month)).unwrap()).unwrap()
}

/// Rewrites January's first manifest entry through `edit`.
fn edit_january(archive: &Path, edit: impl FnOnce(&mut Value)) {
    let mut manifest = read_manifest(archive, "01");
    edit(&mut manifest["parts"][0]);
    std::fs::write(
        manifest_path(archive, "01"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

fn verify(dir: &Path, store: &str, archive: &Path) -> Output {
    run(
        dir,
        store,
        &["verify", "--archive", archive.to_str().unwrap()],
        &[],
    )
}

fn replay(dir: &Path, archive: &Path, extra: &[&str]) -> Output {
    let fresh = sqlite(dir, &format!("fresh-{}", uuid::Uuid::new_v4().simple()));
    let mut args = vec!["--json", "replay", "--from", archive.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(dir, &fresh, &args, &[])
}

#[test]
fn manifest_entries_naming_other_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (store, archive, _) = archived_fixture(dir);
    let good = std::fs::read(manifest_path(&archive, "01")).unwrap();
    let april = read_manifest(&archive, "04")["parts"][0].clone();
    let january = read_manifest(&archive, "01")["parts"][0].clone();
    std::os::unix::fs::symlink(
        archive.join("year=2016/month=04/part-00001.parquet"),
        archive.join("year=2016/month=01/part-00002.parquet"),
    )
    .unwrap();
    for (file, expected) in [
        ("/etc/passwd", "not a part file of this folder"),
        ("../../../../etc/passwd", "not a part file of this folder"),
        (
            "../month=04/part-00001.parquet",
            "not a part file of this folder",
        ),
        ("part-00002.parquet", "not a plain file"),
    ] {
        // April's part under January's name, with its true checksum, rows
        // and digest and a time range edited to lie inside January.
        std::fs::write(manifest_path(&archive, "01"), &good).unwrap();
        edit_january(&archive, |entry| {
            *entry = april.clone();
            entry["file"] = file.into();
            entry["min_received_at"] = january["min_received_at"].clone();
            entry["max_received_at"] = january["max_received_at"].clone();
        });
        let out = verify(dir, &store, &archive);
        assert_eq!(code(&out), 1, "{file}: {}", stderr(&out));
        let named = format!(
            "{}: entry `{file}`: {expected}",
            manifest_path(&archive, "01").display()
        );
        assert!(stderr(&out).contains(&named), "{file}: {}", stderr(&out));
        let out = replay(dir, &archive, &[]);
        assert_eq!(
            code(&out),
            2,
            "{file}: replay read it: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            stderr(&out).contains(&format!("entry `{file}`: {expected}")),
            "{file}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_part_copied_in_from_another_partition_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (store, archive, _) = archived_fixture(dir);
    // April's part copied into January's folder under a part name, listed
    // with its true checksum, rows and digest and a January time range.
    let copy = archive.join("year=2016/month=01/part-00002.parquet");
    std::fs::copy(archive.join("year=2016/month=04/part-00001.parquet"), &copy).unwrap();
    let january = read_manifest(&archive, "01")["parts"][0].clone();
    let mut entry = read_manifest(&archive, "04")["parts"][0].clone();
    entry["file"] = "part-00002.parquet".into();
    entry["min_received_at"] = january["min_received_at"].clone();
    entry["max_received_at"] = january["max_received_at"].clone();
    let mut manifest = read_manifest(&archive, "01");
    manifest["parts"].as_array_mut().unwrap().push(entry);
    std::fs::write(
        manifest_path(&archive, "01"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();

    let out = verify(dir, &store, &archive);
    assert_eq!(code(&out), 1);
    let named = format!("{}: holds rows received from 2016-04", copy.display());
    assert!(stderr(&out).contains(&named), "{}", stderr(&out));
    let out = replay(dir, &archive, &[]);
    assert_eq!(code(&out), 2, "replay read April's rows as January's");
    assert!(
        stderr(&out).contains("outside the partition [2016-01-01"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_edited_time_range_fails_verify_and_hides_no_event_from_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (store, archive, original) = archived_fixture(dir);
    let received = |l: &String| {
        serde_json::from_str::<Value>(l).unwrap()["meta"]["received_at"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let early = original
        .iter()
        .filter(|l| received(l).as_str() < "2016-01-20")
        .count();
    assert!(early > 0);
    edit_january(&archive, |entry| {
        entry["min_received_at"] = "2016-01-25T00:00:00.000Z".into();
        entry["max_received_at"] = "2016-01-31T00:00:00.000Z".into();
    });
    let out = verify(dir, &store, &archive);
    assert_eq!(code(&out), 1);
    let part = archive.join("year=2016/month=01/part-00001.parquet");
    for field in ["min_received_at 2016-01-25", "max_received_at 2016-01-31"] {
        assert!(
            stderr(&out).contains(&format!("{}: ", part.display())) && stderr(&out).contains(field),
            "{field}: {}",
            stderr(&out)
        );
    }
    let out = replay(dir, &archive, &["--until", "2016-01-20"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["read"].as_u64(), Some(early as u64));
    assert_eq!(report["inserted"].as_u64(), Some(early as u64));
}

#[test]
fn edited_types_fail_verify_and_hide_no_event_from_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (store, archive, original) = archived_fixture(dir);
    let refunds = original
        .iter()
        .filter(|l| {
            l.contains("\"type\":\"payment-refunded\"") && l.contains("\"received_at\":\"2016-01")
        })
        .count();
    assert!(refunds > 0);
    edit_january(&archive, |entry| {
        let types = entry["types"].as_object_mut().unwrap();
        let n = types.remove("payment-refunded").unwrap();
        types.insert("payment-reversed".into(), n);
    });
    let out = verify(dir, &store, &archive);
    assert_eq!(code(&out), 1);
    let part = archive.join("year=2016/month=01/part-00001.parquet");
    assert!(
        stderr(&out).contains(&format!("{}: holds types", part.display())),
        "{}",
        stderr(&out)
    );
    let out = replay(
        dir,
        &archive,
        &["--type", "payment-refunded", "--until", "2016-02-01"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["read"].as_u64(), Some(refunds as u64));
}

#[test]
fn verify_quiet_still_prints_each_problem_on_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (store, archive, _) = archived_fixture(dir);
    let jan = archive.join("year=2016/month=01/part-00001.parquet");
    let mut bytes = std::fs::read(&jan).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&jan, bytes).unwrap();
    let stray = archive.join("year=2016/month=02/part-00007.parquet");
    std::fs::copy(
        archive.join("year=2016/month=02/part-00001.parquet"),
        &stray,
    )
    .unwrap();

    let out = run(
        dir,
        &store,
        &["--quiet", "verify", "--archive", archive.to_str().unwrap()],
        &[],
    );
    assert_eq!(code(&out), 1);
    assert!(out.stdout.is_empty(), "--quiet printed a result");
    let text = stderr(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("{}: SHA-256 is", jan.display()))),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("{}: part file not listed", stray.display()))),
        "{text}"
    );
    // One line per problem, each naming a file of the archive.
    let json = run(
        dir,
        &store,
        &["--json", "verify", "--archive", archive.to_str().unwrap()],
        &[],
    );
    let problems = serde_json::from_slice::<Value>(&json.stdout).unwrap()["problems"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(lines.len(), problems, "{text}");
    let root = archive.display().to_string();
    assert!(lines.iter().all(|l| l.contains(&root)), "{text}");
}

/// A part whose rows are not in (received_at, id) order, with a manifest
/// that matches it (its checksum and size rewritten; rows, time range,
/// types and id digest are those of the sorted part): `verify` names it,
/// and `replay` and a `rebuild` folding partitions apart refuse it, naming
/// the events, instead
/// of reading on (the merges, the repeated-id check and the folds all rely
/// on the order). chronicle writes parts sorted; this one is made by hand.
#[test]
fn a_part_out_of_order_fails_verify_and_is_refused_by_replay_and_rebuild() {
    if !common::python_with("pyarrow") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (store, archive, _) = archived_fixture(dir);
    let part = archive.join("year=2016/month=02/part-00001.parquet");
    let reversed = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, pyarrow.parquet as pq\n\
             t = pq.read_table(sys.argv[1])\n\
             pq.write_table(t.take(list(range(t.num_rows - 1, -1, -1))), sys.argv[1], compression='zstd')",
            part.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(reversed.success());
    let bytes = std::fs::read(&part).unwrap();
    let mut manifest = read_manifest(&archive, "02");
    manifest["parts"][0]["sha256"] =
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)).into();
    manifest["parts"][0]["bytes"] = bytes.len().into();
    std::fs::write(
        manifest_path(&archive, "02"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();

    // verify names the part (every other fact of it matches its entry).
    let out = verify(dir, &store, &archive);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("month=02/part-00001.parquet")
            && stderr(&out).contains("out of (received_at, id) order"),
        "{}",
        stderr(&out)
    );

    let out = replay(dir, &archive, &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("out of (received_at, id) order"),
        "{}",
        stderr(&out)
    );

    let config = dir.join("chronicle.toml");
    std::fs::write(
        &config,
        format!(
            "archive = {:?}\n[projections.counts]\nkind = \"table\"\ntypes = [\"payment-completed\", \"payment-refunded\", \"user-registered\"]\ntarget = {:?}\ngroup = [{{ name = \"type\", value = \"meta.type\" }}]\ncolumns = [{{ name = \"events\", value = \"count()\" }}]\n",
            archive.to_str().unwrap(),
            format!("sqlite:{}", dir.join("reports.db").display()),
        ),
    )
    .unwrap();
    let out = run(
        dir,
        &store,
        &[
            "--config",
            config.to_str().unwrap(),
            "rebuild",
            "counts",
            "--now",
            "2030-01-01T00:00:00Z",
        ],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("out of (received_at, id) order"),
        "{}",
        stderr(&out)
    );
}
