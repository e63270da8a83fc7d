//! mongodump collection files: `NAME.bson` or `NAME.bson.gz`, a plain
//! concatenation of BSON documents, with `NAME.metadata.json` beside it.
//! Documents are read one at a time (each is at most 16 MiB in MongoDB),
//! converted as described in `document.rs`, and mapped through the columns
//! the mapping refers to. Positions are byte offsets in the (decompressed)
//! BSON stream: a rejected document's `line` in the rejects file is the
//! offset where the document starts.
//!
//! A document that is cut short or whose structure is invalid means the
//! file is truncated or corrupt: the import stops with an error naming the
//! offset. Events written before stay.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};

use super::document::{
    binary_value, date_value, decimal128_text, double_value, object, DocColumns,
};
use super::row::{map_row, Row};
use super::{EventSource, Item, RawRecord};
use crate::event::canonical_json;
use crate::mapping::{CompiledMapping, Mapping};

/// Larger than MongoDB's 16 MiB limit (mongodump allows some slack), small
/// enough that a garbage length is recognised as corruption.
const MAX_DOCUMENT: usize = 48 * 1024 * 1024;

pub struct BsonSource {
    input: Box<dyn Read + Send>,
    offset: u64,
    columns: DocColumns,
    mapping: CompiledMapping,
    buf: Vec<u8>,
    row: Row,
    scratch: String,
}

impl BsonSource {
    pub fn new(input: Box<dyn Read + Send>, mapping: &Mapping) -> anyhow::Result<BsonSource> {
        let (columns, compiled) = DocColumns::from_mapping(mapping)?;
        Ok(BsonSource {
            input,
            offset: 0,
            columns,
            mapping: compiled,
            buf: Vec::new(),
            row: Row::default(),
            scratch: String::new(),
        })
    }

    /// Reads exactly `buf.len()` bytes; false on a clean end before the
    /// first byte, an error when the input ends part-way.
    fn read_exact_or_end(&mut self, start: usize, what: &str) -> anyhow::Result<bool> {
        let mut filled = start;
        while filled < self.buf.len() {
            let n = match self.input.read(&mut self.buf[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(anyhow!(e))
                        .with_context(|| format!("cannot read at byte {}", self.offset))
                }
            };
            if n == 0 {
                if filled == 0 {
                    return Ok(false);
                }
                bail!(
                    "the BSON file is truncated: {what} at byte {} needs {} bytes, but the input ends after {}",
                    self.offset,
                    self.buf.len(),
                    filled
                );
            }
            filled += n;
        }
        Ok(true)
    }
}

impl EventSource for BsonSource {
    fn next_item(&mut self) -> anyhow::Result<Option<Item>> {
        self.buf.resize(4, 0);
        if !self.read_exact_or_end(0, "the document")? {
            return Ok(None);
        }
        let len = i32::from_le_bytes(self.buf[..4].try_into().expect("4 bytes"));
        if len < 5 || len as usize > MAX_DOCUMENT {
            bail!(
                "the BSON file is corrupt: the document at byte {} claims a length of {len} bytes",
                self.offset
            );
        }
        self.buf.resize(len as usize, 0);
        self.read_exact_or_end(4, "the document")?;
        let start = self.offset;
        let doc = parse_document(&self.buf, 0).map_err(|(at, reason)| {
            anyhow!(
                "the BSON file is corrupt: the document at byte {start} is invalid at byte {}: {reason}",
                start + at as u64
            )
        })?;
        self.offset += len as u64;
        self.columns.fill(&doc, &mut self.row);
        let bytes = &self.buf;
        Ok(Some(map_row(
            &self.mapping,
            &self.columns.names,
            &mut self.row,
            &mut self.scratch,
            start,
            || RawRecord::Binary {
                bytes: bytes.to_vec(),
                shown: canonical_json(&Value::Object(doc)),
            },
        )))
    }
}

type ParseResult<T> = Result<T, (usize, String)>;

fn slice(buf: &[u8], at: usize, n: usize) -> ParseResult<&[u8]> {
    buf.get(at..at + n)
        .ok_or_else(|| (at, format!("needs {n} bytes past the end of the document")))
}

fn i32_at(buf: &[u8], at: usize) -> ParseResult<i32> {
    Ok(i32::from_le_bytes(
        slice(buf, at, 4)?.try_into().expect("4 bytes"),
    ))
}

fn i64_at(buf: &[u8], at: usize) -> ParseResult<i64> {
    Ok(i64::from_le_bytes(
        slice(buf, at, 8)?.try_into().expect("8 bytes"),
    ))
}

