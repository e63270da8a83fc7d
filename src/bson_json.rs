//! The one conversion of raw BSON to JSON. Three readers use it: the
//! mongodump reader (BSON files), the mongoexport reader (Extended JSON is
//! parsed to BSON by the bson crate first, so both dump formats convert
//! each type the same way) and the MongoDB store's codec (stored payloads
//! back to JSON).
//!
//! The walk over documents, arrays and errors is shared; what differs is
//! what each BSON type becomes, chosen by [`Rules`]:
//!
//! | BSON | [`Rules::Dump`] | [`Rules::Payload`] |
//! |---|---|---|
//! | Int32, Int64, bool, null, string | the same JSON value | the same |
//! | double | shortest decimal that reads back the same; `NaN`, `Infinity`, `-Infinity` as strings | the number; NaN and the infinities are errors |
//! | Decimal128 | exact plain decimal string (`1234.50`) | JSON number: exact for unsigned integers, else the nearest double |
//! | date | RFC 3339 UTC with milliseconds (a number of ms outside years 0–9999) | RFC 3339 UTC with milliseconds |
//! | ObjectId | 24 lowercase hex digits | the same |
//! | binary | standard base64; UUIDs (subtype 4) hyphenated | UUIDs only; other binary is an error |
//! | timestamp, regex, code, symbol, DBPointer, min/max key, undefined | `{"t":..,"i":..}`, `/pattern/options`, the code, the symbol, `{"$ref":..,"$id":..}`, `{"$minKey":1}`, null | errors: no JSON form |
//!
//! Dump documents may nest at most [`MAX_NESTING`] levels, MongoDB's own
//! limit: the walk recurses per level, so a crafted file must not be able to
//! overflow the reader's stack. Payloads have no such limit here, since
//! chronicle wrote them from JSON whose parser already bounds the depth.
//!
//! ```
//! use bson::{rawdoc, RawDocumentBuf};
//! use chronicle::bson_json::{document_to_json, Rules};
//!
//! let doc: RawDocumentBuf = rawdoc! { "n": 5_i64, "f": f64::NAN };
//! let dump = document_to_json(&doc, Rules::Dump).unwrap();
//! assert_eq!(serde_json::Value::Object(dump).to_string(), r#"{"f":"NaN","n":5}"#);
//! let err = document_to_json(&doc, Rules::Payload).unwrap_err();
//! assert_eq!(err.dotted_path("payload"), "payload.f");
//! ```

use std::fmt;

use base64::Engine as _;
use bson::raw::{RawBinaryRef, RawBsonRef, RawDocument, RawElement};
use bson::spec::BinarySubtype;
use bson::Bson;
use serde_json::{Map, Number, Value};

use crate::decimal::{decimal128_plain, decimal128_to_number};
use crate::event::format_millis;

/// MongoDB refuses documents nested deeper than this (each embedded document
/// or array is a level).
pub const MAX_NESTING: usize = 100;

/// Which JSON each BSON type becomes (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// Documents read from mongodump and mongoexport files: every BSON type
    /// has a JSON form, and nothing is lost that a mapping could refer to.
    Dump,
    /// Event payloads stored by chronicle: only the types its codec writes
    /// (and a few close cousins other tools may have written) convert;
    /// anything else is an error rather than a silent change of the payload.
    Payload,
}

/// Why a document could not be converted, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct BsonJsonError {
    /// Keys (and array indexes) from the top-level document down to the
    /// value at fault, outermost first; empty for the document itself.
    pub path: Vec<PathStep>,
    /// Offset of the element at fault (its type byte) from the start of the
    /// top-level document's bytes.
    pub offset: usize,
    /// What is wrong, without the path: `is NaN, which JSON cannot hold`,
    /// `malformed bytes: ...`.
    pub reason: String,
}

/// One step of a [`BsonJsonError`]'s path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

impl BsonJsonError {
    /// The path written from `root`: `payload.items[0].sku`.
    pub fn dotted_path(&self, root: &str) -> String {
        let mut text = root.to_string();
        for step in &self.path {
            match step {
                PathStep::Key(k) => {
                    if !text.is_empty() {
                        text.push('.');
                    }
                    text.push_str(k);
                }
                PathStep::Index(i) => text.push_str(&format!("[{i}]")),
            }
        }
        text
    }
}

impl fmt::Display for BsonJsonError {
    /// "field `customer.tags[1]`: reason", or the reason alone for the
    /// document itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "field `{}`: {}", self.dotted_path(""), self.reason)
        }
    }
}

