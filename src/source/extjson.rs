//! mongoexport output: one document per line (the default), a JSON array
//! (`--jsonArray`), or pretty-printed documents, in MongoDB Extended JSON
//! v2, canonical or relaxed (`$oid`, `$date`, `$numberLong`, `$numberInt`,
//! `$numberDouble`, `$numberDecimal`, `$binary`, `$uuid`, `$timestamp`,
//! `$regularExpression`, `$minKey`, ...; the legacy v1 `$binary`/`$type`
//! and `$regex`/`$options` forms too). The bson crate parses it into BSON,
//! which converts exactly as a mongodump document does
//! ([`crate::bson_json`]), so a mongodump and a mongoexport of the same
//! collection import to the same events. tests/extjson_reference.rs checks
//! every form against pymongo's `bson.json_util`.
//!
//! The input is split into top-level documents by a small scanner that
//! tracks strings and nesting, so an array of millions of documents on a
//! single line is read one document at a time. A document that is not valid
//! JSON or not valid Extended JSON is rejected with its line; input that
//! ends inside a document is a truncated file and stops the import.

use std::io::Read;

use anyhow::bail;
use bson::{Bson, RawBson};
use serde_json::{Map, Value};

use super::document::DocColumns;
use super::reader::ByteReader;
use super::row::{map_row, Row};
use super::{EventSource, Item, RawRecord, Reject};
use crate::bson_json::{double_value, value_to_json, Rules};
use crate::mapping::{CompiledMapping, Mapping};

pub struct ExtJsonSource {
    input: ByteReader,
    /// None until the first byte decides between lines and an array.
    array: Option<bool>,
    ended: bool,
    columns: DocColumns,
    mapping: CompiledMapping,
    text: Vec<u8>,
    row: Row,
    scratch: String,
}

impl ExtJsonSource {
    pub fn new(input: Box<dyn Read + Send>, mapping: &Mapping) -> anyhow::Result<ExtJsonSource> {
        let (columns, compiled) = DocColumns::from_mapping(mapping)?;
        Ok(ExtJsonSource {
            input: ByteReader::new(input),
            array: None,
            ended: false,
            columns,
            mapping: compiled,
            text: Vec::new(),
            row: Row::default(),
            scratch: String::new(),
        })
    }