/// A NUL-terminated key or regex part.
fn cstring(buf: &[u8], at: usize) -> ParseResult<(String, usize)> {
    let end = buf[at.min(buf.len())..]
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| (at, "unterminated name".to_string()))?;
    let text = std::str::from_utf8(&buf[at..at + end])
        .map_err(|_| (at, "a name is not valid UTF-8".to_string()))?;
    Ok((text.to_string(), at + end + 1))
}

/// A length-prefixed UTF-8 string.
fn string(buf: &[u8], at: usize) -> ParseResult<(String, usize)> {
    let len = i32_at(buf, at)?;
    if len < 1 {
        return Err((at, format!("bad string length {len}")));
    }
    let bytes = slice(buf, at + 4, len as usize)?;
    if bytes[bytes.len() - 1] != 0 {
        return Err((at, "string is not NUL-terminated".into()));
    }
    let text = std::str::from_utf8(&bytes[..bytes.len() - 1])
        .map_err(|_| (at, "a string is not valid UTF-8".to_string()))?;
    Ok((text.to_string(), at + 4 + len as usize))
}

/// Parses the document at `at` (its length prefix included) into plain JSON.
pub fn parse_document(buf: &[u8], at: usize) -> ParseResult<Map<String, Value>> {
    let mut map = Map::new();
    parse_elements(buf, at, |k, v| {
        map.insert(k, v);
    })?;
    Ok(map)
}

fn parse_array(buf: &[u8], at: usize) -> ParseResult<Vec<Value>> {
    let mut items = Vec::new();
    parse_elements(buf, at, |_, v| items.push(v))?;
    Ok(items)
}

fn parse_elements(buf: &[u8], at: usize, mut put: impl FnMut(String, Value)) -> ParseResult<usize> {
    let len = i32_at(buf, at)?;
    if len < 5 || at + len as usize > buf.len() {
        return Err((at, format!("bad embedded document length {len}")));
    }
    let end = at + len as usize;
    if buf[end - 1] != 0 {
        return Err((end - 1, "document is not NUL-terminated".into()));
    }
    let mut pos = at + 4;
    while pos < end - 1 {
        let kind = buf[pos];
        let (key, next) = cstring(&buf[..end], pos + 1)?;
        let (value, next) = element(&buf[..end], kind, next, pos)
            .map_err(|(p, r)| (p, format!("field `{key}`: {r}")))?;
        put(key, value);
        pos = next;
    }
    if pos != end - 1 {
        return Err((pos, "an element runs past the end of its document".into()));
    }
    Ok(end)
}

fn element(buf: &[u8], kind: u8, at: usize, kind_at: usize) -> ParseResult<(Value, usize)> {
    Ok(match kind {
        0x01 => {
            let v = f64::from_le_bytes(slice(buf, at, 8)?.try_into().expect("8 bytes"));
            (double_value(v), at + 8)
        }
        0x02 | 0x0D | 0x0E => {
            let (s, next) = string(buf, at)?;
            (Value::String(s), next)
        }
        0x03 => {
            let len = i32_at(buf, at)?;
            (
                Value::Object(parse_document(buf, at)?),
                at + len.max(0) as usize,
            )
        }
        0x04 => {
            let len = i32_at(buf, at)?;
            (
                Value::Array(parse_array(buf, at)?),
                at + len.max(0) as usize,
            )
        }
        0x05 => {
            let len = i32_at(buf, at)?;
            if len < 0 {
                return Err((at, format!("bad binary length {len}")));
            }
            let subtype = *slice(buf, at + 4, 1)?.first().expect("1 byte");
            let mut data = slice(buf, at + 5, len as usize)?;
            // The old binary subtype 2 repeats the length inside the data.
            if subtype == 2 && data.len() >= 4 {
                data = &data[4..];
            }
            (binary_value(subtype, data), at + 5 + len as usize)
        }
        0x06 | 0x0A => (Value::Null, at),
        0x07 => (Value::String(hex::encode(slice(buf, at, 12)?)), at + 12),
        0x08 => match slice(buf, at, 1)?[0] {
            0 => (Value::Bool(false), at + 1),
            1 => (Value::Bool(true), at + 1),
            b => return Err((at, format!("bad boolean byte {b}"))),
        },
        0x09 => (date_value(i64_at(buf, at)?), at + 8),
        0x0B => {
            let (pattern, next) = cstring(buf, at)?;
            let (options, next) = cstring(buf, next)?;
            (Value::String(format!("/{pattern}/{options}")), next)
        }
        0x0C => {
            let (ns, next) = string(buf, at)?;
            let id = hex::encode(slice(buf, next, 12)?);
            (
                object(&[("$ref", Value::String(ns)), ("$id", Value::String(id))]),
                next + 12,
            )
        }
        0x0F => {
            // Code with scope: total length, code string, scope document.
            let total = i32_at(buf, at)?;
            let (code, _) = string(buf, at + 4)?;
            (Value::String(code), at + total.max(0) as usize)
        }
        0x10 => (Value::from(i32_at(buf, at)?), at + 4),
        0x11 => {
            let increment = i32_at(buf, at)? as u32;
            let time = i32_at(buf, at + 4)? as u32;
            (
                object(&[("t", Value::from(time)), ("i", Value::from(increment))]),
                at + 8,
            )
        }
        0x12 => (Value::from(i64_at(buf, at)?), at + 8),
        0x13 => {
            let bytes: [u8; 16] = slice(buf, at, 16)?.try_into().expect("16 bytes");
            (Value::String(decimal128_text(&bytes)), at + 16)
        }
        0xFF => (object(&[("$minKey", Value::from(1))]), at),
        0x7F => (object(&[("$maxKey", Value::from(1))]), at),
        other => return Err((kind_at, format!("unknown BSON type 0x{other:02x}"))),
    })
}

