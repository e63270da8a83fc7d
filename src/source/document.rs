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

/// A Decimal128 (IEEE 754-2008, binary integer decimal encoding, little
/// endian) as an exact decimal string.
pub fn decimal128_text(bytes: &[u8; 16]) -> String {
    let low = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let high = u64::from_le_bytes(bytes[8..].try_into().expect("8 bytes"));
    let negative = high >> 63 == 1;
    let combination = (high >> 58) & 0x1f;
    if combination == 0x1f {
        return "NaN".into();
    }
    if combination == 0x1e {
        return if negative { "-Infinity" } else { "Infinity" }.into();
    }
    let (exponent_bits, coefficient_high) = if (high >> 61) & 0b11 == 0b11 {
        // The "11" form: its implied coefficient is always above the
        // maximum of 10^34 - 1, so the value is a canonical zero.
        ((high >> 47) & 0x3fff, 0u64)
    } else {
        ((high >> 49) & 0x3fff, high & 0x1_ffff_ffff_ffff)
    };
    let exponent = exponent_bits as i32 - 6176;
    let mut coefficient = (u128::from(coefficient_high) << 64) | u128::from(low);
    if coefficient > 9_999_999_999_999_999_999_999_999_999_999_999 {
        coefficient = 0;
    }
    plain_decimal(negative, &coefficient.to_string(), exponent)
}

/// `digits` x 10^`exponent` written without an exponent, keeping every
/// digit (`12345`, -2 -> `123.45`; `0`, -2 -> `0.00`). Values whose plain
/// form would be very long keep scientific notation (`1.5E+6000`).
pub fn plain_decimal(negative: bool, digits: &str, exponent: i32) -> String {
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let sign = if negative { "-" } else { "" };
    let len = digits.len() as i32;
    let plain_len = if exponent >= 0 {
        len + exponent
    } else {
        len.max(-exponent + 1) + 1
    };
    if plain_len > 100 {
        let adjusted = exponent + len - 1;
        let (head, tail) = digits.split_at(1);
        let dot = if tail.is_empty() { "" } else { "." };
        return format!("{sign}{head}{dot}{tail}E{adjusted:+}");
    }
    if exponent >= 0 {
        if digits == "0" {
            return format!("{sign}0");
        }
        return format!("{sign}{digits}{}", "0".repeat(exponent as usize));
    }
    let scale = (-exponent) as usize;
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits.to_string()
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// An Extended JSON `$numberDecimal` string (`"1.0E+3"`, `"-0.50"`) in the
/// same plain form as [`decimal128_text`].
pub fn decimal_string_text(text: &str) -> Option<String> {
    let t = text.trim();
    match t {
        "NaN" | "-NaN" => return Some("NaN".into()),
        "Infinity" | "Inf" | "+Infinity" => return Some("Infinity".into()),
        "-Infinity" | "-Inf" => return Some("-Infinity".into()),
        _ => {}
    }
    let (negative, rest) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i32>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{int}{frac}");
    Some(plain_decimal(negative, &digits, exp - frac.len() as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d128(negative: bool, coefficient: u128, exponent: i32) -> [u8; 16] {
        let biased = (exponent + 6176) as u128;
        let v = (u128::from(negative) << 127) | (biased << 113) | coefficient;
        v.to_le_bytes()
    }

    #[test]
    fn decimal128_is_exact() {
        assert_eq!(decimal128_text(&d128(false, 123450, -2)), "1234.50");
        assert_eq!(decimal128_text(&d128(true, 5, -3)), "-0.005");
        assert_eq!(decimal128_text(&d128(false, 0, -2)), "0.00");
        assert_eq!(decimal128_text(&d128(false, 15, 3)), "15000");
        let max = 9_999_999_999_999_999_999_999_999_999_999_999u128;
        assert_eq!(
            decimal128_text(&d128(false, max, 0)),
            "9999999999999999999999999999999999"
        );
        assert_eq!(decimal128_text(&d128(false, 1, 6111)), "1E+6111");
        let mut nan = [0u8; 16];
        nan[15] = 0x7c;
        assert_eq!(decimal128_text(&nan), "NaN");
        nan[15] = 0x78;
        assert_eq!(decimal128_text(&nan), "Infinity");
    }

    #[test]
    fn decimal_strings_become_plain() {
        assert_eq!(decimal_string_text("1.0E+3").unwrap(), "1000");
        assert_eq!(decimal_string_text("1234.50").unwrap(), "1234.50");
        assert_eq!(decimal_string_text("-5E-3").unwrap(), "-0.005");
        assert_eq!(decimal_string_text("0.000001").unwrap(), "0.000001");
        assert!(decimal_string_text("1.2.3").is_none());
        assert!(decimal_string_text("abc").is_none());
    }

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