    fn skip_ws(&mut self) -> anyhow::Result<Option<u8>> {
        if self.input.offset() == 0
            && self.input.peek()? == Some(0xEF)
            && self.input.peek_at(1)? == Some(0xBB)
            && self.input.peek_at(2)? == Some(0xBF)
        {
            // A UTF-8 byte order mark.
            for _ in 0..3 {
                self.input.bump()?;
            }
        }
        while let Some(b) = self.input.peek()? {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(Some(b));
            }
            self.input.bump()?;
        }
        Ok(None)
    }

    fn unexpected(&self, b: u8, expected: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "the JSON is corrupt: expected {expected} at line {} (byte {}), found `{}`",
            self.input.line(),
            self.input.offset(),
            char::from(b).escape_default()
        )
    }

    /// Copies the next top-level `{...}` into `self.text`.
    fn scan_document(&mut self) -> anyhow::Result<()> {
        let line = self.input.line();
        self.text.clear();
        let mut depth = 0usize;
        let mut in_string = false;
        loop {
            let Some(b) = self.input.bump()? else {
                bail!(
                    "the JSON is truncated: the document starting at line {line} is not closed when the input ends (line {}, byte {})",
                    self.input.line(),
                    self.input.offset()
                );
            };
            self.text.push(b);
            if in_string {
                match b {
                    b'\\' => {
                        if let Some(e) = self.input.bump()? {
                            self.text.push(e);
                        }
                    }
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }

    /// Positions on the next document; false at the end of the input.
    fn next_document(&mut self) -> anyhow::Result<bool> {
        if self.ended {
            return Ok(false);
        }
        let first = self.array.is_none();
        let Some(mut b) = self.skip_ws()? else {
            if self.array == Some(true) {
                bail!(
                    "the JSON is truncated: the array is not closed when the input ends (line {})",
                    self.input.line()
                );
            }
            self.ended = true;
            return Ok(false);
        };
        if first {
            let array = b == b'[';
            self.array = Some(array);
            if array {
                self.input.bump()?;
                match self.skip_ws()? {
                    Some(b']') => {
                        self.input.bump()?;
                        return self.end_of_array();
                    }
                    Some(x) => b = x,
                    None => return self.next_document(),
                }
            }
        } else if self.array == Some(true) {
            match b {
                b',' => {
                    self.input.bump()?;
                    b = match self.skip_ws()? {
                        Some(x) => x,
                        None => return self.next_document(),
                    };
                }
                b']' => {
                    self.input.bump()?;
                    return self.end_of_array();
                }
                other => return Err(self.unexpected(other, "`,` or `]` between documents")),
            }
        }
        if b != b'{' {
            return Err(self.unexpected(b, "a document `{`"));
        }
        Ok(true)
    }

    fn end_of_array(&mut self) -> anyhow::Result<bool> {
        self.ended = true;
        match self.skip_ws()? {
            None => Ok(false),
            Some(b) => Err(self.unexpected(b, "the end of the input after the array")),
        }
    }
}

impl EventSource for ExtJsonSource {
    fn next_item(&mut self) -> anyhow::Result<Option<Item>> {
        if !self.next_document()? {
            return Ok(None);
        }
        let line = self.input.line();
        self.scan_document()?;
        let reject = |reason: String, text: &[u8]| {
            Item::Rejected(Reject {
                line,
                reason,
                raw: RawRecord::Text(text.to_vec()),
            })
        };
        let parsed: Value = match serde_json::from_slice(&self.text) {
            Ok(v) => v,
            Err(e) => return Ok(Some(reject(format!("not valid JSON ({e})"), &self.text))),
        };
        let doc = match convert(parsed) {
            Ok(Value::Object(m)) => m,
            // A top-level wrapper such as `{"$oid": ...}` converts to a
            // scalar: a value, not a document with fields to map.
            Ok(other) => {
                return Ok(Some(reject(
                    format!("not a document: the line is a single Extended JSON value ({other})"),
                    &self.text,
                )))
            }
            Err(reason) => {
                return Ok(Some(reject(
                    format!("not valid Extended JSON: {reason}"),
                    &self.text,
                )))
            }
        };
        self.columns.fill(&doc, &mut self.row);
        let text = &self.text;
        Ok(Some(map_row(
            &self.mapping,
            &self.columns.names,
            &mut self.row,
            &mut self.scratch,
            line,
            || RawRecord::Text(text.to_vec()),
        )))
    }
}

/// Turns Extended JSON into the plain JSON that BSON converts to. Values
/// that are plain JSON (strings, numbers, booleans, null, and documents and
/// arrays without type wrappers) are already what their BSON converts to
/// and are kept; every object with a `$` key is a type wrapper (or a DBRef)
/// and is parsed by the bson crate, after [`legacy_to_v2`] has rewritten
/// the v1 forms it lacks, then converted by the shared rules of
/// [`crate::bson_json`], exactly as a mongodump value is. Converting only
/// the wrappers keeps the plain bulk of a document off the BSON round trip.
pub fn convert(value: Value) -> Result<Value, String> {
    match value {
        Value::Object(map) if map.keys().any(|k| k.starts_with('$')) => wrapper(map),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| match convert(v) {
                Ok(v) => Ok((k, v)),
                Err(e) => Err(format!("field `{k}`: {e}")),
            })
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object),
        Value::Array(items) => items
            .into_iter()
            .map(convert)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        // An integer above i64::MAX has no BSON integer type: the bson
        // crate reads it as a double, and so it converts.
        Value::Number(n) if n.as_i64().is_none() && n.as_u64().is_some() => {
            Ok(double_value(n.as_f64().unwrap_or(f64::NAN)))
        }
        other => Ok(other),
    }
}

/// A type wrapper (or a DBRef or other document with `$` keys), through
/// the bson crate and the shared conversion.
fn wrapper(map: Map<String, Value>) -> Result<Value, String> {
    let mut value = Value::Object(map);
    legacy_to_v2(&mut value)?;
    let bson = Bson::try_from(value).map_err(|e| bson_reason(&e))?;
    let raw = RawBson::try_from(bson).map_err(|e| bson_reason(&e))?;
    value_to_json(raw.as_raw_bson_ref(), Rules::Dump).map_err(|e| e.to_string())
}

/// The bson crate's error as a reason, without its "BSON error" framing.
fn bson_reason(e: &bson::error::Error) -> String {
    let mut text = match &e.message {
        Some(m) => format!("{}: {m}", e.kind),
        None => e.kind.to_string(),
    };
    if let Some(key) = &e.key {
        text = format!("field `{key}`: {text}");
    }
    text
}

/// The shim for the legacy (v1) Extended JSON forms that the bson crate
/// does not read, rewritten in place to their v2 equivalents, as pymongo's
/// `bson.json_util` reads them:
/// - `{"$binary": "<base64>", "$type": "<hex>"}` (or a number for `$type`;
///   mongoexport wrote user subtypes as `ffffff80`) becomes
///   `{"$binary": {"base64": .., "subType": ..}}`;
/// - `{"$regex": "<pattern>", "$options": "<flags>"}` becomes
///   `$regularExpression`; a `$regex` whose value is not a string is the
///   query operator, and stays a document.
///
/// A one-digit v2 `subType` (`"0"`) is padded, which pymongo accepts too.
pub fn legacy_to_v2(value: &mut Value) -> Result<(), String> {
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(legacy_to_v2),
        Value::Object(map) => {
            let legacy_binary = map.len() == 2
                && map.get("$binary").is_some_and(Value::is_string)
                && map.contains_key("$type");
            if legacy_binary {
                let subtype = legacy_subtype(&map["$type"])?;
                let data = map.remove("$binary").expect("checked");
                map.clear();
                map.insert(
                    "$binary".into(),
                    serde_json::json!({"base64": data, "subType": subtype}),
                );
                return Ok(());
            }
            let legacy_regex = map.get("$regex").is_some_and(Value::is_string)
                && (map.len() == 1 || map.len() == 2 && map.contains_key("$options"));
            if legacy_regex {
                let pattern = map.remove("$regex").expect("checked");
                let options = match map.remove("$options") {
                    None => Value::String(String::new()),
                    Some(o @ Value::String(_)) => o,
                    Some(other) => return Err(format!("$options must be a string, found {other}")),
                };
                map.insert(
                    "$regularExpression".into(),
                    serde_json::json!({"pattern": pattern, "options": options}),
                );
                return Ok(());
            }
            if let Some(Value::Object(binary)) = map.get_mut("$binary") {
                if let Some(Value::String(sub)) = binary.get_mut("subType") {
                    if sub.len() == 1 {
                        sub.insert(0, '0');
                    }
                }
                return Ok(());
            }
            map.values_mut().try_for_each(legacy_to_v2)
        }
        _ => Ok(()),
    }
}

