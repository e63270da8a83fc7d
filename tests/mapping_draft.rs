//! `chronicle mapping draft`: the drafted mapping imports as it is (CSV
//! fixtures, dumps, the bench generator's payments CSV), and its CSV
//! sniffing agrees with DuckDB's `sniff_csv` on delimiter, header and types.

mod common;

use std::path::Path;
use std::process::Command;

use common::{fixture_str, run};

/// Drafts `input` into `dir/name` and returns the `--json` report.
fn draft(dir: &Path, input: &str, extra: &[&str], name: &str) -> serde_json::Value {
    let out = dir.join(name);
    let out = out.to_str().unwrap();
    let mut args = vec!["--json", "mapping", "draft", input, "-o", out];
    args.extend_from_slice(extra);
    let r = run(dir, &args);
    assert_eq!(r.code, 0, "draft {input}: {}", r.stderr);
    let report = r.json();
    assert_eq!(
        std::fs::read_to_string(out).unwrap(),
        report["mapping"].as_str().unwrap()
    );
    report
}

fn import(
    dir: &Path,
    kind: &str,
    input: &str,
    mapping: &str,
    store: &str,
) -> (i32, serde_json::Value) {
    let rejects = dir.join(format!("{store}.rejects"));
    let r = run(
        dir,
        &[
            "--json",
            "--store",
            &format!("sqlite:{store}.db"),
            "import",
            kind,
            input,
            "--mapping",
            mapping,
            "--rejects",
            rejects.to_str().unwrap(),
        ],
    );
    assert!(
        r.code == 0 || r.code == 1,
        "import {input}: {}\n{}",
        r.code,
        r.stderr
    );
    (r.code, r.json())
}

#[test]
fn the_draft_of_each_csv_fixture_imports() {
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in [
        "csv/legacy-payments.csv",
        "csv/legacy-payments.csv.gz",
        "csv/legacy-payments.cp1252.csv",
        "csv/clean-payments.csv",
        "csv/typed-noheader.tsv",
    ]
    .iter()
    .enumerate()
    {
        let input = fixture_str(name);
        let mapping = format!("m{i}.toml");
        let report = draft(dir.path(), &input, &[], &mapping);
        assert_eq!(report["format"], "csv");
        let (code, summary) = import(dir.path(), "csv", &input, &mapping, &format!("s{i}"));
        let n = |k: &str| summary[k].as_u64().unwrap();
        assert!(n("imported") > 0, "{name}: {summary}");
        // The whole fixture fits in the sample, so the draft's own check
        // predicts the import exactly.
        let check = &report["check"];
        assert_eq!(n("read"), check["read"].as_u64().unwrap(), "{name}");
        assert_eq!(n("rejected"), check["rejected"].as_u64().unwrap(), "{name}");
        assert_eq!(code, i32::from(n("rejected") > 0), "{name}");
    }
}

#[test]
fn legacy_payments_sniff() {
    let dir = tempfile::tempdir().unwrap();
    let report = draft(
        dir.path(),
        &fixture_str("csv/legacy-payments.cp1252.csv"),
        &[],
        "m.toml",
    );
    let csv = &report["csv"];
    assert_eq!(csv["encoding"], "windows-1252");
    assert_eq!(csv["delimiter"], ",");
    assert_eq!(csv["has_header"], true);
    assert_eq!(csv["irregular_records"], 1);
    let mapping = report["mapping"].as_str().unwrap();
    assert!(mapping.contains("created_at = { column = \"created\", format = \"%Y-%m-%d %H:%M:%S\", timezone = \"UTC\" }"), "{mapping}");
    for todo in [
        "# TODO service",
        "# TODO type",
        "# TODO key",
        "# TODO time zone",
    ] {
        assert!(mapping.contains(todo), "{todo} missing:\n{mapping}");
    }
    // `status` is offered as the type template.
    assert!(
        mapping.contains("type = \"legacy-payments-{status}\""),
        "{mapping}"
    );
    let amount = report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "amount")
        .unwrap();
    assert_eq!(amount["type"], "decimal");
    assert_eq!(amount["scale"], 2);
    let note = report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "note")
        .unwrap();
    assert!(note["empty_ratio"].as_f64().unwrap() > 0.2);
}

