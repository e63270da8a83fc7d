//! Extended JSON read by chronicle against pymongo's `bson.json_util` as the
//! independent reference: every document of every mongoexport fixture in
//! fixtures/dumps/ (canonical and relaxed v2, legacy v1, a JSON array) is
//! read by pymongo and encoded to BSON by pymongo, and chronicle's reading
//! of the Extended JSON must give exactly what chronicle's mongodump reader
//! gives for pymongo's BSON. So a form the bson crate or the legacy shim
//! read as another type or value than pymongo does fails here.

use std::path::{Path, PathBuf};
use std::process::Command;

use chronicle::source::bson::parse_document;
use chronicle::source::extjson::convert;
use serde_json::Value;

mod common;
use common::python_with;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dumps")
        .join(name)
}

/// pymongo's BSON for each document of `file`.
fn pymongo_bson(file: &Path) -> Vec<Vec<u8>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/extjson_reference.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| hex::decode(l).unwrap())
        .collect()
}

/// The documents of a mongoexport file as JSON, split as mongoexport wrote
/// them (one per line, or the items of an array).
fn documents(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap();
    if text.trim_start().starts_with('[') {
        match serde_json::from_str(&text).unwrap() {
            Value::Array(items) => items,
            _ => unreachable!(),
        }
    } else {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[test]
fn every_extended_json_form_reads_as_pymongo_reads_it() {
    if !python_with("bson") {
        return;
    }
    let files = [
        "extjson-forms.jsonl",
        "orders.canonical.jsonl",
        "orders.relaxed.jsonl",
        "orders.array.json",
    ];
    for name in files {
        let file = fixture(name);
        let ours = documents(&file);
        let reference = pymongo_bson(&file);
        assert_eq!(ours.len(), reference.len(), "{name}: document count");
        for (i, (doc, bson)) in ours.into_iter().zip(reference).enumerate() {
            let text = doc.to_string();
            let ours = convert(doc).unwrap_or_else(|e| panic!("{name} #{i}: {e}\n{text}"));
            let theirs =
                Value::Object(parse_document(&bson).unwrap_or_else(|e| panic!("{name} #{i}: {e}")));
            assert_eq!(ours, theirs, "{name} document {i}:\n{text}");
        }
    }
}
