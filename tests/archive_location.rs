//! The archive location is resolved once (`--archive` > CHRONICLE_ARCHIVE >
//! chronicle.toml `archive` > ./archive), the old per-command names still
//! work, and an unsupported `scheme://` (or an object store that cannot be
//! reached) is refused before anything is written or deleted.

mod common;

use std::path::Path;

use common::{command, fixture_str, run, store_uris};

fn seeded(dir: &Path, store: &str) {
    let out = run(
        dir,
        &[
            "--store",
            store,
            "import",
            "events",
            &fixture_str("projections/payments.jsonl"),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

fn live_count(dir: &Path, store: &str) -> u64 {
    let out = run(dir, &["--json", "--store", store, "status"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json()["live_total"].as_u64().unwrap()
}

#[test]
fn an_unsupported_scheme_is_refused_before_anything_is_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, store) in store_uris(tmp.path(), "scheme").into_iter().enumerate() {
        let dir = tmp.path().join(format!("run{i}"));
        std::fs::create_dir(&dir).unwrap();
        seeded(&dir, &store);
        let before = live_count(&dir, &store);
        assert!(before > 0);
        let archive = ["archive", "--before", "2030-01-01", "--lag", "0"];
        for args in [
            [&archive[..], &["--to", "ftp://bucket/x"]].concat(),
            [&archive[..], &["--archive", "ftp://bucket/x"]].concat(),
            [&["--archive", "hdfs://bucket/x"], &archive[..]].concat(),
            vec!["replay", "--from", "ftp://bucket/x"],
            vec!["verify", "--archive", "ftp://bucket/x"],
        ] {
            let mut full = vec!["--store", store.as_str()];
            full.extend(&args);
            let out = run(&dir, &full);
            assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
            assert!(
                out.stderr.contains("archives are not supported"),
                "{args:?}: {}",
                out.stderr
            );
        }
        // The same through the environment.
        let out = command(
            &dir,
            &["--store", &store, "archive", "--before", "2030-01-01"],
        )
        .env("CHRONICLE_ARCHIVE", "ftp://bucket/x")
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(live_count(&dir, &store), before, "live events were deleted");
        // An object store that does not answer: the run fails before it
        // deletes anything, and writes no local folder.
        if cfg!(feature = "s3") {
            let out = command(
                &dir,
                &[
                    "--store",
                    &store,
                    "archive",
                    "--before",
                    "2030-01-01",
                    "--lag",
                    "0",
                    "--to",
                    "s3://bucket/x",
                ],
            )
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "y")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap();
            assert_eq!(out.status.code(), Some(2));
            assert_eq!(live_count(&dir, &store), before, "live events were deleted");
        }
        for name in ["s3:", "ftp:", "hdfs:", "archive"] {
            assert!(!dir.join(name).exists(), "{name} was created");
        }
    }
}

#[test]
fn one_archive_setting_in_every_spelling() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = format!("sqlite:{}", dir.join("s.db").display());
    seeded(dir, &store);
    let archived = |out: &common::Run| out.json()["archived"].as_u64().unwrap();

    // file:///abs/path is the folder itself.
    let folder = dir.join("by-uri");
    let uri = format!("file://{}", folder.display());
    let out = run(
        dir,
        &[
            "--json",
            "--store",
            &store,
            "--archive",
            &uri,
            "archive",
            "--before",
            "2016-02-01",
            "--lag",
            "0",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(archived(&out) > 0);
    assert!(folder.join("year=2016/month=01/_manifest.json").is_file());

    // The config file's `archive` is used when no flag or environment says
    // otherwise; the environment overrides it, and the flag both.
    std::fs::write(dir.join("chronicle.toml"), "archive = \"from-config\"\n").unwrap();
    let status = |extra: &[&str], env: Option<&str>| {
        let mut args = vec!["--json", "--store", store.as_str()];
        args.extend(extra);
        args.push("status");
        let mut cmd = command(dir, &args);
        if let Some(env) = env {
            cmd.env("CHRONICLE_ARCHIVE", env);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["archive"]["folder"].as_str().map(str::to_string)
    };
    std::fs::create_dir_all(dir.join("from-config")).unwrap();
    std::fs::create_dir_all(dir.join("from-env")).unwrap();
    std::fs::create_dir_all(dir.join("from-flag")).unwrap();
    assert_eq!(status(&[], None).as_deref(), Some("from-config"));
    assert_eq!(status(&[], Some("from-env")).as_deref(), Some("from-env"));
    assert_eq!(
        status(&["--archive", "from-flag"], Some("from-env")).as_deref(),
        Some("from-flag")
    );

    // The old names still work for one release: replay --from reads back
    // what archive --to wrote, and verify takes the global flag after the
    // subcommand. A second store: one store keeps one archive (its
    // archived-id records name the partitions of `by-uri`, which `old`
    // does not have).
    let store = format!("sqlite:{}", dir.join("s2.db").display());
    seeded(dir, &store);
    let out = run(
        dir,
        &[
            "--json",
            "--store",
            &store,
            "archive",
            "--before",
            "2016-03-01",
            "--lag",
            "0",
            "--to",
            "old",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let old = archived(&out);
    assert!(old > 0);
    let out = run(
        dir,
        &["--json", "--store", &store, "verify", "--archive", "old"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let fresh = format!("sqlite:{}", dir.join("fresh.db").display());
    // (An old name is a flag: it beats the environment.)
    let out = command(
        dir,
        &["--json", "--store", &fresh, "replay", "--from", "old"],
    )
    .env("CHRONICLE_ARCHIVE", "from-env")
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["read"].as_u64(), Some(old));
    // Both names at once is a mistake.
    let out = run(
        dir,
        &[
            "--store",
            &store,
            "--archive",
            "a",
            "archive",
            "--before",
            "2016-02-15",
            "--to",
            "b",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
}
