//! What only object storage has to prove, against the S3 test server
//! (moto, started by scripts/ci/30-s3.sh; skipped with a notice when
//! `CHRONICLE_TEST_S3` is unset outside CI). The archive contract itself
//! (archive, verify, replay, late events, kill and re-run, two writers, an
//! independent pyarrow reader) runs on S3 in tests/archive.rs and
//! tests/archive_integrity.rs.
//! - control files are compared and swapped with conditional requests, and
//!   a published part is never replaced;
//! - `rebuild` and `project` read an archive on S3, configured by an
//!   `[archive]` table (endpoint, region, allow_http) or `CHRONICLE_ARCHIVE`;
//! - credentials never appear in any output, record or stored object;
//! - a named AWS profile (`AWS_PROFILE`, its config and credentials files)
//!   supplies credentials, region and endpoint when the environment does
//!   not;
//! - a part replaced after archiving is never read as archived;
//! - (killed runs' multipart uploads: tests/archive_s3_uploads.rs).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chronicle::archive::folder_lock::FolderLock;
use chronicle::exit::{status_for_error, ExitStatus};
use common::archive_target::{archive_targets, fresh_prefix, open, s3_bucket, Target};

const BIN: &str = env!("CARGO_BIN_EXE_chronicle");
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/archive/events.jsonl");
const LATER: &str = "2030-01-01T00:00:00Z";

#[test]
fn control_files_and_parts_on_s3_are_conditional() {
    let Some(bucket) = s3_bucket() else { return };
    let url = fresh_prefix(&bucket, "control");
    let (a, b) = (open(&url), open(&url));
    let (fa, fb) = (a.files(), b.files());
    // Created only if absent; replaced and deleted only if unchanged.
    let v1 = fa.create("x.json", b"one").unwrap().unwrap();
    assert_eq!(fb.create("x.json", b"other").unwrap(), None);
    let (bytes, read) = fb.read("x.json").unwrap().unwrap();
    assert_eq!((bytes.as_slice(), &read), (&b"one"[..], &v1));
    let v2 = fb.replace("x.json", &read, b"two").unwrap().unwrap();
    assert_eq!(fa.replace("x.json", &v1, b"three").unwrap(), None);
    assert!(!fa.delete("x.json", &v1).unwrap());
    assert_eq!(fa.read("x.json").unwrap().unwrap().0, b"two");
    assert!(fb.delete("x.json", &v2).unwrap());
    assert!(fa.read("x.json").unwrap().is_none());
    assert_eq!(fa.replace("x.json", &v2, b"four").unwrap(), None);
    // A deleted control file can be created again, once.
    let v3 = fa.create("x.json", b"five").unwrap().unwrap();
    assert_eq!(fb.create("x.json", b"six").unwrap(), None);
    assert_eq!(fb.read("x.json").unwrap().unwrap(), (b"five".to_vec(), v3));

    // The folder lock: one holder, the second is refused with exit 75.
    let first = FolderLock::take(fa, "holder a", "a", 60_000).unwrap();
    let err = FolderLock::take(fb, "holder b", "b", 60_000).err().unwrap();
    assert_eq!(status_for_error(&err), ExitStatus::Locked);
    assert!(err.to_string().contains("holder a"), "{err}");
    first.release().unwrap();
    FolderLock::take(fb, "holder b", "b", 60_000)
        .unwrap()
        .release()
        .unwrap();

    // Parts: streamed (several multipart chunks), published only under a
    // free name, never replacing one; nothing visible before publishing.
    let big: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut upload = a
        .upload("year=2016/month=01/part-00001.parquet", "ra")
        .unwrap();
    upload.write_all(&big).unwrap();
    assert!(!a
        .list("year=2016/month=01")
        .unwrap()
        .files
        .iter()
        .any(|f| f == "part-00001.parquet"));
    assert!(upload.publish().unwrap());
    let mut other = b
        .upload("year=2016/month=01/part-00001.parquet", "rb")
        .unwrap();
    other.write_all(b"another writer's part").unwrap();
    assert!(!other.publish().unwrap(), "a part was replaced");
    let stored = a
        .top()
        .join("year=2016/month=01/part-00001.parquet")
        .sha256()
        .unwrap();
    assert_eq!(stored, hex_sha256(&big));
    // No temporary object is left behind by either writer.
    assert_eq!(
        a.list("year=2016/month=01").unwrap().files,
        ["part-00001.parquet"]
    );
    // An abandoned upload leaves nothing.
    let mut dropped = a
        .upload("year=2016/month=02/part-00001.parquet", "rc")
        .unwrap();
    dropped.write_all(&big[..1000]).unwrap();
    dropped.abandon();
    assert!(a.list("year=2016/month=02").unwrap().files.is_empty());

    // A marker whose upload is gone already (completed or aborted before
    // the marker was deleted) is removed all the same, and reported.
    let marker = "year=2016/month=03/.part-00001.parquet.upload.deadrun.tmp";
    let record = r#"{"run": "deadrun", "object": "year=2016/month=03/.part-00001.parquet.deadrun.tmp", "upload_id": "no-such-upload"}"#;
    fa.create(marker, record.as_bytes()).unwrap().unwrap();
    let aborted = a.remove_temp(marker).unwrap().unwrap();
    assert_eq!(
        (aborted.run.as_str(), aborted.upload_id.as_str()),
        ("deadrun", "no-such-upload")
    );
    // Nothing was pending, so nothing is reported as aborted.
    assert!(!aborted.pending);
    assert!(a.stat(marker).unwrap().is_none());
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/projections")
}

