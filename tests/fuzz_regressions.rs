//! Regression tests for what fuzzing found, by the fuzzers or while writing
//! their targets and invariants (see docs/fuzzing.md). Each feeds
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

/// Found while writing the export/import invariant that every source target
/// checks: a payload number was re-read inexactly, so importing a canonical event stored a different
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

/// Runs `f` on a thread with the 2 MiB stack of the import's reader thread,
/// so a recursion that a crafted input can drive overflows as it would there.
fn on_reader_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// One BSON document holding `levels` embedded documents, each `{"a": ...}`,
/// plus `_id` and `at` so that it maps when it parses.
fn nested_bson(levels: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 8 * levels);
    // Outermost first: its length covers _id, at, the nested chain (8 bytes
    // a level) and its own terminator.
    let head = 4 + (1 + 4 + 4) + (1 + 3 + 4 + 11);
    out.extend_from_slice(&((head + 8 * levels + 1) as i32).to_le_bytes());
    out.push(0x10);
    out.extend_from_slice(b"_id\0");
    out.extend_from_slice(&1i32.to_le_bytes());
    out.push(0x02);
    out.extend_from_slice(b"at\0");
    out.extend_from_slice(&11i32.to_le_bytes());
    out.extend_from_slice(b"1451606400\0");
    for i in 0..levels {
        out.push(0x03);
        out.extend_from_slice(b"a\0");
        out.extend_from_slice(&((5 + 8 * (levels - 1 - i)) as i32).to_le_bytes());
    }
    // The terminator of the innermost, empty document, then those of the
    // documents enclosing it.
    out.extend(std::iter::repeat_n(0, levels + 1));
    out
}

fn read_bson(bytes: Vec<u8>) -> anyhow::Result<usize> {
    let mapping = Mapping::parse(
        "nested.toml",
        r#"
[event]
service = "s"
type = "t"
key = "{_id}"
created_at = { column = "at", format = "unix" }

[payload]
a = { column = "a", type = "json" }
"#,
    )
    .unwrap();
    let mut source = BsonSource::new(Box::new(Cursor::new(bytes)), &mapping)?;
    let mut n = 0;
    while source.next_item()?.is_some() {
        n += 1;
    }
    Ok(n)
}

/// Found while writing the `bson` target (its inputs are too short to reach
/// it): a mongodump document nested 200,000 levels deep (1.6 MB, well inside
/// BSON's size limit) overflowed the reader thread's stack and killed the
/// process. It is now refused as corrupt, like any document MongoDB itself
/// could not have stored; MongoDB's own limit of 100 levels still reads.
#[test]
fn deeply_nested_bson_is_an_error_not_a_stack_overflow() {
    let err = on_reader_stack(|| read_bson(nested_bson(200_000)).map_err(|e| format!("{e:#}")))
        .unwrap_err();
    assert!(err.contains("nest"), "{err}");
    assert!(err.contains("corrupt"), "{err}");
    // The top-level document is level 1.
    assert_eq!(on_reader_stack(|| read_bson(nested_bson(99)).unwrap()), 1);
    assert!(on_reader_stack(|| read_bson(nested_bson(100)).is_err()));
}

/// Found while writing the `projection_expr` target: the projection
/// expression parser recursed once per parenthesis, so a
/// definition like `((((...a...))))` overflowed the stack.
#[test]
fn deeply_nested_projection_expression_is_an_error_not_a_stack_overflow() {
    use chronicle::projection::expr::parse;
    let deep = format!("{}payload.a{}", "(".repeat(100_000), ")".repeat(100_000));
    let err = on_reader_stack(move || parse(&deep).map(|_| ())).unwrap_err();
    assert!(err.contains("nests"), "{err}");
    let negations = format!("{}1", "-".repeat(100_000));
    assert!(on_reader_stack(move || parse(&negations).is_err()));
    let fine = format!("{}payload.a{}", "(".repeat(30), ")".repeat(30));
    assert!(parse(&fine).is_ok());
}

