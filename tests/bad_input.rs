//! Input integrity: unterminated and stray quotes, malformed quoting,
//! original bytes in rejects files, duplicate JSON keys, pg_dump SQL_ASCII,
//! `--max-rejects`, empty and truncated inputs, truncated dumps, and stdin.
//! Every test runs the built binary over files: the small fixtures in
//! fixtures/bad-input/ (expected rejects committed beside them), larger
//! inputs generated here, and cut copies of the real dumps in fixtures/dumps/.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine as _;
use common::{command, fixture, fixture_str, run, store_uris, Run};
use serde_json::Value;

const MAPPING: &str = "bad-input/payments.toml";

fn sqlite(dir: &Path, name: &str) -> String {
    format!("sqlite:{}", dir.join(format!("{name}.db")).display())
}

/// `import KIND FILE [-m MAPPING] --store STORE --rejects REJECTS --json`.
fn import(dir: &Path, kind: &str, file: &str, mapping: Option<&str>, store: &str) -> Run {
    let rejects = dir.join("rejects.out");
    let mut args = vec!["import", kind, file];
    if let Some(m) = mapping {
        args.extend(["-m", m]);
    }
    args.extend([
        "--store",
        store,
        "--rejects",
        rejects.to_str().unwrap(),
        "--json",
    ]);
    run(dir, &args)
}

/// `import csv FILE -m MAPPING` (a fixture path) into `store`.
fn import_csv(dir: &Path, csv: &Path, mapping: &str, store: &str) -> Run {
    import(
        dir,
        "csv",
        csv.to_str().unwrap(),
        Some(&fixture_str(mapping)),
        store,
    )
}

/// (imported, rejected) from a `--json` summary.
fn imported_rejected(out: &Run) -> (u64, u64) {
    let s = out.json();
    (
        s["imported"].as_u64().unwrap(),
        s["rejected"].as_u64().unwrap(),
    )
}

fn rejects(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("rejects.out")).unwrap()
}