/// A folder with the projection fixtures' config and store, its archive
/// at `archive` (a folder or an S3 URL, written into chronicle.toml as an
/// `[archive]` table for S3).
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new(archive: &Target) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let config = std::fs::read_to_string(fixtures().join("chronicle.toml")).unwrap();
        let config = match archive {
            Target::Local(path) => {
                config.replace("archive = \"archive\"", &format!("archive = {:?}", path))
            }
            // The endpoint comes from the table here, not the environment
            // (which `run` clears of it).
            Target::S3(url) => config.replace(
                "archive = \"archive\"\n",
                "",
            ) + &format!(
                "\n[archive]\nlocation = {url:?}\nendpoint = {:?}\nregion = \"us-east-1\"\nallow_http = true\n",
                std::env::var("AWS_ENDPOINT_URL").unwrap()
            ),
        };
        std::fs::write(dir.path().join("chronicle.toml"), config).unwrap();
        Sandbox { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("CHRONICLE_STORE")
            .env_remove("CHRONICLE_CONFIG")
            .env_remove("CHRONICLE_ARCHIVE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ALLOW_HTTP")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "chronicle {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn dump(&self, table: &str) -> Vec<String> {
        let conn = rusqlite::Connection::open(self.dir.path().join("reports.db")).unwrap();
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1, 2"))
            .unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join(","))
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    }
}

#[test]
fn rebuild_and_project_read_an_s3_archive_like_a_local_one() {
    let tmp = tempfile::tempdir().unwrap();
    let targets = archive_targets(tmp.path(), "archive");
    if targets.len() < 2 {
        return;
    }
    let mut dumps = Vec::new();
    for target in &targets {
        let s = Sandbox::new(target);
        s.ok(&[
            "-q",
            "import",
            "events",
            fixtures().join("payments.jsonl").to_str().unwrap(),
        ]);
        s.ok(&["-q", "archive", "--before", "2016-03-01", "--lag", "0"]);
        let dry: serde_json::Value = serde_json::from_str(&s.ok(&[
            "--json",
            "rebuild",
            "revenue",
            "--dry-run",
            "--now",
            LATER,
        ]))
        .unwrap();
        assert!(dry["from_archive"].as_u64().unwrap() > 10, "{dry}");
        assert!(dry["from_live"].as_u64().unwrap() > 10, "{dry}");
        s.ok(&["-q", "rebuild", "revenue", "--now", "2016-03-15T00:00:00Z"]);
        s.ok(&["-q", "project", "revenue", "--now", LATER]);
        s.ok(&["-q", "rebuild", "by_country", "--now", LATER]);
        let status: serde_json::Value = serde_json::from_str(&s.ok(&["--json", "status"])).unwrap();
        assert_eq!(status["archive"]["folder"], target.arg().as_str());
        dumps.push((s.dump("monthly_revenue"), s.dump("by_country")));
    }
    assert!(!dumps[0].0.is_empty());
    assert_eq!(dumps[0], dumps[1], "the S3 archive reads differently");
}

