//! mongoexport output: one document per line (the default), a JSON array
//! (`--jsonArray`), or pretty-printed documents, in MongoDB Extended JSON
//! v2, canonical or relaxed (`$oid`, `$date`, `$numberLong`, `$numberInt`,
//! `$numberDouble`, `$numberDecimal`, `$binary`, `$uuid`, `$timestamp`,
//! `$regularExpression`, `$minKey`, ...; the legacy v1 `$binary`/`$type`
//! and `$regex`/`$options` forms too). Values are converted exactly as for
//! BSON (see `document.rs`), so a mongodump and a mongoexport of the same
//! collection import to the same events.
//!
//! The input is split into top-level documents by a small scanner that
//! tracks strings and nesting, so an array of millions of documents on a
//! single line is read one document at a time. A document that is not valid
//! JSON or not valid Extended JSON is rejected with its line; input that
//! ends inside a document is a truncated file and stops the import.

use std::io::Read;

use anyhow::bail;
use serde_json::{Map, Value};

use super::document::{
    binary_value, date_value, decimal_string_text, double_value, object, DocColumns,
};
use super::row::{map_row, Row};
use super::sql::ByteReader;
use super::{EventSource, Item, RawRecord, Reject};
use crate::event::parse_rfc3339_millis;
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
            Ok(_) => unreachable!("an object stays an object"),
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

/// Turns Extended JSON into the plain JSON that BSON converts to.
pub fn convert(value: Value) -> Result<Value, String> {
    match value {
        Value::Object(map) => convert_object(map),
        Value::Array(items) => items
            .into_iter()
            .map(convert)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => Ok(other),
    }
}

fn text<'a>(v: &'a Value, what: &str) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("{what} must be a string, found {v}"))
}

fn convert_object(map: Map<String, Value>) -> Result<Value, String> {
    if !map.keys().any(|k| k.starts_with('$')) {
        return plain_object(map);
    }
    let get = |k: &str| map.get(k);
    let single = |k: &str| map.len() == 1 && map.contains_key(k);
    if single("$oid") {
        let hex = text(&map["$oid"], "$oid")?;
        if hex.len() != 24 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("$oid `{hex}` is not 24 hex digits"));
        }
        return Ok(Value::String(hex.to_ascii_lowercase()));
    }
    if single("$date") {
        let ms = match &map["$date"] {
            Value::String(s) => parse_rfc3339_millis(s)?,
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| format!("$date {n} is not an integer"))?,
            Value::Object(o) if o.len() == 1 && o.contains_key("$numberLong") => {
                let s = text(&o["$numberLong"], "$numberLong")?;
                s.parse::<i64>()
                    .map_err(|_| format!("$numberLong `{s}` is not a 64-bit integer"))?
            }
            other => return Err(format!("bad $date {other}")),
        };
        return Ok(date_value(ms));
    }
    if single("$numberLong") {
        let s = text(&map["$numberLong"], "$numberLong")?;
        return s
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("$numberLong `{s}` is not a 64-bit integer"));
    }
    if single("$numberInt") {
        let s = text(&map["$numberInt"], "$numberInt")?;
        return s
            .parse::<i32>()
            .map(Value::from)
            .map_err(|_| format!("$numberInt `{s}` is not a 32-bit integer"));
    }
    if single("$numberDouble") {
        let s = text(&map["$numberDouble"], "$numberDouble")?;
        let f = match s {
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            _ => s
                .parse::<f64>()
                .map_err(|_| format!("$numberDouble `{s}` is not a number"))?,
        };
        return Ok(double_value(f));
    }
    if single("$numberDecimal") {
        let s = text(&map["$numberDecimal"], "$numberDecimal")?;
        return decimal_string_text(s)
            .map(Value::String)
            .ok_or_else(|| format!("$numberDecimal `{s}` is not a decimal"));
    }
    if single("$binary") || (map.len() == 2 && get("$binary").is_some() && get("$type").is_some()) {
        let (data, subtype) = match (&map["$binary"], get("$type")) {
            (Value::Object(b), None) => (
                text(b.get("base64").unwrap_or(&Value::Null), "$binary.base64")?,
                text(b.get("subType").unwrap_or(&Value::Null), "$binary.subType")?,
            ),
            (Value::String(s), Some(t)) => (s.as_str(), text(t, "$type")?),
            _ => return Err("bad $binary".into()),
        };
        let subtype =
            u8::from_str_radix(subtype, 16).map_err(|_| format!("bad subType `{subtype}`"))?;
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("$binary is not base64 ({e})"))?;
        return Ok(binary_value(subtype, &bytes));
    }
    if single("$uuid") {
        let s = text(&map["$uuid"], "$uuid")?;
        let u = uuid::Uuid::parse_str(s).map_err(|_| format!("$uuid `{s}` is not a UUID"))?;
        return Ok(Value::String(u.hyphenated().to_string()));
    }
    if single("$timestamp") {
        let t = &map["$timestamp"];
        let (Some(time), Some(inc)) = (
            t.get("t").and_then(Value::as_u64),
            t.get("i").and_then(Value::as_u64),
        ) else {
            return Err("bad $timestamp".into());
        };
        return Ok(object(&[("t", Value::from(time)), ("i", Value::from(inc))]));
    }
    if single("$regularExpression") {
        let r = &map["$regularExpression"];
        let pattern = text(r.get("pattern").unwrap_or(&Value::Null), "pattern")?;
        let options = text(r.get("options").unwrap_or(&Value::Null), "options")?;
        return Ok(Value::String(format!("/{pattern}/{options}")));
    }
    if get("$regex").is_some() && map.len() <= 2 && (map.len() == 1 || get("$options").is_some()) {
        let pattern = text(&map["$regex"], "$regex")?;
        let options = get("$options")
            .map(|o| text(o, "$options"))
            .transpose()?
            .unwrap_or("");
        return Ok(Value::String(format!("/{pattern}/{options}")));
    }
    if single("$symbol") {
        return Ok(Value::String(text(&map["$symbol"], "$symbol")?.to_string()));
    }
    if get("$code").is_some() && (map.len() == 1 || map.len() == 2 && get("$scope").is_some()) {
        return Ok(Value::String(text(&map["$code"], "$code")?.to_string()));
    }
    if single("$minKey") || single("$maxKey") {
        return Ok(Value::Object(map));
    }
    if single("$undefined") {
        return Ok(Value::Null);
    }
    if single("$dbPointer") {
        let p = &map["$dbPointer"];
        let ns = text(p.get("$ref").unwrap_or(&Value::Null), "$dbPointer.$ref")?;
        let id = convert(p.get("$id").cloned().unwrap_or(Value::Null))?;
        return Ok(object(&[
            ("$ref", Value::String(ns.to_string())),
            ("$id", id),
        ]));
    }
    // Not a type wrapper (for example a `$ref`/`$id` DBRef): a document.
    plain_object(map)
}

fn plain_object(map: Map<String, Value>) -> Result<Value, String> {
    map.into_iter()
        .map(|(k, v)| convert(v).map(|v| (k, v)))
        .collect::<Result<Map<_, _>, _>>()
        .map(Value::Object)
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