/// DuckDB's verdict on a CSV file: delimiter, header, and column types in
/// chronicle's names.
fn duckdb_sniff(path: &str) -> serde_json::Value {
    let script = r#"
import duckdb, json, sys, tempfile
path, enc = sys.argv[1], sys.argv[2]
if enc != "utf-8":
    # DuckDB reads UTF-8 only: give it a UTF-8 copy of the same text.
    tmp = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8")
    tmp.write(open(path, encoding="cp1252", newline="").read())
    tmp.close()
    path = tmp.name
# ignore_errors lets DuckDB sniff files with a few broken rows, as chronicle does.
row = duckdb.sql("select Delimiter, HasHeader, Columns from sniff_csv(?, ignore_errors=true)", params=[path]).fetchall()[0]
names = {"VARCHAR": "string", "BIGINT": "int", "INTEGER": "int", "DOUBLE": "decimal",
         "BOOLEAN": "bool", "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamp", "DATE": "timestamp"}
print(json.dumps({"delimiter": row[0], "has_header": row[1],
                  "types": [names.get(c["type"], c["type"]) for c in row[2]]}))
"#;
    let enc = if path.contains("cp1252") {
        "cp1252"
    } else {
        "utf-8"
    };
    let out = Command::new("python3")
        .args(["-c", script, path, enc])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn csv_sniffing_agrees_with_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("payments.csv");
    gen_payments(&generated, 3000);
    let mut inputs: Vec<String> = [
        "csv/legacy-payments.csv",
        "csv/legacy-payments.cp1252.csv",
        "csv/clean-payments.csv",
        "csv/typed-noheader.tsv",
    ]
    .iter()
    .map(|f| fixture_str(f))
    .collect();
    inputs.push(generated.display().to_string());
    for input in inputs {
        let ours = draft(dir.path(), &input, &[], "m.toml.json");
        std::fs::remove_file(dir.path().join("m.toml.json")).unwrap();
        let duck = duckdb_sniff(&input);
        assert_eq!(ours["csv"]["delimiter"], duck["delimiter"], "{input}");
        assert_eq!(ours["csv"]["has_header"], duck["has_header"], "{input}");
        // DuckDB has no JSON type: a JSON column is VARCHAR there.
        let types: Vec<String> = ours["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| match c["type"].as_str().unwrap() {
                "json" => "string".to_string(),
                t => t.to_string(),
            })
            .collect();
        let duck_types: Vec<String> = duck["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        assert_eq!(types, duck_types, "{input}");
    }
}

fn gen_payments(out: &Path, rows: u32) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-payments.py");
    let status = Command::new("python3")
        .arg(script)
        .args(["--rows", &rows.to_string(), "--out", out.to_str().unwrap()])
        .status()
        .expect("python3");
    assert!(status.success());
}

#[test]
fn the_payments_generator_draft_imports_without_edits() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("payments.csv");
    // More rows than the sample: the draft must hold beyond it.
    gen_payments(&csv, 25_000);
    let csv = csv.to_str().unwrap();
    let report = draft(dir.path(), csv, &[], "payments.toml");
    assert_eq!(report["records_sampled"], 10_000);
    assert_eq!(report["candidate_keys"][0], "payment_id");
    let (code, summary) = import(dir.path(), "csv", csv, "payments.toml", "pay");
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["read"], 25_000);
    assert_eq!(summary["imported"], 25_000);
    assert_eq!(summary["rejected"], 0);

    // Resolving the TODOs (the zone, the type template) keeps it valid.
    let text = std::fs::read_to_string(dir.path().join("payments.toml")).unwrap();
    let edited = text
        .replace("timezone = \"UTC\"", "timezone = \"America/Sao_Paulo\"")
        .replace("type = \"payments\"\n", "type = \"payment-{status}\"\n");
    assert_ne!(edited, text);
    std::fs::write(dir.path().join("edited.toml"), edited).unwrap();
    let r = run(
        dir.path(),
        &[
            "--json",
            "--store",
            "sqlite:e.db",
            "import",
            "csv",
            csv,
            "--mapping",
            "edited.toml",
            "--dry-run",
        ],
    );
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    assert!(r.json()["per_type"]["payment-completed"].as_u64().unwrap() > 0);
}

