//! `chronicle import dump` end to end: the built binary imports the dumps in
//! fixtures/dumps/ (written by the real pg_dump, mysqldump and pymongo's
//! bson encoder) into a real SQLite store, and the exported events are
//! compared with the expected events committed next to them (computed in
//! Python by scripts/make_dump_fixtures.py, not by chronicle). Also: rejects
//! with their positions, truncated dumps, re-runs, and refused formats.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_chronicle");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dumps")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("chronicle runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn store(&self) -> String {
        format!("sqlite:{}", self.path("store.db").display())
    }

    /// Imports with `--json`; returns the exit code and the summary.
    fn import(&self, file: &Path, mapping: &Path) -> (i32, Value, String) {
        let rejects = self.path("rejects.jsonl");
        let o = run(&[
            "--json",
            "--store",
            &self.store(),
            "import",
            "dump",
            file.to_str().unwrap(),
            "--mapping",
            mapping.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
        ]);
        let summary = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o.status.code().unwrap(), summary, stderr(&o))
    }

    fn rejects(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.path("rejects.jsonl")) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The stored events without `received_at`, ordered by id.
    fn events(&self) -> Vec<Value> {
        let o = run(&["--store", &self.store(), "export"]);
        assert!(o.status.success(), "export failed: {}", stderr(&o));
        let mut events: Vec<Value> = String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let mut e: Value = serde_json::from_str(l).unwrap();
                e["meta"].as_object_mut().unwrap().remove("received_at");
                e
            })
            .collect();
        events.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        events
    }
}

fn expected(name: &str) -> Vec<Value> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn assert_events(case: &Case, expected_file: &str, what: &str) {
    let got = case.events();
    let want = expected(expected_file);
    assert_eq!(got.len(), want.len(), "{what}: number of events");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "{what}: event differs");
    }
}