impl std::error::Error for BsonJsonError {}

/// Converts a whole document (a mongodump document, a stored payload).
pub fn document_to_json(
    doc: &RawDocument,
    rules: Rules,
) -> Result<Map<String, Value>, BsonJsonError> {
    let walk = Walk {
        rules,
        root: doc.as_bytes().as_ptr() as usize,
    };
    walk.document(doc, 1)
}

/// Converts one value on its own (a top-level Extended JSON scalar).
/// Offsets in errors are then relative to nothing useful and are zero.
pub fn value_to_json(value: RawBsonRef<'_>, rules: Rules) -> Result<Value, BsonJsonError> {
    let walk = Walk { rules, root: 0 };
    walk.value(value, 1).map_err(|reason| BsonJsonError {
        path: Vec::new(),
        offset: 0,
        reason,
    })
}

/// A stored event payload as JSON, by the payload rules, with errors
/// worded as the store reports them (`payload field payload.items[0] is
/// NaN, which JSON cannot hold`).
pub fn payload_to_json(doc: &RawDocument) -> anyhow::Result<Map<String, Value>> {
    document_to_json(doc, Rules::Payload)
        .map_err(|e| anyhow::anyhow!("payload field {} {}", e.dotted_path("payload"), e.reason))
}

/// A double as JSON; JSON has no NaN or infinities, so those are strings.
pub fn double_value(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".into()),
        None if f > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

/// A BSON date (milliseconds since the epoch) as an RFC 3339 string; dates
/// outside the years chrono can represent stay a number of milliseconds.
pub fn date_value(ms: i64) -> Value {
    let text = format_millis(ms);
    if text.starts_with("invalid") {
        Value::from(ms)
    } else {
        Value::String(text)
    }
}

/// Binary data: base64, or the hyphenated UUID for subtype 4.
pub fn binary_value(subtype: u8, bytes: &[u8]) -> Value {
    if subtype == 4 && bytes.len() == 16 {
        let uuid = uuid::Uuid::from_slice(bytes).expect("16 bytes");
        return Value::String(uuid.hyphenated().to_string());
    }
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `{"$minKey":1}`, `{"t":..,"i":..}` and the like.
fn object(pairs: &[(&str, Value)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

/// The bson crate's error as a reason: its kind and message, without the
/// key (the path says where).
fn bson_reason(e: &bson::error::Error) -> String {
    match &e.message {
        Some(m) => format!("{}: {m}", e.kind),
        None => e.kind.to_string(),
    }
}

struct Walk {
    rules: Rules,
    /// Address of the top-level document's first byte, to turn the
    /// positions of borrowed keys into offsets.
    root: usize,
}

impl Walk {
    fn offset_of(&self, bytes: &[u8]) -> usize {
        (bytes.as_ptr() as usize).saturating_sub(self.root)
    }

    fn too_deep(&self, depth: usize) -> bool {
        self.rules == Rules::Dump && depth > MAX_NESTING
    }

    fn document(
        &self,
        doc: &RawDocument,
        depth: usize,
    ) -> Result<Map<String, Value>, BsonJsonError> {
        let mut map = Map::new();
        self.elements(doc, depth, false, |key, value| {
            map.insert(key.to_string(), value);
        })?;
        Ok(map)
    }

    fn array(&self, doc: &RawDocument, depth: usize) -> Result<Vec<Value>, BsonJsonError> {
        let mut items = Vec::new();
        self.elements(doc, depth, true, |_, value| items.push(value))?;
        Ok(items)
    }

    /// Converts each element of `doc` (a document, or an array's document
    /// whose keys are its indexes) and hands it to `put` with its key.
    fn elements(
        &self,
        doc: &RawDocument,
        depth: usize,
        array: bool,
        mut put: impl FnMut(&str, Value),
    ) -> Result<(), BsonJsonError> {
        let start = self.offset_of(doc.as_bytes());
        if self.too_deep(depth) {
            return Err(BsonJsonError {
                path: Vec::new(),
                offset: start,
                reason: format!(
                    "documents and arrays nest more than {MAX_NESTING} levels deep (MongoDB's limit)"
                ),
            });
        }
        // Where the next element starts: past the length prefix, then past
        // each element read. An element that cannot be framed is reported
        // there.
        let mut next_at = start + 4;
        for (index, element) in doc.iter_elements().enumerate() {
            let element = element.map_err(|e| BsonJsonError {
                path: e.key.clone().map(PathStep::Key).into_iter().collect(),
                offset: next_at,
                reason: bson_reason(&e),
            })?;
            let key = element.key().as_str();
            let at = self.offset_of(key.as_bytes()) - 1;
            next_at = at + 1 + key.len() + 1 + element.size();
            let step = || match array {
                true => PathStep::Index(index),
                false => PathStep::Key(key.to_string()),
            };
            let value = self.element(&element, depth).map_err(|mut e| {
                if e.offset == usize::MAX {
                    e.offset = at;
                }
                e.path.insert(0, step());
                e
            })?;
            put(key, value);
        }
        Ok(())
    }

    /// One element; errors from within nested documents keep their own
    /// offset, errors about this value get `usize::MAX` for the caller to
    /// fill in.
    fn element(&self, element: &RawElement<'_>, depth: usize) -> Result<Value, BsonJsonError> {
        let here = |reason: String| BsonJsonError {
            path: Vec::new(),
            offset: usize::MAX,
            reason,
        };
        let value = element.value().map_err(|e| here(bson_reason(&e)))?;
        match value {
            RawBsonRef::Document(d) => self.document(d, depth + 1).map(Value::Object),
            RawBsonRef::Array(a) => {
                let doc =
                    RawDocument::from_bytes(a.as_bytes()).map_err(|e| here(bson_reason(&e)))?;
                self.array(doc, depth + 1).map(Value::Array)
            }
            other => self.value(other, depth).map_err(here),
        }
    }

    /// A value; documents and arrays recurse (for [`value_to_json`]).
    fn value(&self, value: RawBsonRef<'_>, depth: usize) -> Result<Value, String> {
        let dump = self.rules == Rules::Dump;
        Ok(match value {
            RawBsonRef::Null => Value::Null,
            RawBsonRef::Boolean(b) => Value::Bool(b),
            RawBsonRef::Int32(i) => Value::from(i),
            RawBsonRef::Int64(i) => Value::from(i),
            RawBsonRef::String(s) => Value::String(s.to_string()),
            RawBsonRef::ObjectId(o) => Value::String(o.to_hex()),
            RawBsonRef::Double(f) if dump => double_value(f),
            RawBsonRef::Double(f) => Value::Number(
                Number::from_f64(f).ok_or_else(|| format!("is {f}, which JSON cannot hold"))?,
            ),
            RawBsonRef::Decimal128(d) if dump => Value::String(decimal128_plain(&d)),
            RawBsonRef::Decimal128(d) => Value::Number(
                decimal128_to_number(&d)
                    .ok_or_else(|| "is a decimal that JSON cannot hold".to_string())?,
            ),
            RawBsonRef::DateTime(t) if dump => date_value(t.timestamp_millis()),
            RawBsonRef::DateTime(t) => Value::String(format_millis(t.timestamp_millis())),
            RawBsonRef::Binary(b) if dump => binary_value(u8::from(b.subtype), b.bytes),
            RawBsonRef::Binary(RawBinaryRef {
                subtype: BinarySubtype::Uuid,
                bytes,
            }) => Value::String(
                uuid::Uuid::from_slice(bytes)
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
            ),
            RawBsonRef::Document(d) => {
                Value::Object(self.document(d, depth + 1).map_err(|e| e.to_string())?)
            }
            RawBsonRef::Array(a) => {
                let doc = RawDocument::from_bytes(a.as_bytes()).map_err(|e| bson_reason(&e))?;
                Value::Array(self.array(doc, depth + 1).map_err(|e| e.to_string())?)
            }
            other if !dump => {
                return Err(format!(
                    "has BSON type {:?}, which has no JSON form",
                    other.element_type()
                ))
            }
            RawBsonRef::Undefined => Value::Null,
            RawBsonRef::MinKey => object(&[("$minKey", Value::from(1))]),
            RawBsonRef::MaxKey => object(&[("$maxKey", Value::from(1))]),
            RawBsonRef::Symbol(s) | RawBsonRef::JavaScriptCode(s) => Value::String(s.to_string()),
            RawBsonRef::JavaScriptCodeWithScope(c) => Value::String(c.code.to_string()),
            RawBsonRef::RegularExpression(r) => {
                Value::String(format!("/{}/{}", r.pattern.as_str(), r.options.as_str()))
            }
            RawBsonRef::Timestamp(t) => {
                object(&[("t", Value::from(t.time)), ("i", Value::from(t.increment))])
            }
            RawBsonRef::DbPointer(_) => db_pointer(value)?,
            // Every type is matched above; the bson crate may add more.
            #[allow(unreachable_patterns)]
            other => {
                return Err(format!(
                    "has BSON type {:?}, which has no JSON form",
                    other.element_type()
                ))
            }
        })
    }
}

/// A DBPointer as `{"$ref": namespace, "$id": hex}`. Its parts are not
/// public in the bson crate's raw form; its Extended JSON form has them.
fn db_pointer(value: RawBsonRef<'_>) -> Result<Value, String> {
    let bson = Bson::try_from(value).map_err(|e| bson_reason(&e))?;
    let ext = bson.into_relaxed_extjson();
    let pointer = &ext["$dbPointer"];
    Ok(object(&[
        ("$ref", pointer["$ref"].clone()),
        ("$id", pointer["$id"]["$oid"].clone()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::spec::BinarySubtype;
    use bson::{rawdoc, Binary, DateTime, Decimal128, Regex, Timestamp};

    #[test]
    fn dump_rules_give_every_type_a_json_form() {
        let uuid = [0x11u8; 16];
        let doc = rawdoc! {
            "d": 0.1, "nan": f64::NAN, "inf": f64::NEG_INFINITY,
            "m": "-12.50".parse::<Decimal128>().unwrap(),
            "t": DateTime::from_millis(1451649600123),
            "far": DateTime::from_millis(i64::MAX),
            "b": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 255] },
            "u": Binary { subtype: BinarySubtype::Uuid, bytes: uuid.to_vec() },
            "ts": Timestamp { time: 7, increment: 2 },
            "re": Regex { pattern: "a+".try_into().unwrap(), options: "i".try_into().unwrap() },
            "min": bson::RawBson::MinKey,
            "arr": [1_i32, { "x": bson::RawBson::Null }],
        };
        let json = Value::Object(document_to_json(&doc, Rules::Dump).unwrap());
        assert_eq!(
            json.to_string(),
            concat!(
                r#"{"arr":[1,{"x":null}],"b":"AP8=","d":0.1,"far":9223372036854775807,"#,
                r#""inf":"-Infinity","m":"-12.50","min":{"$minKey":1},"nan":"NaN","re":"/a+/i","#,
                r#""t":"2016-01-01T12:00:00.123Z","ts":{"i":2,"t":7},"#,
                r#""u":"11111111-1111-1111-1111-111111111111"}"#
            )
        );
    }

    #[test]
    fn payload_rules_refuse_what_json_cannot_hold() {
        let doc = rawdoc! {
            "n": "18446744073709551615".parse::<Decimal128>().unwrap(),
            "t": DateTime::from_millis(0),
            "u": Binary { subtype: BinarySubtype::Uuid, bytes: vec![0x22; 16] },
        };
        let json = Value::Object(payload_to_json(&doc).unwrap());
        assert_eq!(
            json.to_string(),
            r#"{"n":18446744073709551615,"t":"1970-01-01T00:00:00.000Z","u":"22222222-2222-2222-2222-222222222222"}"#
        );
        let nan = rawdoc! { "items": [{ "v": f64::NAN }] };
        assert_eq!(
            payload_to_json(&nan).unwrap_err().to_string(),
            "payload field payload.items[0].v is NaN, which JSON cannot hold"
        );
        let regex = rawdoc! { "r": Regex { pattern: "a".try_into().unwrap(), options: "".try_into().unwrap() } };
        let err = payload_to_json(&regex).unwrap_err().to_string();
        assert!(
            err.starts_with("payload field payload.r has BSON type"),
            "{err}"
        );
        let binary = rawdoc! { "b": Binary { subtype: BinarySubtype::Generic, bytes: vec![1] } };
        assert!(payload_to_json(&binary).is_err());
    }

    #[test]
    fn nesting_is_bounded_for_dumps_only() {
        let mut doc = rawdoc! {};
        for _ in 0..MAX_NESTING {
            doc = rawdoc! { "a": doc };
        }
        // The top level is level 1: MAX_NESTING + 1 levels in all.
        let err = document_to_json(&doc, Rules::Dump).unwrap_err();
        assert!(err.reason.contains("nest more than 100"), "{err}");
        assert_eq!(err.path.len(), MAX_NESTING);
        assert!(document_to_json(&doc, Rules::Payload).is_ok());
    }
}
