//! Multipart uploads on S3 that a killed `archive` run leaves behind are
//! named by their markers and aborted (src/archive/multipart.rs), checked
//! with boto3's ListMultipartUploads, not chronicle code:
//! - by `verify` and by the next `archive` run, after a SIGKILL mid-upload;
//! - never the upload of the run that holds the archive folder's lock.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chronicle::archive::folder_lock::FolderLock;
use common::archive_target::{fresh_prefix, open, s3_bucket};

const BIN: &str = env!("CARGO_BIN_EXE_chronicle");
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/archive/events.jsonl");

const UPLOADS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/s3_uploads.py");

/// The multipart uploads in progress under `url`, as S3 lists them:
/// (key, upload id), sorted.
fn pending_uploads(url: &str) -> Vec<(String, String)> {
    let out = Command::new("python3")
        .args([UPLOADS, url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "s3_uploads.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Starts an archive run that stops at its first part's first row (the
/// upload started) and kills it there with SIGKILL; returns the uploads it
/// left in progress.
fn kill_mid_upload(dir: &Path, store: &str, url: &str) -> Vec<(String, String)> {
    let mut child = Command::new(BIN)
        .args(["-q", "--store", store, "archive", "--before", "2016-03-15"])
        .args(["--to", url])
        .current_dir(dir)
        .env("CHRONICLE_FAULT", "mid-write:120000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let pending = loop {
        let pending = pending_uploads(url);
        if !pending.is_empty() || started.elapsed() > Duration::from_secs(60) {
            break pending;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(200));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    pending
}

#[test]
fn a_killed_upload_is_named_and_aborted_by_verify_and_by_the_next_run() {
    let Some(bucket) = s3_bucket() else { return };
    if !common::python_with("boto3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let url = fresh_prefix(&bucket, "killed-upload");
    let store = "sqlite:live.db";
    let chronicle = |args: &[&str]| {
        Command::new(BIN)
            .args(["--json", "--store", store])
            .args(args)
            .current_dir(dir)
            .env_remove("CHRONICLE_FAULT")
            .output()
            .unwrap()
    };
    let out = chronicle(&["import", "events", FIXTURE]);
    assert!(out.status.success());

    // verify names and aborts the upload of the killed run.
    let left = kill_mid_upload(dir, store, &url);
    assert_eq!(
        left.len(),
        1,
        "one upload in progress when killed: {left:?}"
    );
    let out = chronicle(&["verify", "--archive", &url]);
    assert_eq!(pending_uploads(&url), [], "verify left the upload pending");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // An aborted upload is cleaned, not a problem.
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let aborted = &report["aborted_uploads"];
    assert_eq!(aborted.as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(aborted[0]["upload_id"], left[0].1.as_str(), "{report}");
    assert_eq!(aborted[0]["pending"], true, "{report}");
    // The upload was of the part's temporary object, which verify names.
    let object = left[0].0.rsplit('/').next().unwrap();
    assert!(object.starts_with(".part-00001.parquet."), "{left:?}");
    let named = aborted[0]["object"].as_str().unwrap();
    assert!(
        named.starts_with(&url) && named.ends_with(object),
        "{report}"
    );
    assert!(stderr.contains(&format!("cleaned: {named}: ")), "{stderr}");

    // The next archive run does the same before it archives.
    let left = kill_mid_upload(dir, store, &url);
    assert_eq!(left.len(), 1, "{left:?}");
    let out = chronicle(&["archive", "--before", "2016-03-15", "--to", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        pending_uploads(&url),
        [],
        "the next run left the upload pending"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let aborted: Vec<&serde_json::Value> = report["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["aborted_uploads"].as_array().unwrap())
        .collect();
    assert_eq!(aborted.len(), 1, "{report}");
    assert_eq!(aborted[0]["upload_id"], left[0].1.as_str(), "{report}");
    assert_eq!(report["archived"], 123, "{report}");

    // Nothing is left: no marker, no temporary object, no problem.
    let out = chronicle(&["verify", "--archive", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["aborted_uploads"], serde_json::json!([]), "{report}");
    let archive = open(&url);
    for month in ["year=2016/month=01", "year=2016/month=02"] {
        let files = archive.list(month).unwrap().files;
        assert!(
            files.iter().all(|f| !f.starts_with('.')),
            "{month}: {files:?}"
        );
    }
}

#[test]
fn verify_leaves_the_upload_of_the_lock_holder_alone() {
    let Some(bucket) = s3_bucket() else { return };
    if !common::python_with("boto3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // verify wants a store.
    let imported = Command::new(BIN)
        .args([
            "-q",
            "--store",
            "sqlite:live.db",
            "import",
            "events",
            FIXTURE,
        ])
        .current_dir(tmp.path())
        .status()
        .unwrap();
    assert!(imported.success());
    let url = fresh_prefix(&bucket, "live-upload");
    let archive = open(&url);
    // This process holds the folder lock as run `liverun` and is uploading
    // a part; run `deadrun` was killed mid-upload (its upload is dropped,
    // never completed nor aborted, as SIGKILL leaves it).
    let lock = FolderLock::take(archive.files(), "test holder", "liverun", 60_000).unwrap();
    let mut live = archive
        .upload("year=2016/month=01/part-00001.parquet", "liverun")
        .unwrap();
    live.write_all(&vec![7u8; 6 << 20]).unwrap();
    let dead = archive
        .upload("year=2016/month=01/part-00002.parquet", "deadrun")
        .unwrap();
    drop(dead);
    assert_eq!(pending_uploads(&url).len(), 2);

    let out = Command::new(BIN)
        .args([
            "--json",
            "--store",
            "sqlite:live.db",
            "verify",
            "--archive",
            &url,
        ])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let aborted = report["aborted_uploads"].as_array().unwrap();
    assert_eq!(aborted.len(), 1, "{report}");
    assert_eq!(aborted[0]["run"], "deadrun", "{report}");
    let left = pending_uploads(&url);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].0.ends_with(".part-00001.parquet.liverun.tmp"),
        "{left:?}"
    );

    // The holder's upload goes on and is published.
    live.write_all(&[8u8; 1000]).unwrap();
    assert!(live.publish().unwrap());
    assert_eq!(pending_uploads(&url), []);
    let stat = archive
        .stat("year=2016/month=01/part-00001.parquet")
        .unwrap()
        .unwrap();
    assert_eq!(stat.len, (6 << 20) + 1000);
    lock.release().unwrap();
}