/// Line (1-based) of the first line of `file` containing `needle`.
fn line_of(file: &str, needle: &str) -> u64 {
    let text = std::fs::read(fixture(file)).unwrap();
    let text = String::from_utf8_lossy(&text);
    text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

fn summary_counts(s: &Value) -> [u64; 6] {
    [
        "read",
        "imported",
        "duplicates",
        "conflicts",
        "rejected",
        "skipped",
    ]
    .map(|k| {
        s[k].as_u64()
            .unwrap_or_else(|| panic!("summary lacks {k}: {s}"))
    })
}

#[test]
fn pg_dump_copy_inserts_column_inserts_and_gzip() {
    for dump in [
        "pg-plain.sql",
        "pg-inserts.sql",
        "pg-column-inserts.sql",
        "pg-plain.sql.gz",
    ] {
        let plain = if dump.ends_with(".gz") {
            "pg-plain.sql"
        } else {
            dump
        };
        let case = Case::new();
        let (code, summary, err) = case.import(&fixture(dump), &fixture("payments-pg.toml"));
        assert_eq!(code, 1, "{dump}: one reject means exit 1: {err}");
        assert_eq!(summary_counts(&summary), [9, 7, 0, 0, 1, 1], "{dump}");
        assert_events(&case, "payments.expected.jsonl", dump);
        let rejects = case.rejects();
        assert_eq!(rejects.len(), 1, "{dump}");
        assert_eq!(rejects[0]["line"], line_of(plain, "P-0008"), "{dump}");
        assert!(rejects[0]["reason"]
            .as_str()
            .unwrap()
            .contains("daylight-saving gap"));
        assert!(rejects[0]["record"].as_str().unwrap().contains("P-0008"));

        let case = Case::new();
        let (code, summary, err) = case.import(&fixture(dump), &fixture("ledger-pg.toml"));
        assert_eq!(code, 1, "{dump}: {err}");
        assert_eq!(summary_counts(&summary), [4, 3, 0, 0, 1, 0], "{dump}");
        assert_events(&case, "ledger-pg.expected.jsonl", dump);
        let rejects = case.rejects();
        assert_eq!(rejects[0]["line"], line_of(plain, "approved is NULL"));
        assert!(rejects[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("payload.approved: empty value where one is required"));
    }
}

#[test]
fn mysqldump_extended_and_complete_hex_inserts() {
    for dump in ["my-extended.sql", "my-complete-hex.sql"] {
        let case = Case::new();
        let (code, summary, err) = case.import(&fixture(dump), &fixture("payments-my.toml"));
        assert_eq!(code, 1, "{dump}: {err}");
        assert_eq!(summary_counts(&summary), [9, 7, 0, 0, 1, 1], "{dump}");
        assert_events(&case, "payments.expected.jsonl", dump);
        assert_eq!(case.rejects()[0]["line"], line_of(dump, "'P-0008'"));

        let case = Case::new();
        let (code, summary, err) = case.import(&fixture(dump), &fixture("ledger-my.toml"));
        assert_eq!(code, 1, "{dump}: {err}");
        assert_eq!(summary_counts(&summary), [4, 3, 0, 0, 1, 0], "{dump}");
        assert_events(&case, "ledger-my.expected.jsonl", dump);
        assert_eq!(
            case.rejects()[0]["line"],
            line_of(dump, "'approved is NULL'")
        );
    }
}

#[test]
fn mongodump_and_mongoexport_agree() {
    let offsets: Vec<u64> =
        serde_json::from_str(&std::fs::read_to_string(fixture("orders.offsets.json")).unwrap())
            .unwrap();
    for (file, position) in [
        ("orders.bson", offsets[3]),
        ("orders.bson.gz", offsets[3]),
        ("orders.canonical.jsonl", 4),
        ("orders.relaxed.jsonl", 4),
        ("orders.array.json", 4),
    ] {
        let case = Case::new();
        let (code, summary, err) = case.import(&fixture(file), &fixture("orders.toml"));
        assert_eq!(code, 1, "{file}: {err}");
        assert_eq!(summary_counts(&summary), [5, 4, 0, 0, 1, 0], "{file}");
        assert_events(&case, "orders.expected.jsonl", file);
        let rejects = case.rejects();
        assert_eq!(rejects[0]["line"], position, "{file}");
        assert!(rejects[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("event.type: empty value where one is required"));
        assert!(rejects[0]["record"]
            .as_str()
            .unwrap()
            .contains("5f1e9b3c2a4d6e8f10203043"));
    }
}

#[test]
fn mongodump_directory_with_table() {
    let case = Case::new();
    let mapping = case.path("orders.toml");
    let text = std::fs::read_to_string(fixture("orders.toml")).unwrap();
    std::fs::write(&mapping, format!("[source]\ntable = \"orders\"\n{text}")).unwrap();
    let dir = case.path("dump");
    std::fs::create_dir(&dir).unwrap();
    for f in ["orders.bson", "orders.metadata.json"] {
        std::fs::copy(fixture(f), dir.join(f)).unwrap();
    }
    let (code, summary, err) = case.import(&dir, &mapping);
    assert_eq!(code, 1, "{err}");
    assert_eq!(summary["imported"], 4);
    assert_events(&case, "orders.expected.jsonl", "directory");

    // Without source.table, the collections are listed.
    let (code, _, err) = case.import(&dir, &fixture("orders.toml"));
    assert_eq!(code, 2);
    assert!(
        err.contains("source.table") && err.contains("orders"),
        "{err}"
    );

    // A table that is not the file's collection.
    std::fs::write(&mapping, format!("[source]\ntable = \"users\"\n{text}")).unwrap();
    let (code, _, err) = case.import(&dir.join("orders.bson"), &mapping);
    assert_eq!(code, 2);
    assert!(err.contains("`orders`"), "{err}");
}

#[test]
fn rerun_counts_duplicates_and_clean_runs_exit_zero() {
    let case = Case::new();
    let mapping = case.path("archive.toml");
    let text = std::fs::read_to_string(fixture("payments-pg.toml"))
        .unwrap()
        .replace("public.payments", "archive.payments");
    std::fs::write(&mapping, text).unwrap();
    let (code, summary, err) = case.import(&fixture("pg-plain.sql"), &mapping);
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary_counts(&summary), [1, 1, 0, 0, 0, 0]);
    let (code, summary, _) = case.import(&fixture("pg-plain.sql"), &mapping);
    assert_eq!(code, 0);
    assert_eq!(summary_counts(&summary), [1, 0, 1, 0, 0, 0]);

    // The same for a larger table and another format.
    let (_, first, _) = case.import(&fixture("my-extended.sql"), &fixture("payments-my.toml"));
    let (_, again, _) = case.import(&fixture("pg-inserts.sql"), &fixture("payments-pg.toml"));
    assert_eq!(first["imported"], 7);
    assert_eq!(again["imported"], 0);
    assert_eq!(again["duplicates"], 7);
}

/// Writes the first `len` bytes of a fixture to the case directory.
fn truncated(case: &Case, name: &str, len: usize) -> PathBuf {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let path = case.path(&format!("cut-{name}"));
    std::fs::write(&path, &bytes[..len]).unwrap();
    path
}

fn offset_of(name: &str, needle: &str) -> usize {
    let bytes = std::fs::read(fixture(name)).unwrap();
    bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap()
}

#[test]
fn truncated_pg_dump_stops_with_the_position_and_keeps_events() {
    let case = Case::new();
    // Cut in the middle of P-0005's COPY line.
    let cut = truncated(
        &case,
        "pg-plain.sql",
        offset_of("pg-plain.sql", "P-0005") + 10,
    );
    let (code, _, err) = case.import(&cut, &fixture("payments-pg.toml"));
    assert_eq!(code, 2, "{err}");
    let line = line_of("pg-plain.sql", "P-0005");
    assert!(err.contains("truncated"), "{err}");
    assert!(err.contains(&format!("ends at line {line}")), "{err}");
    assert_eq!(case.events().len(), 4, "P-0001..P-0004 stay");

    // Cut after the data, before pg_dump's closing comment.
    let case = Case::new();
    let cut = truncated(
        &case,
        "pg-plain.sql",
        offset_of("pg-plain.sql", "-- PostgreSQL database dump complete"),
    );
    let (code, _, err) = case.import(&cut, &fixture("payments-pg.toml"));
    assert_eq!(code, 2);
    assert!(err.contains("database dump complete"), "{err}");
    assert_eq!(case.events().len(), 7);

    // Cut inside an INSERT's string.
    let case = Case::new();
    let cut = truncated(
        &case,
        "pg-inserts.sql",
        offset_of("pg-inserts.sql", "in the DST gap") + 3,
    );
    let (code, _, err) = case.import(&cut, &fixture("payments-pg.toml"));
    assert_eq!(code, 2);
    let line = line_of("pg-inserts.sql", "in the DST gap");
    assert!(
        err.contains(&format!("string opened at line {line}")),
        "{err}"
    );
}

#[test]
fn truncated_mysqldump_bson_and_json() {
    let case = Case::new();
    let cut = truncated(
        &case,
        "my-extended.sql",
        offset_of("my-extended.sql", "'P-0005'") + 4,
    );
    let (code, _, err) = case.import(&cut, &fixture("payments-my.toml"));
    assert_eq!(code, 2);
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(case.events().len(), 4);

    let offsets: Vec<usize> =
        serde_json::from_str(&std::fs::read_to_string(fixture("orders.offsets.json")).unwrap())
            .unwrap();
    let case = Case::new();
    let cut = truncated(&case, "orders.bson", offsets[2] + 20);
    let (code, _, err) = case.import(&cut, &fixture("orders.toml"));
    assert_eq!(code, 2);
    assert!(
        err.contains("truncated") && err.contains(&format!("at byte {}", offsets[2])),
        "{err}"
    );
    assert_eq!(case.events().len(), 2);

    // A corrupt length prefix.
    let case = Case::new();
    let mut bytes = std::fs::read(fixture("orders.bson")).unwrap();
    bytes[offsets[1]..offsets[1] + 4].copy_from_slice(&(-7i32).to_le_bytes());
    let path = case.path("corrupt.bson");
    std::fs::write(&path, bytes).unwrap();
    let (code, _, err) = case.import(&path, &fixture("orders.toml"));
    assert_eq!(code, 2);
    assert!(
        err.contains("corrupt") && err.contains(&format!("byte {}", offsets[1])),
        "{err}"
    );

    let case = Case::new();
    let text = std::fs::read_to_string(fixture("orders.relaxed.jsonl")).unwrap();
    let cut_at = text.match_indices('\n').nth(1).unwrap().0 + 30;
    let cut = truncated(&case, "orders.relaxed.jsonl", cut_at);
    let (code, _, err) = case.import(&cut, &fixture("orders.toml"));
    assert_eq!(code, 2);
    assert!(err.contains("starting at line 3"), "{err}");
    assert_eq!(case.events().len(), 2);
}

#[test]
fn pg_custom_format_is_refused_with_the_conversion() {
    let case = Case::new();
    let (code, _, err) = case.import(&fixture("pg-custom.dump"), &fixture("payments-pg.toml"));
    assert_eq!(code, 2);
    assert!(err.contains("pg_restore -f -"), "{err}");
    assert!(err.contains("custom-format"), "{err}");
    assert!(!case.path("store.db").exists(), "nothing was opened");

    let (code, _, err) = case.import(&fixture("pg-tar.tar"), &fixture("payments-pg.toml"));
    assert_eq!(code, 2);
    assert!(
        err.contains("tar-format") && err.contains("pg_restore -f -"),
        "{err}"
    );

    // A directory-format archive is a directory with a toc.dat.
    let dir = case.path("pg-dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture("pg-custom.dump"), dir.join("toc.dat")).unwrap();
    let (code, _, err) = case.import(&dir, &fixture("payments-pg.toml"));
    assert_eq!(code, 2);
    assert!(
        err.contains("directory-format") && err.contains("pg_restore -f -"),
        "{err}"
    );
    assert!(!case.path("store.db").exists(), "nothing was opened");
}

#[test]
fn table_choice_and_mapping_errors() {
    let case = Case::new();
    let write = |name: &str, text: &str| {
        let p = case.path(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let base = std::fs::read_to_string(fixture("payments-pg.toml")).unwrap();

    // No table: the dump defines three, so nothing is imported.
    let no_table = write(
        "no-table.toml",
        &base.replace("table = \"public.payments\"", ""),
    );
    let (code, _, err) = case.import(&fixture("pg-plain.sql"), &no_table);
    assert_eq!(code, 2);
    assert!(
        err.contains("set source.table") && err.contains("public.ledger_entries"),
        "{err}"
    );

    let missing = write(
        "missing.toml",
        &base.replace("public.payments", "public.refunds"),
    );
    let (code, _, err) = case.import(&fixture("pg-plain.sql"), &missing);
    assert_eq!(code, 2);
    assert!(
        err.contains("public.refunds") && err.contains("archive.payments"),
        "{err}"
    );

    // A data-only dump whose table has no rows: nothing to import, cleanly.
    let empty = write("empty.sql", "COPY public.refunds (id) FROM stdin;\n\\.\n");
    let (code, summary, err) = case.import(&empty, &missing);
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["read"], 0);

    let bad_column = write(
        "bad-column.toml",
        &base.replace("country = \"{country}\"", "country = \"{land}\""),
    );
    let (code, _, err) = case.import(&fixture("pg-plain.sql"), &bad_column);
    assert_eq!(code, 2);
    assert!(
        err.contains("payload.country") && err.contains("unknown column `land`"),
        "{err}"
    );
    assert!(err.contains("payment_id, user_id, status"), "{err}");
    assert!(case.events().is_empty());

    let csv_key = write(
        "csv-key.toml",
        &base.replace("[source]", "[source]\ndelimiter = \";\""),
    );
    let (code, _, err) = case.import(&fixture("pg-plain.sql"), &csv_key);
    assert_eq!(code, 2);
    assert!(err.contains("source.delimiter"), "{err}");
}

#[test]
fn dry_run_writes_nothing() {
    let case = Case::new();
    let o = run(&[
        "--json",
        "--store",
        &case.store(),
        "import",
        "dump",
        fixture("pg-plain.sql").to_str().unwrap(),
        "--mapping",
        fixture("payments-pg.toml").to_str().unwrap(),
        "--dry-run",
    ]);
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["imported"], 7);
    assert_eq!(summary["per_type"]["payment-completed"], 4);
    assert!(!case.path("store.db").exists());
}

/// With the real servers (CI starts them in scripts/ci/10-sql-servers.sh):
/// dumps a freshly created table with today's pg_dump and mysqldump and
/// imports the result, so a change in the tools' output is noticed.
#[test]
fn fresh_dumps_from_the_real_tools() {
    let pg_up = Command::new("pg_isready")
        .args(["-h", "127.0.0.1", "-p", "5432", "-q"])
        .status()
        .is_ok_and(|s| s.success());
    let my_up = Command::new("mariadb-admin")
        .args(["-h", "127.0.0.1", "-P", "3306", "-u", "root", "ping"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !(pg_up && my_up) {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but PostgreSQL or MariaDB is unreachable");
        }
        eprintln!("skipped: PostgreSQL or MariaDB is not running");
        return;
    }
    let case = Case::new();
    let out = case.path("fresh");
    let status = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-dump-fixtures.sh"))
        .arg(&out)
        .env(
            "CHRONICLE_FIXTURE_DB",
            format!("chronicle_fresh_{}", std::process::id()),
        )
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "make-dump-fixtures.sh failed: {}",
        stderr(&status)
    );
    for (dump, mapping, expected_file) in [
        (
            "pg-plain.sql",
            "payments-pg.toml",
            "payments.expected.jsonl",
        ),
        (
            "pg-inserts.sql",
            "ledger-pg.toml",
            "ledger-pg.expected.jsonl",
        ),
        (
            "my-extended.sql",
            "ledger-my.toml",
            "ledger-my.expected.jsonl",
        ),
    ] {
        let case = Case::new();
        let (code, _, err) = case.import(&out.join(dump), &fixture(mapping));
        assert_eq!(code, 1, "{dump}: {err}");
        assert_events(&case, expected_file, dump);
    }
    // The BSON encoder and the expected events are deterministic.
    for file in [
        "orders.bson",
        "orders.expected.jsonl",
        "payments.expected.jsonl",
    ] {
        assert_eq!(
            std::fs::read(out.join(file)).unwrap(),
            std::fs::read(fixture(file)).unwrap(),
            "{file} changed when regenerated"
        );
    }
}

#[test]
fn dumps_in_other_encodings_are_refused() {
    let case = Case::new();
    let pg = case.path("latin1.sql");
    std::fs::write(
        &pg,
        "SET client_encoding = 'LATIN1';\nCOPY public.payments (payment_id) FROM stdin;\n1\n\\.\n",
    )
    .unwrap();
    let (code, _, err) = case.import(&pg, &fixture("payments-pg.toml"));
    assert_eq!(code, 2);
    assert!(
        err.contains("LATIN1") && err.contains("pg_dump -E UTF8"),
        "{err}"
    );

    let my = case.path("latin1-my.sql");
    std::fs::write(
        &my,
        "/*!40101 SET NAMES latin1 */;\nINSERT INTO `payments` (`payment_id`) VALUES ('1');\n",
    )
    .unwrap();
    let (code, _, err) = case.import(&my, &fixture("payments-my.toml"));
    assert_eq!(code, 2);
    assert!(
        err.contains("latin1") && err.contains("--default-character-set=utf8mb4"),
        "{err}"
    );
}

/// Lines and statements of many megabytes: a 24 MB text value in a COPY
/// line, and one extended INSERT of 200,000 tuples on a single line.
#[test]
fn huge_lines_and_statements() {
    let case = Case::new();
    let big = "x".repeat(24 << 20);
    let pg = format!(
        "COPY public.notes (id, at, note) FROM stdin;\n1\t2016-01-01T00:00:00Z\t{big}\n2\t2016-01-01T00:00:00Z\tsmall\n\\.\n"
    );
    let pg_path = case.path("big.sql");
    std::fs::write(&pg_path, pg).unwrap();
    let mapping = case.path("notes.toml");
    std::fs::write(
        &mapping,
        "[source]\nformat = \"pgdump\"\n[event]\nservice = \"notes\"\ntype = \"note\"\nkey = \"{id}\"\ncreated_at = \"{at}\"\n[payload]\nnote = \"{note}\"\n",
    )
    .unwrap();
    let (code, summary, err) = case.import(&pg_path, &mapping);
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["imported"], 2);

    let mut my = String::from("INSERT INTO `notes` (`id`, `at`, `note`) VALUES ");
    for i in 0..200_000 {
        if i > 0 {
            my.push(',');
        }
        my.push_str(&format!("({i},'2016-01-01T00:00:00Z','n\\'{i}')"));
    }
    my.push_str(";\n");
    let my_path = case.path("big-my.sql");
    std::fs::write(&my_path, my).unwrap();
    std::fs::write(
        &mapping,
        std::fs::read_to_string(&mapping)
            .unwrap()
            .replace("pgdump", "mysqldump")
            .replace("\"notes\"", "\"notes-my\""),
    )
    .unwrap();
    let (code, summary, err) = case.import(&my_path, &mapping);
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["imported"], 200_000);
    let events = case.events();
    assert!(events.iter().any(|e| e["payload"]["note"] == "n'199999"));
}