/// Values that must never be printed, logged or stored.
const SECRET_KEY: &str = "chronicle-SECRET-key-4f1a9";
const SESSION_TOKEN: &str = "chronicle-SESSION-token-77c2";

fn run_with_secrets(dir: &Path, args: &[&str], endpoint: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("CHRONICLE_STORE")
        .env_remove("CHRONICLE_CONFIG")
        .env("AWS_ACCESS_KEY_ID", "chronicle-access-id")
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("RUST_LOG", "trace")
        .output()
        .unwrap()
}

fn assert_no_secret(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in [SECRET_KEY, SESSION_TOKEN] {
        assert!(!text.contains(secret), "{what} shows a credential:\n{text}");
    }
}

#[test]
fn credentials_never_appear_in_any_output() {
    let Some(bucket) = s3_bucket() else { return };
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let url = fresh_prefix(&bucket, "secrets");
    let store = "sqlite:live.db";
    let mut outputs = Vec::new();
    let mut go = |args: &[&str], endpoint: &str| {
        let out = run_with_secrets(dir, args, endpoint);
        outputs.push((format!("{args:?}"), out));
    };
    go(&["--store", store, "import", "events", FIXTURE], &endpoint);
    for json in [true, false] {
        let mut args = if json { vec!["--json"] } else { vec![] };
        args.extend(["--store", store]);
        fn with<'a>(args: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
            let mut a = args.to_vec();
            a.extend_from_slice(extra);
            a
        }
        go(
            &with(&args, &["archive", "--before", "2016-03-15", "--to", &url]),
            &endpoint,
        );
        go(&with(&args, &["verify", "--archive", &url]), &endpoint);
        go(&with(&args, &["status", "--archive", &url]), &endpoint);
        go(&with(&args, &["replay", "--from", &url]), &endpoint);
        go(
            &with(&args, &["archive", "--dry-run", "--to", &url]),
            &endpoint,
        );
        // Failures: a bucket that does not exist, a server that is down.
        go(
            &with(
                &args,
                &["verify", "--archive", "s3://no-such-bucket-chronicle/x"],
            ),
            &endpoint,
        );
        go(
            &with(&args, &["replay", "--from", &url]),
            "http://127.0.0.1:9",
        );
    }
    let status_ok = outputs.iter().filter(|(_, o)| o.status.success()).count();
    assert!(status_ok >= 8, "too few runs succeeded to prove anything");
    let failed = outputs.iter().filter(|(_, o)| !o.status.success()).count();
    assert!(failed >= 2, "the failure cases did not fail");
    for (what, out) in &outputs {
        assert_no_secret(&format!("stdout of {what}"), &out.stdout);
        assert_no_secret(&format!("stderr of {what}"), &out.stderr);
    }
    // The store's run records and every control file in the archive.
    assert_no_secret("the store", &std::fs::read(dir.join("live.db")).unwrap());
    let archive = open(&url);
    for key in [
        "_archive.lock",
        "year=2016/month=01/_manifest.json",
        "year=2016/month=02/_manifest.json",
    ] {
        if let Some((bytes, _)) = archive.files().read(key).unwrap() {
            assert_no_secret(key, &bytes);
        }
    }
    assert!(archive
        .files()
        .read("year=2016/month=01/_manifest.json")
        .unwrap()
        .is_some());
}

