//! `chronicle rebuild NAME --emit-sql duckdb`: the emitted SQL, run by DuckDB
//! (from PyPI, never chronicle code) on the archive and the exported live
//! part, gives exactly chronicle's own rebuilt table, row by row and cell by
//! cell as text, decimals with their scales included. Also: what SQL cannot
//! express is refused with exit 2 naming the definition key.

mod common;

use std::process::Command;

use common::emit::{rows_from_json, Scene, PROJECTIONS};
use common::python_with;

const RUNNER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/run_duckdb.py");

#[test]
fn emitted_duckdb_sql_equals_chronicles_rebuild() {
    if !python_with("duckdb") {
        return;
    }
    let scene = Scene::new();
    for (name, table) in PROJECTIONS {
        let sql = scene.emit(name, "duckdb");
        let out = Command::new("python3")
            .args([RUNNER, sql.to_str().unwrap()])
            .current_dir(scene.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: duckdb failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&sql).unwrap()
        );
        let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let columns: Vec<String> = result["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(columns, scene.columns(table), "{name}: columns");
        let expected = scene.table(table);
        assert!(!expected.is_empty(), "{name}: chronicle wrote no rows");
        assert_eq!(
            rows_from_json(&result["rows"]),
            expected,
            "{name}: DuckDB's rows differ from chronicle's"
        );
    }
}

#[test]
fn what_sql_cannot_express_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("chronicle.toml"),
        r#"
[projections.doubled]
kind = "table"
types = ["a"]
target = "sqlite:reports.db"
columns = [
  { name = "n", value = "sum(number(payload.n))" },
  { name = "twice", value = "n * 2" },
]

[projections.feed]
kind = "exec"
types = ["a"]
command = ["true"]
"#,
    )
    .unwrap();
    for (name, key) in [
        ("doubled", "projections.doubled.columns[1].value"),
        ("feed", "projections.feed.kind"),
    ] {
        for engine in ["duckdb", "spark"] {
            let run = common::run(dir.path(), &["rebuild", name, "--emit-sql", engine]);
            assert_eq!(run.code, 2, "{name} {engine}: {}", run.stderr);
            assert!(run.stdout.is_empty(), "{name}: printed {}", run.stdout);
            assert!(run.stderr.contains(key), "{name}: {}", run.stderr);
        }
    }
    // --emit-sql runs nothing, so flags about the run make no sense with it.
    for flag in [&["--dry-run"][..], &["--prefer", "live"]] {
        let mut args = vec!["rebuild", "doubled", "--emit-sql", "duckdb"];
        args.extend_from_slice(flag);
        let run = common::run(dir.path(), &args);
        assert_eq!(run.code, 2, "{flag:?}: {}", run.stderr);
        assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    }
    // Nothing was created: emitting SQL opens no store and no target.
    assert!(!dir.path().join("reports.db").exists());
    assert!(!dir.path().join("chronicle.db").exists());
}