/// Found by the `extjson` target: a mongoexport line whose top level is an
/// Extended JSON wrapper (`{"$oid": ...}`, `{"$numberDouble": ...}`) converts
/// to a scalar, and the reader panicked ("an object stays an object"). It is
/// a rejected record now, and the next line still imports.
#[test]
fn extjson_top_level_wrapper_is_rejected_not_a_panic() {
    use chronicle::source::extjson::ExtJsonSource;
    let mapping = Mapping::parse(
        "ext.toml",
        r#"
[event]
service = "s"
type = "t"
key = "{_id}"
created_at = { column = "at", format = "unix" }
"#,
    )
    .unwrap();
    let input = concat!(
        r#"{"$oid": "5f1e9b3c2a4d6e8f10203040"}"#,
        "\n",
        r#"{"$numberDouble": "1.0"}"#,
        "\n",
        r#"{"_id": 1, "at": "1451606400"}"#,
        "\n"
    );
    let mut source =
        ExtJsonSource::new(Box::new(Cursor::new(input.as_bytes().to_vec())), &mapping).unwrap();
    let items = drain(&mut source);
    assert_eq!(items.len(), 3, "{items:?}");
    for (item, line) in items[..2].iter().zip([1, 2]) {
        match item {
            Item::Rejected(reject) => {
                assert_eq!(reject.line, line);
                assert!(
                    reject.reason.contains("not a document"),
                    "{}",
                    reject.reason
                );
            }
            other => panic!("expected a reject, got {other:?}"),
        }
    }
    assert!(
        matches!(items[2], Item::Event { line: 3, .. }),
        "{:?}",
        items[2]
    );
}

/// Evaluates a row expression of a projection on one event's payload, on
/// its own thread: `None` when it has not finished within 5 seconds.
fn eval_with_deadline(expr: &'static str, payload: &'static str) -> Option<Option<String>> {
    use chronicle::projection::expr::{parse, RowExpr};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let event = chronicle::event::Event {
            id: uuid::Uuid::nil(),
            service: "core".into(),
            event_type: "payment-completed".into(),
            created_at: 0,
            received_at: Some(0),
            aggregate_id: None,
            correlation_id: None,
            payload: payload.into(),
        };
        let row = RowExpr::compile(&parse(expr).unwrap()).unwrap();
        let text = row.eval(event.view()).ok().and_then(|v| v.to_text());
        let _ = tx.send(text);
    });
    rx.recv_timeout(std::time::Duration::from_secs(5)).ok()
}

/// Found while writing the `projection_expr` target (a payload-driven path it
/// covers): a zero with a huge exponent in a
/// money string (`0e2147483647/EUR`) made the decimal parser scale it two
/// billion times, so a projection rebuild stalled on it. Zero is zero; a
/// non-zero mantissa with a huge exponent is an overflow error.
#[test]
fn decimal_with_a_huge_exponent_does_not_hang_a_projection() {
    let zero = eval_with_deadline("amount(payload.amount)", r#"{"amount":"0e2147483647/EUR"}"#)
        .expect("amount() finishes");
    assert_eq!(zero.as_deref(), Some("0"));
    let overflow = eval_with_deadline("amount(payload.amount)", r#"{"amount":"1e2147483647/EUR"}"#)
        .expect("amount() finishes");
    assert_eq!(overflow, None);
}

/// Found by the `csv` fuzzer on the merged code: a Unix time far outside
/// the years 0000–9999 (or `nan`, `inf`) was mapped to an event whose
/// timestamp printed as `invalid-timestamp(…)` and could never be exported
/// and re-imported. Such values are rejects naming the column; the edges of
/// the range still map.
#[test]
fn unix_times_outside_the_calendar_are_rejects_not_broken_events() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = Mapping::parse(
        "typed-noheader.toml",
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/csv/typed-noheader.toml"),
        )
        .unwrap(),
    )
    .unwrap();
    let huge = format!("1{}", "1".repeat(150));
    let mut input = String::new();
    for ts in [
        huge.as_str(),
        "nan",
        "inf",
        "-inf",
        "253402300800",
        "-62167219201",
    ] {
        input.push_str(&format!("1\ttrue\t{{}}\t{ts}\t1.5\tx\n"));
    }
    for ts in ["253402300799", "-62167219200", "0"] {
        input.push_str(&format!("2\ttrue\t{{}}\t{ts}\t1.5\tx\n"));
    }
    let path = write(dir.path(), "times.tsv", input.as_bytes());
    let (mut source, _meter, _size) =
        chronicle::source::csv::CsvSource::open(&path, &mapping).unwrap();
    let items = drain(&mut source);
    let mut rejected = 0;
    let mut mapped = 0;
    for item in items {
        match item {
            Item::Rejected(reject) => {
                rejected += 1;
                assert!(reject.reason.contains("ts"), "{}", reject.reason);
            }
            Item::Event { event, .. } => {
                mapped += 1;
                let line = event.to_json_line();
                let back = chronicle::event::Event::from_json_str(&line)
                    .unwrap_or_else(|e| panic!("{e}: {line}"));
                assert!(back.same_content(&event), "{line}");
            }
            Item::Skipped => {}
        }
    }
    assert_eq!((rejected, mapped), (6, 3));
}
