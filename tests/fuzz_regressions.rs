//! Regression tests for what fuzzing found (see docs/fuzzing.md). Each feeds
//! the minimised input through the same library code path as its fuzz target
//! (the sources the CLI builds, the projection parser, the manifest reader)
//! and checks the behaviour the fix restored, so CI keeps it fixed without
//! running the fuzzers.

use std::io::Cursor;
use std::path::Path;

use chronicle::mapping::Mapping;
use chronicle::source::bson::BsonSource;
use chronicle::source::events::JsonLinesSource;
use chronicle::source::{EventSource, Item};

/// Every item a source yields until its end; the first fatal error fails.
fn drain(source: &mut dyn EventSource) -> Vec<Item> {
    let mut items = Vec::new();
    while let Some(item) = source.next_item().expect("source reads to the end") {
        items.push(item);
    }
    items
}

fn events(items: Vec<Item>) -> Vec<chronicle::event::Event> {
    items
        .into_iter()
        .map(|item| match item {
            Item::Event { event, .. } => event,
            other => panic!("expected an event, got {other:?}"),
        })
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A double whose shortest text serde_json's default (fast, not exact)
/// parser reads back as its neighbour, 1.0715660391465825e-75.
const INEXACT_DOUBLE: &str = "1.0715660391465826e-75";

/// Found by the `events` target's export/import invariant: a payload number
/// was re-read inexactly, so importing a canonical event stored a different
/// number than the file held (and an export re-imported elsewhere could
/// conflict with the original).
#[test]
fn import_events_keeps_every_double_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let line = format!(
        r#"{{"id":"d9e5dd12-0dee-5910-a719-7681a9159804","meta":{{"service":"s","type":"t","created_at":"2016-01-03T12:07:45.393Z"}},"payload":{{"x":{INEXACT_DOUBLE}}}}}"#
    );
    let path = write(dir.path(), "events.jsonl", format!("{line}\n").as_bytes());
    let (mut source, _, _) = JsonLinesSource::open(&path).unwrap();
    let events = events(drain(&mut source));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, format!(r#"{{"x":{INEXACT_DOUBLE}}}"#));
    assert_eq!(events[0].to_json_line(), line);
}

/// The same through a mongodump double mapped with `type = "json"`: the
/// stored payload must hold the document's double, not its neighbour.
#[test]
fn bson_double_through_a_json_column_is_exact() {
    let mapping = Mapping::parse(
        "doubles.toml",
        r#"
[event]
service = "s"
type = "t"
key = "{_id}"
created_at = { column = "at", format = "unix" }

[payload]
v = { column = "v", type = "json" }
"#,
    )
    .unwrap();
    let value: f64 = INEXACT_DOUBLE.parse().unwrap();
    let mut body = Vec::new();
    body.push(0x10); // int32 _id
    body.extend_from_slice(b"_id\0");
    body.extend_from_slice(&1i32.to_le_bytes());
    body.push(0x02); // string at
    body.extend_from_slice(b"at\0");
    body.extend_from_slice(&11i32.to_le_bytes());
    body.extend_from_slice(b"1451606400\0");
    body.push(0x01); // double v
    body.extend_from_slice(b"v\0");
    body.extend_from_slice(&value.to_le_bytes());
    body.push(0);
    let mut doc = ((body.len() + 4) as i32).to_le_bytes().to_vec();
    doc.extend_from_slice(&body);
    let mut source = BsonSource::new(Box::new(Cursor::new(doc)), &mapping).unwrap();
    let events = events(drain(&mut source));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, format!(r#"{{"v":{INEXACT_DOUBLE}}}"#));
}