/// Every stored event, read back through `export`.
fn exported(dir: &Path, store: &str) -> Vec<Value> {
    let out = run(dir, &["export", "--store", store]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The amounts of the stored events (each row's amount is its id), sorted.
fn stored_ids(dir: &Path, store: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = exported(dir, store)
        .iter()
        .map(|e| {
            let amount = e["payload"]["amount"].as_str().unwrap();
            amount.trim_end_matches(".00").parse().unwrap()
        })
        .collect();
    ids.sort();
    ids
}

/// A CSV of `rows` payments (id 1..=rows, on lines 2..), with line
/// `bad_line` replaced by `bad`.
fn payments_csv(path: &Path, rows: u64, bad_line: u64, bad: &str) {
    let mut out = String::from("id,status,amount,created,note\n");
    for id in 1..=rows {
        if id + 1 == bad_line {
            out.push_str(bad);
        } else {
            out.push_str(&format!("{id},ok,{id}.00,2020-01-01 10:00:00,fine"));
        }
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_quote_open_at_the_end_of_the_input_is_fatal_and_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("open.csv");
    // Issue 10's reproduction: 1,000 lines, an open quote on line 12.
    payments_csv(&csv, 999, 12, "10,ok,10.00,2020-01-01 10:00:00,\"oops");
    for store in store_uris(dir.path(), "open") {
        let out = import_csv(dir.path(), &csv, MAPPING, &store);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("line 12"), "{}", out.stderr);
        assert!(out.stderr.contains("never closed"), "{}", out.stderr);
        // Lines 2-11 were imported before; nothing from line 12 on.
        assert_eq!(stored_ids(dir.path(), &store), (1..=10).collect::<Vec<_>>());
    }
}

#[test]
fn a_quoted_field_longer_than_max_field_lines_is_rejected_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path(), "long");
    // 2,000 lines with an open quote on line 12: the default limit of 1,000
    // lines is reached long before the end of the input.
    let csv = dir.path().join("long.csv");
    payments_csv(&csv, 1999, 12, "11,ok,11.00,2020-01-01 10:00:00,\"oops");
    let out = import_csv(dir.path(), &csv, MAPPING, &store);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(imported_rejected(&out), (1998, 1));
    let expected: Vec<u64> = (1..=1999).filter(|&i| i != 11).collect();
    assert_eq!(stored_ids(dir.path(), &store), expected);
    let written = String::from_utf8(rejects(dir.path())).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 2, "{written}");
    assert!(
        lines[1].starts_with("11,ok,11.00,2020-01-01 10:00:00,\"oops,12,"),
        "{written}"
    );
    assert!(lines[1].contains("max_field_lines"), "{written}");

    // The same with max_field_bytes: a 3 KB field against a 1 KB limit.
    let mapping = dir.path().join("small.toml");
    let text = std::fs::read_to_string(fixture(MAPPING)).unwrap();
    std::fs::write(
        &mapping,
        text.replace(
            "format = \"csv\"",
            "format = \"csv\"\nmax_field_bytes = 1024",
        ),
    )
    .unwrap();
    let store = sqlite(dir.path(), "bytes");
    let big = format!("5,ok,5.00,2020-01-01 10:00:00,\"{}", "x".repeat(100));
    let mut rows = String::from("id,status,amount,created,note\n");
    rows.push_str(&big);
    rows.push('\n');
    for id in 6..40 {
        rows.push_str(&format!(
            "{id},ok,{id}.00,2020-01-01 10:00:00,{}\n",
            "y".repeat(100)
        ));
    }
    std::fs::write(&csv, rows).unwrap();
    let out = import(
        dir.path(),
        "csv",
        csv.to_str().unwrap(),
        Some(mapping.to_str().unwrap()),
        &store,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(stored_ids(dir.path(), &store), (6..40).collect::<Vec<_>>());
    let written = String::from_utf8(rejects(dir.path())).unwrap();
    assert!(written.contains("max_field_bytes"), "{written}");
    assert!(written.contains(&format!("{big},2,")), "{written}");
}

#[test]
fn a_stray_quote_rejects_only_its_line_and_swallows_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    for store in store_uris(dir.path(), "stray") {
        let out = import(
            dir.path(),
            "csv",
            &fixture_str("bad-input/stray-quote.csv"),
            Some(&fixture_str(MAPPING)),
            &store,
        );
        assert_eq!(out.code, 1, "{}", out.stderr);
        let s = out.json();
        assert_eq!(
            (
                s["read"].as_u64(),
                s["imported"].as_u64(),
                s["rejected"].as_u64()
            ),
            (Some(20), Some(19), Some(1))
        );
        // Rows 4-7 (lines 5-8), once folded into the stray quote's field,
        // are imported; so is the legitimate two-line note of row 12.
        let expected: Vec<u64> = (1..=20).filter(|&i| i != 3).collect();
        assert_eq!(stored_ids(dir.path(), &store), expected);
        let two_lines = exported(dir.path(), &store)
            .into_iter()
            .find(|e| e["payload"]["amount"] == "12.00")
            .unwrap();
        assert_eq!(two_lines["payload"]["note"], "two\nlines");
        assert_eq!(
            rejects(dir.path()),
            std::fs::read(fixture("bad-input/stray-quote.expected-rejects.csv")).unwrap()
        );
    }
}

#[test]
fn a_stray_quote_in_a_large_export_folds_no_valid_rows() {
    // Issue 10's second reproduction: a stray quote near the top of a
    // 20,000-row export, closed by a quoted field three rows further down.
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path(), "big");
    let csv = dir.path().join("big.csv");
    let mut out = String::from("id,status,amount,created,note\n");
    for id in 1..=20_000u64 {
        match id {
            5 => out.push_str("5,ok,5.00,2020-01-01 10:00:00,\"stray\n"),
            9 => out.push_str("9,ok,9.00,2020-01-01 10:00:00,\"quoted, fine\"\n"),
            _ => out.push_str(&format!("{id},ok,{id}.00,2020-01-01 10:00:00,fine\n")),
        }
    }
    std::fs::write(&csv, out).unwrap();
    let out = import_csv(dir.path(), &csv, MAPPING, &store);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(imported_rejected(&out), (19_999, 1));
    let written = String::from_utf8(rejects(dir.path())).unwrap();
    assert_eq!(written.lines().count(), 2, "{written}");
    assert!(
        written
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("5,ok,5.00,2020-01-01 10:00:00,\"stray,6,\"stray quote"),
        "{written}"
    );
}