/// For a mongodump directory and `source.table`: the collection's file,
/// `NAME.bson` or `NAME.bson.gz`.
pub fn collection_file(dir: &Path, table: Option<&str>) -> anyhow::Result<PathBuf> {
    let mut collections: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".bson.gz")
                .or_else(|| name.strip_suffix(".bson"))
                .map(str::to_string)
        })
        .collect();
    collections.sort();
    collections.dedup();
    let list = if collections.is_empty() {
        "(none)".to_string()
    } else {
        collections.join(", ")
    };
    let Some(table) = table else {
        bail!(
            "{} is a mongodump directory: set source.table in the mapping to one of its collections: {list}",
            dir.display()
        );
    };
    for name in [format!("{table}.bson"), format!("{table}.bson.gz")] {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    bail!(
        "source.table = \"{table}\" is not in the mongodump directory {}; its collections are: {list}",
        dir.display()
    )
}

/// The collection name of a `.bson` file: from `NAME.metadata.json` beside
/// it (`collectionName`, written by mongodump 4.2 and later), else the file
/// name. A metadata file that is not valid JSON is an error.
pub fn collection_name(path: &Path) -> anyhow::Result<String> {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file
        .strip_suffix(".bson.gz")
        .or_else(|| file.strip_suffix(".bson"))
        .unwrap_or(&file)
        .to_string();
    let metadata = path.with_file_name(format!("{stem}.metadata.json"));
    let gz = path.with_file_name(format!("{stem}.metadata.json.gz"));
    let text = if metadata.is_file() {
        std::fs::read_to_string(&metadata)
            .with_context(|| format!("cannot read {}", metadata.display()))?
    } else if gz.is_file() {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(
            std::fs::File::open(&gz).with_context(|| format!("cannot read {}", gz.display()))?,
        )
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", gz.display()))?;
        text
    } else {
        return Ok(stem);
    };
    let meta: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", metadata.display()))?;
    Ok(meta
        .get("collectionName")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or(stem))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(elements: &[u8]) -> Vec<u8> {
        let mut d = ((elements.len() + 5) as i32).to_le_bytes().to_vec();
        d.extend_from_slice(elements);
        d.push(0);
        d
    }

    #[test]
    fn types_convert() {
        let mut e = Vec::new();
        e.extend_from_slice(b"\x07_id\0");
        e.extend_from_slice(&[0x5f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab]);
        e.extend_from_slice(b"\x12n\0");
        e.extend_from_slice(&9007199254740993i64.to_le_bytes());
        e.extend_from_slice(b"\x09d\0");
        e.extend_from_slice(&1451649600123i64.to_le_bytes());
        e.extend_from_slice(b"\x05b\0");
        e.extend_from_slice(&3i32.to_le_bytes());
        e.extend_from_slice(&[0, 1, 2, 3]);
        e.extend_from_slice(b"\x01f\0");
        e.extend_from_slice(&4.5f64.to_le_bytes());
        let d = doc(&e);
        let m = parse_document(&d, 0).unwrap();
        assert_eq!(m["_id"], "5f00000000000000000000ab");
        assert_eq!(m["n"].to_string(), "9007199254740993");
        assert_eq!(m["d"], "2016-01-01T12:00:00.123Z");
        assert_eq!(m["b"], "AQID");
        assert_eq!(m["f"].to_string(), "4.5");
    }

    #[test]
    fn corrupt_documents_name_the_offset() {
        let mut d = doc(b"\x02s\0\x09\0\0\0abc\0");
        let err = parse_document(&d, 0).unwrap_err();
        assert!(err.1.contains("field `s`"), "{err:?}");
        d = doc(b"\x99x\0");
        let err = parse_document(&d, 0).unwrap_err();
        assert_eq!(err.0, 4);
        assert!(err.1.contains("unknown BSON type 0x99"));
    }
}