#[test]
fn a_named_aws_profile_supplies_credentials_region_and_endpoint() {
    let Some(bucket) = s3_bucket() else { return };
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (credentials, config) = (dir.join("aws-credentials"), dir.join("aws-config"));
    // The AWS CLI's section names: `[NAME]` in credentials, `[profile
    // NAME]` in config; a `[NAME]` section in config is not the profile.
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = not-this-one\naws_secret_access_key = not-this-one\n\n\
             [chronicle-test]\naws_access_key_id = chronicle-profile-id\n\
             aws_secret_access_key = {SECRET_KEY}\naws_session_token = {SESSION_TOKEN}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            "[chronicle-test]\nendpoint_url = http://127.0.0.1:9\n\n\
             [profile chronicle-test]\nregion = us-east-1\nendpoint_url = {endpoint}\n"
        ),
    )
    .unwrap();
    let url = fresh_prefix(&bucket, "profile");
    let run = |args: &[&str], profile: &str| {
        let mut cmd = Command::new(BIN);
        cmd.args(["--store", "sqlite:live.db"])
            .args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .env("AWS_PROFILE", profile)
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_ALLOW_HTTP", "true")
            .env("RUST_LOG", "trace");
        // Nothing but the profile says where S3 is and who is asking.
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "CHRONICLE_STORE",
            "CHRONICLE_CONFIG",
            "CHRONICLE_ARCHIVE",
        ] {
            cmd.env_remove(var);
        }
        let out = cmd.output().unwrap();
        assert_no_secret(&format!("stdout of {args:?}"), &out.stdout);
        assert_no_secret(&format!("stderr of {args:?}"), &out.stderr);
        out
    };
    let ok = |args: &[&str]| {
        let out = run(args, "chronicle-test");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    ok(&["-q", "import", "events", FIXTURE]);
    let out = ok(&["--json", "archive", "--before", "2016-03-15", "--to", &url]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["archived"], 123, "{report}");
    ok(&["--json", "verify", "--archive", &url]);
    ok(&["--json", "status", "--archive", &url]);
    let out = ok(&["--json", "replay", "--from", &url]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["read"], 123, "{report}");
    // What was written is on the server, where the profile pointed.
    assert!(Target::S3(url.clone()).exists("year=2016/month=01/part-00001.parquet"));

    // A profile that neither file has is an error naming it, not a fall
    // back to other credentials.
    let out = run(&["verify", "--archive", &url], "no-such-profile");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`no-such-profile`"), "{stderr}");
}

#[test]
fn chronicle_archive_variable_names_an_s3_archive() {
    let Some(bucket) = s3_bucket() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let url = fresh_prefix(&bucket, "env");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .current_dir(tmp.path())
            .env_remove("CHRONICLE_STORE")
            .env_remove("CHRONICLE_CONFIG")
            .env("CHRONICLE_ARCHIVE", &url)
            .output()
            .unwrap()
    };
    assert!(run(&["-q", "import", "events", FIXTURE]).status.success());
    let out = run(&["--json", "archive", "--before", "2016-03-15"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["archive"], url.as_str());
    assert_eq!(report["archived"], 123);
    assert!(
        !tmp.path().join("archive").exists(),
        "a local folder was written"
    );
    assert!(Target::S3(url.clone()).exists("year=2016/month=01/part-00001.parquet"));
}

#[test]
fn a_part_replaced_on_s3_after_archiving_is_never_read() {
    let Some(bucket) = s3_bucket() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let url = fresh_prefix(&bucket, "replaced");
    let chronicle = |store: &str, args: &[&str]| {
        Command::new(BIN)
            .args(["--json", "--store", store])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap()
    };
    assert!(chronicle("sqlite:live.db", &["import", "events", FIXTURE])
        .status
        .success());
    let out = chronicle(
        "sqlite:live.db",
        &["archive", "--before", "2016-03-15", "--to", &url],
    );
    assert!(out.status.success());
    let jan = "year=2016/month=01/part-00001.parquet";
    let feb = "year=2016/month=02/part-00001.parquet";
    // The entry records the ETag of the object it hashed.
    let manifest = Target::S3(url.clone()).read_string("year=2016/month=01/_manifest.json");
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert!(manifest["parts"][0]["etag"].is_string(), "{manifest}");

    // January's part replaced by February's (a valid part, other rows).
    let archive = open(&url);
    let (_, version) = archive.files().read(jan).unwrap().unwrap();
    let (other, _) = archive.files().read(feb).unwrap().unwrap();
    archive
        .files()
        .replace(jan, &version, &other)
        .unwrap()
        .unwrap();
    // Readers hash it (its ETag is not the entry's) and refuse it.
    let out = chronicle("sqlite:fresh.db", &["replay", "--from", &url]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = rusqlite::Connection::open(dir.join("fresh.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap_or(0);
    assert_eq!(n, 0, "rows of a replaced part were replayed");
    let out = chronicle("sqlite:live.db", &["verify", "--archive", &url]);
    assert_eq!(out.status.code(), Some(1));
}