#[test]
fn quotes_inside_fields_are_rejected_by_default_and_literal_when_lenient() {
    let dir = tempfile::tempdir().unwrap();
    let strict = sqlite(dir.path(), "strict");
    let out = import(
        dir.path(),
        "csv",
        &fixture_str("bad-input/quotes.csv"),
        Some(&fixture_str(MAPPING)),
        &strict,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(stored_ids(dir.path(), &strict), vec![3]);
    assert_eq!(
        rejects(dir.path()),
        std::fs::read(fixture("bad-input/quotes.expected-rejects.csv")).unwrap()
    );

    let lenient = sqlite(dir.path(), "lenient");
    let out = import(
        dir.path(),
        "csv",
        &fixture_str("bad-input/quotes.csv"),
        Some(&fixture_str("bad-input/payments-lenient.toml")),
        &lenient,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut notes: Vec<(String, String)> = exported(dir.path(), &lenient)
        .iter()
        .map(|e| {
            (
                e["payload"]["amount"].as_str().unwrap().to_string(),
                e["payload"]["note"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    notes.sort();
    let expected = [
        ("1.00", "\"a\"b"),
        ("2.00", "a\"b"),
        ("3.00", "x, \"y\""),
        ("4.00", "\"a,b\"c"),
    ];
    assert_eq!(
        notes,
        expected
            .iter()
            .map(|(a, n)| (a.to_string(), n.to_string()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn csv_rejects_keep_the_original_bytes_and_a_fixed_reimport_restores_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path(), "bytes");
    let input = fixture("bad-input/latin1-in-utf8.csv");
    let out = import_csv(dir.path(), &input, MAPPING, &store);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let written = rejects(dir.path());
    let original = std::fs::read(&input).unwrap();
    // The rejected record is line 3 of the input, byte for byte (0xE9, 0xE8
    // are not turned into U+FFFD), followed by the line and the reason.
    let record: &[u8] = b"2,ok,2.00,2020-01-01 10:00:00,\"caf\xe9, cr\xe8me\"";
    assert!(original.windows(record.len()).any(|w| w == record));
    let body = &written[written.iter().position(|&b| b == b'\n').unwrap() + 1..];
    assert!(
        body.starts_with(record),
        "{}",
        String::from_utf8_lossy(&written)
    );
    assert!(body[record.len()..].starts_with(b",3,"));

    // Corrected: the same rejects file, read as windows-1252.
    let fixed = dir.path().join("fixed.csv");
    std::fs::write(&fixed, &written).unwrap();
    let out = run(
        dir.path(),
        &[
            "import",
            "csv",
            fixed.to_str().unwrap(),
            "-m",
            &fixture_str("bad-input/payments-cp1252.toml"),
            "--store",
            &store,
            "--json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["imported"], 1);
    let event = exported(dir.path(), &store)
        .into_iter()
        .find(|e| e["payload"]["amount"] == "2.00")
        .unwrap();
    assert_eq!(event["payload"]["note"], "café, crème");
    // Encoding the stored text back gives exactly the original bytes.
    let (bytes, _, _) =
        encoding_rs::WINDOWS_1252.encode(event["payload"]["note"].as_str().unwrap());
    assert_eq!(&bytes[..], b"caf\xe9, cr\xe8me");
}

#[test]
fn json_line_rejects_keep_the_original_bytes_in_base64() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path(), "events");
    let good = r#"{"id":"6f1b4c1e-2a43-5d8f-9c3e-1a2b3c4d5e6f","meta":{"service":"s","type":"t","created_at":"2020-01-01T00:00:00.000Z"},"payload":{"n":"ok"}}"#;
    let mut bad = good
        .replace("5e6f", "5e70")
        .replace("\"ok\"", "\"caf\u{e9}\"")
        .into_bytes();
    // é as windows-1252: not UTF-8.
    let at = bad.windows(2).position(|w| w == "é".as_bytes()).unwrap();
    bad.splice(at..at + 2, [0xe9]);
    let mut input = good.as_bytes().to_vec();
    input.push(b'\n');
    input.extend_from_slice(&bad);
    input.push(b'\n');
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, &input).unwrap();
    let out = import(dir.path(), "events", file.to_str().unwrap(), None, &store);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let line: Value = serde_json::from_slice(&rejects(dir.path())).unwrap();
    assert_eq!(line["line"], 2);
    assert!(line.get("record").is_none(), "{line}");
    let restored = base64::engine::general_purpose::STANDARD
        .decode(line["record_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(restored, bad);
}

#[test]
fn import_events_rejects_a_line_that_repeats_a_key() {
    let dir = tempfile::tempdir().unwrap();
    for store in store_uris(dir.path(), "dupkeys") {
        let out = import(
            dir.path(),
            "events",
            &fixture_str("bad-input/duplicate-keys.jsonl"),
            None,
            &store,
        );
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(imported_rejected(&out), (1, 3));
        assert_eq!(
            String::from_utf8(rejects(dir.path())).unwrap(),
            std::fs::read_to_string(fixture("bad-input/duplicate-keys.expected-rejects.jsonl"))
                .unwrap()
        );
        let stored = exported(dir.path(), &store);
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0]["payload"]["n"], 1);
    }
}

#[test]
fn pg_dump_sql_ascii_bytes_that_are_not_utf8_are_rejects_with_their_bytes() {
    // fixtures/bad-input/pg-sql-ascii.sql: `pg_dump -E SQL_ASCII` of a
    // SQL_ASCII database where P-2's note is UTF-8 and P-3's is latin1.
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path(), "ascii");
    let out = import(
        dir.path(),
        "dump",
        &fixture_str("bad-input/pg-sql-ascii.sql"),
        Some(&fixture_str("bad-input/payments-pg.toml")),
        &store,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(imported_rejected(&out), (3, 1));
    let notes: Vec<Value> = exported(dir.path(), &store)
        .iter()
        .map(|e| e["payload"]["note"].clone())
        .collect();
    assert!(notes.contains(&Value::from("Zürich café")), "{notes:?}");
    assert!(!notes
        .iter()
        .any(|n| n.as_str().is_some_and(|t| t.contains('\u{fffd}'))));
    let written = rejects(dir.path());
    assert_eq!(
        written,
        std::fs::read(fixture("bad-input/pg-sql-ascii.expected-rejects.jsonl")).unwrap()
    );
    let line: Value = serde_json::from_slice(&written).unwrap();
    let restored = base64::engine::general_purpose::STANDARD
        .decode(line["record_base64"].as_str().unwrap())
        .unwrap();
    let dump = std::fs::read(fixture("bad-input/pg-sql-ascii.sql")).unwrap();
    let copy_line = dump.split(|&b| b == b'\n').nth(44).unwrap();
    assert_eq!(restored, copy_line, "line 45 of the dump, byte for byte");
}

fn max_rejects(dir: &Path, n: &str, csv: &Path, store: &str) -> Run {
    run(
        dir,
        &[
            "import",
            "csv",
            csv.to_str().unwrap(),
            "-m",
            &fixture_str(MAPPING),
            "--store",
            store,
            "--max-rejects",
            n,
        ],
    )
}

#[test]
fn max_rejects_stops_only_when_the_count_exceeds_n() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("last.csv");
    // The only reject is on the last row.
    payments_csv(&csv, 50, 51, "50,ok,not-a-number,2020-01-01 10:00:00,x");
    let out = max_rejects(dir.path(), "1", &csv, &sqlite(dir.path(), "one"));
    assert_eq!(
        out.code, 1,
        "one reject is within --max-rejects 1: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("stopped"), "{}", out.stderr);

    // Two rejects exceed 1: the import stops at the second, on line 31.
    payments_csv(&csv, 50, 21, "20,ok,bad,2020-01-01 10:00:00,x");
    let text = std::fs::read_to_string(&csv).unwrap().replace(
        "30,ok,30.00,2020-01-01 10:00:00,fine",
        "30,ok,bad,2020-01-01 10:00:00,x",
    );
    std::fs::write(&csv, text).unwrap();
    let store = sqlite(dir.path(), "two");
    let out = max_rejects(dir.path(), "1", &csv, &store);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("stopped at {}:31", csv.display())),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("exceed --max-rejects 1"),
        "{}",
        out.stderr
    );
    // Nothing after line 31 was read.
    assert_eq!(*stored_ids(dir.path(), &store).last().unwrap(), 29);
}

#[test]
fn empty_inputs_say_that_they_are_empty() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, b"").unwrap();
    let zero_gz = dir.path().join("zero.csv.gz");
    std::fs::write(&zero_gz, b"").unwrap();
    let gz_of_nothing = dir.path().join("nothing.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"\n\n").unwrap();
    std::fs::write(&gz_of_nothing, gz.finish().unwrap()).unwrap();
    for (file, says) in [
        (&empty, "is empty (0 bytes)"),
        (&zero_gz, "is empty (0 bytes)"),
        (
            &gz_of_nothing,
            "is empty: its gzip data decompresses to no header line",
        ),
    ] {
        let out = import(
            dir.path(),
            "csv",
            file.to_str().unwrap(),
            Some(&fixture_str(MAPPING)),
            &sqlite(dir.path(), "e"),
        );
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("{} {says}", file.display())),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains("unknown column"), "{}", out.stderr);
    }
    let out = import(
        dir.path(),
        "dump",
        zero_gz.to_str().unwrap(),
        Some(&fixture_str("dumps/payments-pg.toml")),
        &sqlite(dir.path(), "e"),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{} is empty (0 bytes)", zero_gz.display())),
        "{}",
        out.stderr
    );
}

#[test]
fn a_truncated_csv_gz_names_the_byte_offset_and_the_last_line_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,status,amount,created,note\n");
    for id in 1..=20_000 {
        csv.push_str(&format!(
            "{id},ok,{id}.00,2020-01-01 10:00:00,note number {id}\n"
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(csv.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let cut = dir.path().join("cut.csv.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    let out = import(
        dir.path(),
        "csv",
        cut.to_str().unwrap(),
        Some(&fixture_str(MAPPING)),
        &sqlite(dir.path(), "gz"),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "the gzip stream is truncated: the compressed data ends at byte {}",
            gz.len() / 2
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the last line read was line "),
        "{}",
        out.stderr
    );
}

/// The first `len` bytes of a dump fixture, written to `dir`.
fn cut_fixture(dir: &Path, name: &str, len: usize) -> PathBuf {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let path = dir.join(format!("cut-{}", name.replace('/', "-")));
    std::fs::write(&path, &bytes[..len]).unwrap();
    path
}

fn offset_of(name: &str, needle: &str) -> usize {
    common::offset_in(&fixture(name), needle)
}

fn line_of(name: &str, offset: usize) -> usize {
    let bytes = std::fs::read(fixture(name)).unwrap();
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count()
}

#[test]
fn a_pg_inserts_dump_cut_inside_a_table_name_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let name = "dumps/pg-inserts.sql";
    let at =
        offset_of(name, "INSERT INTO public.payments VALUES ('P-0003'") + "INSERT INTO pub".len();
    let cut = cut_fixture(dir.path(), name, at);
    let out = import(
        dir.path(),
        "dump",
        cut.to_str().unwrap(),
        Some(&fixture_str("dumps/payments-pg.toml")),
        &sqlite(dir.path(), "pg"),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let line = line_of(name, at);
    assert!(
        out.stderr
            .contains(&format!("the dump is truncated at line {line} (byte {at})")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("unsupported"), "{}", out.stderr);
}

#[test]
fn a_mysqldump_cut_between_rows_says_so_in_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let name = "dumps/my-extended.sql";
    let at = offset_of(name, "('P-0003'");
    let cut = cut_fixture(dir.path(), name, at);
    let out = import(
        dir.path(),
        "dump",
        cut.to_str().unwrap(),
        Some(&fixture_str("dumps/payments-my.toml")),
        &sqlite(dir.path(), "my"),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let line = line_of(name, at);
    assert!(
        out.stderr.contains(&format!(
            "the dump is truncated at line {line} (byte {at}): it ends where the next VALUES tuple should start"
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("inside to"), "{}", out.stderr);
}

#[test]
fn sql_strings_and_comments_left_open_name_the_line_where_they_opened() {
    let dir = tempfile::tempdir().unwrap();
    let name = "dumps/pg-inserts.sql";
    let dump = std::fs::read_to_string(fixture(name)).unwrap();
    let at = dump.find("'P-0003'").unwrap();
    let opened = line_of(name, at);
    for (label, text) in [
        ("string", format!("{}'P-0003", &dump[..at])),
        ("comment", format!("{}/* never closed\n\n", &dump[..at - 1])),
    ] {
        let file = dir.path().join(format!("open-{label}.sql"));
        std::fs::write(&file, text).unwrap();
        let out = import(
            dir.path(),
            "dump",
            file.to_str().unwrap(),
            Some(&fixture_str("dumps/payments-pg.toml")),
            &sqlite(dir.path(), label),
        );
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains("the dump is truncated at line"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!("opened at line {opened}")),
            "{label}: {}",
            out.stderr
        );
    }
}

#[test]
fn rejects_of_stdin_go_to_the_current_folder_and_the_summary_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let input = std::fs::read(fixture("bad-input/quotes.csv")).unwrap();
    let mut child = command(
        dir.path(),
        &[
            "import",
            "csv",
            "-",
            "-m",
            &fixture_str(MAPPING),
            "--store",
            &sqlite(dir.path(), "stdin"),
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rejected records were written to ./stdin.rejects.csv"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("stdin.rejects.csv")).unwrap(),
        std::fs::read(fixture("bad-input/quotes.expected-rejects.csv")).unwrap()
    );
}