#[test]
fn the_draft_of_each_dump_imports() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, table, expected)) in [
        ("dumps/pg-plain.sql", Some("public.payments"), "pgdump"),
        ("dumps/pg-inserts.sql", Some("public.payments"), "pgdump"),
        ("dumps/my-extended.sql", Some("payments"), "mysqldump"),
        ("dumps/orders.bson", None, "mongodump"),
        ("dumps/orders.relaxed.jsonl", None, "mongoexport"),
        ("dumps/orders.canonical.jsonl", None, "mongoexport"),
    ]
    .iter()
    .enumerate()
    {
        let input = fixture_str(name);
        let extra: Vec<&str> = table.iter().flat_map(|t| ["--table", t]).collect();
        let mapping = format!("d{i}.toml");
        let report = draft(dir.path(), &input, &extra, &mapping);
        assert_eq!(report["format"], *expected, "{name}");
        let check = &report["check"];
        assert_eq!(check["rejected"], 0, "{name}: {check}");
        let (code, summary) = import(dir.path(), "dump", &input, &mapping, &format!("d{i}"));
        assert_eq!(code, 0, "{name}: {summary}");
        assert_eq!(summary["imported"], report["records_sampled"], "{name}");
    }
    // Documents: nested fields become dotted columns, `_id` the key.
    let report = draft(dir.path(), &fixture_str("dumps/orders.bson"), &[], "o.toml");
    let mapping = report["mapping"].as_str().unwrap();
    assert!(mapping.contains("key = \"{_id}\""), "{mapping}");
    assert!(
        mapping.contains("column = \"customer.id\", type = \"int\""),
        "{mapping}"
    );
    assert!(
        mapping.contains("created_at = { column = \"placed_at\" }"),
        "{mapping}"
    );
}

#[test]
fn a_dump_with_several_tables_needs_table_and_output_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        &["mapping", "draft", &fixture_str("dumps/my-extended.sql")],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--table"), "{}", r.stderr);
    std::fs::write(dir.path().join("m.toml"), "keep me").unwrap();
    let r = run(
        dir.path(),
        &[
            "mapping",
            "draft",
            &fixture_str("csv/clean-payments.csv"),
            "-o",
            "m.toml",
        ],
    );
    assert_eq!(r.code, 2);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("m.toml")).unwrap(),
        "keep me"
    );
    let r = run(
        dir.path(),
        &[
            "mapping",
            "draft",
            &fixture_str("csv/clean-payments.csv"),
            "-o",
            "m.toml",
            "--force",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::fs::read_to_string(dir.path().join("m.toml"))
        .unwrap()
        .contains("delimiter = \";\""));
}

#[test]
fn a_legacy_byte_after_an_ascii_head_makes_the_file_windows_1252() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = b"id,city,created\n".to_vec();
    for i in 0..9_500 {
        // ~120 bytes a row: the first MiB is plain ASCII.
        data.extend_from_slice(format!("{i},{:<100},2016-01-01 00:00:00\n", "Berlin").as_bytes());
    }
    data.extend_from_slice(b"9500,Z\xfcrich,2016-01-02 00:00:00\n");
    let csv = dir.path().join("cities.csv");
    std::fs::write(&csv, data).unwrap();
    let csv = csv.to_str().unwrap();
    let report = draft(dir.path(), csv, &[], "cities.toml");
    assert_eq!(report["csv"]["encoding"], "windows-1252");
    assert_eq!(report["records_sampled"], 9_501);
    let (code, summary) = import(dir.path(), "csv", csv, "cities.toml", "c");
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["imported"], 9_501);
}
