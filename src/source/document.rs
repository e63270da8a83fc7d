//! What the MongoDB readers (mongodump BSON, mongoexport Extended JSON)
//! share: the conversion of BSON types to plain JSON values, and the
//! flattening of a document into the columns a mapping refers to.
//!
//! Documents have no fixed column set, so the columns are the names the
//! mapping refers to (`{customer.id}`, `column = "total"`, skip rules), plus
//! `_id`, which is always included so that a mapping without `key` still
//! gives every document its own row hash. A dotted name is a path into
//! nested documents; a number in a path indexes an array (`items.0.sku`).
//! A field missing from a document is a null, exactly like SQL NULL.
//!
//! Value conversions (the same for BSON and Extended JSON):
//! ObjectId -> 24 lowercase hex digits; date -> RFC 3339 UTC with
//! milliseconds; Int32/Int64 -> exact integer; double -> shortest decimal
//! that reads back the same (`NaN`, `Infinity`, `-Infinity` as strings);
//! Decimal128 -> exact plain decimal (`1234.50`); binary -> standard base64,
//! except UUIDs (subtype 4) -> hyphenated lowercase UUID; timestamp ->
//! `{"t":..,"i":..}`; regex -> `/pattern/options`; a nested document or
//! array referred to as a whole -> its canonical JSON text.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::row::Row;
pub use crate::decimal::{decimal128_text, decimal_string_text};
use crate::event::{canonical_json, format_millis};
use crate::mapping::{CompiledMapping, Mapping};

/// The columns of a document source, as names and as paths.
pub struct DocColumns {
    pub names: Vec<String>,
    paths: Vec<Vec<String>>,
}

impl DocColumns {
    /// Columns from the mapping's references (plus `_id`), and the mapping
    /// compiled against them.
    pub fn from_mapping(mapping: &Mapping) -> anyhow::Result<(DocColumns, CompiledMapping)> {
        let mut names = mapping.referenced_columns()?;
        if !names.iter().any(|n| n == "_id") {
            names.push("_id".to_string());
        }
        let compiled = mapping.compile(&names)?;
        let paths = names
            .iter()
            .map(|n| n.split('.').map(str::to_string).collect())
            .collect();
        Ok((DocColumns { names, paths }, compiled))
    }

    /// Fills `row` with this document's values, one per column.
    pub fn fill(&self, doc: &Map<String, Value>, row: &mut Row) {
        row.clear();
        for (name, path) in self.names.iter().zip(&self.paths) {
            // A top-level name that itself contains dots wins over the path.
            let value = doc.get(name).or_else(|| lookup(doc, path));
            match value {
                None | Some(Value::Null) => row.null(),
                Some(Value::String(s)) => row.field_bytes(s.as_bytes()),
                Some(Value::Bool(b)) => row.field_bytes(if *b { b"true" } else { b"false" }),
                Some(Value::Number(n)) => row.field_bytes(n.to_string().as_bytes()),
                Some(v @ (Value::Object(_) | Value::Array(_))) => {
                    row.field_bytes(canonical_json(v).as_bytes())
                }
            }
        }
    }
}

fn lookup<'a>(doc: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = doc.get(first)?;
    for segment in rest {
        value = match value {
            Value::Object(m) => m.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// A double as JSON; JSON has no NaN or infinities, so those are strings.
pub fn double_value(f: f64) -> Value {
    match serde_json::Number::from_f64(f) {
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
pub fn object(pairs: &[(&str, Value)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_arrays_and_missing_fields() {
        let doc: Value = serde_json::json!({
            "_id": "x", "customer": {"id": 9007199254740993i64, "tags": ["a", "b"]},
            "a.b": "literal dotted", "n": null, "items": [{"sku": "A-1"}]
        });
        let names: Vec<String> = [
            "customer.id",
            "customer.tags.1",
            "a.b",
            "missing.deep",
            "n",
            "items.0.sku",
            "customer",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let cols = DocColumns {
            paths: names
                .iter()
                .map(|n| n.split('.').map(str::to_string).collect())
                .collect(),
            names,
        };
        let mut row = Row::default();
        cols.fill(doc.as_object().unwrap(), &mut row);
        row.seal().unwrap();
        use crate::mapping::Fields;
        assert_eq!(row.field(0), Some("9007199254740993"));
        assert_eq!(row.field(1), Some("b"));
        assert_eq!(row.field(2), Some("literal dotted"));
        assert_eq!(row.field(3), None);
        assert_eq!(row.field(4), None);
        assert_eq!(row.field(5), Some("A-1"));
        assert_eq!(
            row.field(6),
            Some(r#"{"id":9007199254740993,"tags":["a","b"]}"#)
        );
    }
}