/// A legacy `$type`: two hex digits, a number, or mongoexport's
/// `ffffff80`-style user subtypes.
fn legacy_subtype(t: &Value) -> Result<String, String> {
    let n = match t {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => u64::from_str_radix(s, 16).ok(),
        _ => None,
    };
    match n {
        Some(n) if n <= 0xff => Ok(format!("{n:02x}")),
        Some(n) if (0xffff_ff80..=0xffff_ffff).contains(&n) => Ok(format!("{:02x}", n & 0xff)),
        _ => Err(format!("bad $type {t} (a binary subtype in hex)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_and_relaxed_agree() {
        let canonical = serde_json::json!({
            "_id": {"$oid": "5F00000000000000000000AB"},
            "n": {"$numberLong": "9007199254740993"},
            "i": {"$numberInt": "7"},
            "f": {"$numberDouble": "4.5"},
            "d": {"$date": {"$numberLong": "1451649600123"}},
            "m": {"$numberDecimal": "1.0E+3"},
            "b": {"$binary": {"base64": "AQID", "subType": "00"}},
            "u": {"$binary": {"base64": "ESIzRFVmd4iZqrvM3e7/AA==", "subType": "04"}},
            "nested": {"x": [{"$numberInt": "1"}]}
        });
        let relaxed = serde_json::json!({
            "_id": {"$oid": "5f00000000000000000000ab"},
            "n": 9007199254740993i64,
            "i": 7,
            "f": 4.5,
            "d": {"$date": "2016-01-01T12:00:00.123Z"},
            "m": {"$numberDecimal": "1000"},
            "b": {"$binary": "AQID", "$type": "00"},
            "u": {"$uuid": "11223344-5566-7788-99aa-bbccddeeff00"},
            "nested": {"x": [1]}
        });
        let a = convert(canonical).unwrap();
        let b = convert(relaxed).unwrap();
        assert_eq!(a, b);
        assert_eq!(a["d"], "2016-01-01T12:00:00.123Z");
        assert_eq!(a["m"], "1000");
        assert_eq!(a["u"], "11223344-5566-7788-99aa-bbccddeeff00");
    }

    #[test]
    fn bad_wrappers_are_errors() {
        assert!(convert(serde_json::json!({"a": {"$numberLong": "x"}})).is_err());
        assert!(convert(serde_json::json!({"a": {"$oid": "123"}})).is_err());
    }

    fn source(text: &str) -> ExtJsonSource {
        let mapping = Mapping::parse(
            "t.toml",
            "[event]\nservice = \"s\"\ntype = \"t\"\nkey = \"{_id}\"\ncreated_at = \"{at}\"\n",
        )
        .unwrap();
        ExtJsonSource::new(
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            &mapping,
        )
        .unwrap()
    }

    fn drain(s: &mut ExtJsonSource) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        while let Some(item) = s.next_item()? {
            out.push(match item {
                Item::Event { line, .. } => format!("event@{line}"),
                Item::Rejected(r) => format!("reject@{}", r.line),
                Item::Skipped => "skip".into(),
            });
        }
        Ok(out)
    }

    #[test]
    fn lines_arrays_and_truncation() {
        let doc = r#"{"_id": 1, "at": {"$date": "2016-01-01T00:00:00Z"}, "s": "a}]\"{"}"#;
        let lines = format!("{doc}\n{doc}\n\n{{\"_id\": 3, bad}}\n");
        assert_eq!(
            drain(&mut source(&lines)).unwrap(),
            ["event@1", "event@2", "reject@4"]
        );
        let array = format!("[{doc},\n{doc}]\n");
        assert_eq!(drain(&mut source(&array)).unwrap(), ["event@1", "event@2"]);
        assert!(drain(&mut source("[]")).unwrap().is_empty());
        let err = drain(&mut source(&format!("{doc}\n{{\"_id\": 2, \"at\""))).unwrap_err();
        assert!(err.to_string().contains("starting at line 2"), "{err}");
        let err = drain(&mut source(&format!("[{doc},"))).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
