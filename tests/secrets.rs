//! Secrets are never printed (docs/architecture.md, "Secrets"): every
//! subcommand, failing or not, in every output mode, is run with
//! password-bearing store, archive and projection-target URIs, and its
//! stdout, stderr, `--json` object and everything it stored (store file,
//! projection tables, archive files) are searched for the password.

mod common;

use std::path::Path;

use common::{command, fixture_str, Run};

const SECRET: &str = "s3cret";
const LATER: &str = "2030-01-01T00:00:00Z";

fn assert_clean(what: &str, out: &Run) {
    assert!(
        !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
        "{what} leaked the secret:\nstdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
}

/// Every file under `dir` but the config, byte by byte (SQLite files,
/// Parquet, manifests, rejects).
fn assert_files_clean(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_files_clean(&path);
        } else if path.file_name().is_some_and(|n| n != "chronicle.toml") {
            // (The config file is where the test put the secret.)
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "{} holds the secret",
                path.display()
            );
            assert!(
                !path.display().to_string().contains(SECRET),
                "a file is named after the secret: {}",
                path.display()
            );
        }
    }
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(dir, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every subcommand (with what it needs to get going), `projection` for
/// rebuild and project.
fn subcommands(projection: &str) -> Vec<Vec<String>> {
    let events = fixture_str("projections/payments.jsonl");
    [
        vec!["import", "events", events.as_str()],
        vec!["export"],
        vec!["status"],
        vec!["archive", "--before", "2016-02-01"],
        vec!["verify"],
        vec!["replay"],
        vec!["rebuild", projection, "--now", LATER],
        vec!["project", projection, "--now", LATER],
    ]
    .into_iter()
    .map(|a| a.into_iter().map(String::from).collect())
    .collect()
}

/// The output modes each subcommand is run in.
const MODES: [&[&str]; 4] = [&[], &["--json"], &["--verbose"], &["--quiet"]];

/// A projection name (and table) of its own, so that test runs sharing
/// one PostgreSQL never meet.
fn unique_projection() -> String {
    format!(
        "secrets_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A config whose projection `name` writes a table of that name to `target`.
fn write_config(dir: &Path, name: &str, target: &str) {
    std::fs::write(
        dir.join("chronicle.toml"),
        format!(
            r#"archive = "archive"

[projections.{name}]
kind = "table"
types = ["payment-completed", "payment-refunded"]
target = "{target}"
group = [{{ name = "country", value = "payload.country" }}]
columns = [{{ name = "events", value = "count()" }}]
"#
        ),
    )
    .unwrap();
}

#[test]
fn stores_with_passwords_never_leak_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let name = unique_projection();
    write_config(dir, &name, "sqlite:reports.db");
    let stores = [
        // The real server, where this user's authentication fails.
        "mongodb://user:s3cret@127.0.0.1:27018/chronicle_secrets?serverSelectionTimeoutMS=3000&authSource=admin",
        // Password in a query parameter, in any case.
        "mongodb://127.0.0.1:27018/chronicle_secrets?serverSelectionTimeoutMS=3000&authMechanism=PLAIN&PassWord=s3cret",
        // A mistyped scheme.
        "mongdb://user:s3cret@127.0.0.1:27018/chronicle_secrets",
        // A scheme no store has.
        "postgres://postgres:s3cret@127.0.0.1:5432/postgres?password=s3cret",
    ];
    for store in stores {
        for args in subcommands(&name) {
            for mode in MODES {
                let mut full: Vec<&str> = mode.to_vec();
                full.extend(["--store", store]);
                full.extend(args.iter().map(String::as_str));
                let out = run(dir, &full, &[]);
                assert_ne!(out.code, 0, "{full:?} should fail: {}", out.stdout);
                assert_clean(&format!("{full:?}"), &out);
            }
            // The same URI through the environment.
            let mut full = vec!["--verbose"];
            full.extend(args.iter().map(String::as_str));
            let out = run(dir, &full, &[("CHRONICLE_STORE", store)]);
            assert_clean(&format!("CHRONICLE_STORE {full:?}"), &out);
        }
    }
    assert_files_clean(dir);
}

#[test]
fn archive_locations_with_secrets_are_refused_without_leaking() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let name = unique_projection();
    write_config(dir, &name, "sqlite:reports.db");
    let store = format!("sqlite:{}", dir.join("store.db").display());
    let archive = "s3://AKIA:s3cret@bucket/x?token=s3cret";
    for args in subcommands(&name) {
        for mode in MODES {
            let mut full: Vec<&str> = mode.to_vec();
            full.extend(["--store", &store, "--archive", archive]);
            full.extend(args.iter().map(String::as_str));
            let out = run(dir, &full, &[]);
            assert_eq!(out.code, 2, "{full:?}: {}", out.stderr);
            assert_clean(&format!("{full:?}"), &out);
        }
    }
    assert_files_clean(dir);
}

/// The PostgreSQL server of the tests (trust authentication: any password
/// is accepted, so a password-bearing URI gets a working connection).
#[cfg(feature = "postgres")]
fn postgres_host() -> Option<String> {
    let url = std::env::var("CHRONICLE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match postgres::Client::connect(&url, postgres::NoTls) {
        Ok(_) => Some(url),
        Err(e) if std::env::var_os("CI").is_some() => panic!("PostgreSQL unreachable in CI: {e}"),
        Err(e) => {
            eprintln!("skipped: PostgreSQL at {url} is unreachable ({e})");
            None
        }
    }
}

#[test]
#[cfg(feature = "postgres")]
fn projection_targets_with_passwords_never_leak_them() {
    let Some(url) = postgres_host() else { return };
    let name = unique_projection();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = format!("sqlite:{}", dir.join("store.db").display());
    let target =
        "postgres://postgres:s3cret@127.0.0.1:5432/postgres?sslmode=disable&password=s3cret";
    write_config(dir, &name, target);
    // Every subcommand succeeds here, in every mode.
    for args in subcommands(&name) {
        for mode in MODES {
            let mut full: Vec<&str> = mode.to_vec();
            full.extend(["--store", &store]);
            full.extend(args.iter().map(String::as_str));
            let out = run(dir, &full, &[]);
            assert!(
                out.code == 0 || (out.code == 1 && args[0] == "import"),
                "{full:?}: {}",
                out.stderr
            );
            assert_clean(&format!("{full:?}"), &out);
            if args[0] == "rebuild" && mode == ["--json"] {
                let target = out.json()["target"].as_str().unwrap().to_string();
                assert!(
                    target.starts_with("postgres://postgres:***@127.0.0.1:5432/"),
                    "{target}"
                );
                assert!(target.contains("password=***"), "{target}");
            }
            if args[0] == "rebuild" && mode.is_empty() {
                assert!(
                    out.stdout
                        .contains("rows written to postgres://postgres:***@"),
                    "{}",
                    out.stdout
                );
            }
        }
    }
    // An unreachable target and a mistyped scheme fail without leaking.
    for bad in [
        "postgres://postgres:s3cret@127.0.0.1:1/postgres?password=s3cret",
        "postgress://postgres:s3cret@127.0.0.1:5432/postgres",
        "mysql://root:s3cret@127.0.0.1:3306/x",
    ] {
        write_config(dir, &name, bad);
        for cmd in [
            &["rebuild", &name, "--now", LATER][..],
            &["project", &name, "--now", LATER],
            &["status"],
        ] {
            for mode in MODES {
                let mut full: Vec<&str> = mode.to_vec();
                full.extend(["--store", &store]);
                full.extend(cmd);
                let out = run(dir, &full, &[]);
                assert_clean(&format!("{bad} {full:?}"), &out);
            }
        }
    }
    assert_files_clean(dir);
    let mut pg = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    pg.batch_execute(&format!(
        "DROP TABLE IF EXISTS \"{name}\"; DELETE FROM chronicle_projections WHERE name = '{name}'"
    ))
    .unwrap();
}
