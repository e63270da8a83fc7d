//! mongodump collection files: `NAME.bson` or `NAME.bson.gz`, a plain
//! concatenation of BSON documents, with `NAME.metadata.json` beside it.
//! Documents are framed here by their length prefix and read one at a time
//! (each is at most 16 MiB in MongoDB), parsed with the bson crate's
//! `RawDocument`, converted by [`crate::bson_json`], and mapped through the
//! columns the mapping refers to (`document.rs`). Positions are byte offsets in the (decompressed)
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

use bson::RawDocument;

use super::document::DocColumns;
use super::row::{map_row, Row};
use super::{EventSource, Item, RawRecord};
use crate::bson_json::{document_to_json, BsonJsonError, Rules};
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
        let doc = parse_document(&self.buf).map_err(|e| {
            anyhow!(
                "the BSON file is corrupt: the document at byte {start} is invalid at byte {}: {e}",
                start + e.offset as u64
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

/// Converts one framed document (its length prefix included) to plain
/// JSON with the bson crate's raw reader and the shared conversion.
/// Errors carry the offset within `bytes` of the element at fault.
pub fn parse_document(bytes: &[u8]) -> Result<Map<String, Value>, BsonJsonError> {
    let doc = RawDocument::from_bytes(bytes).map_err(|e| BsonJsonError {
        path: Vec::new(),
        offset: 0,
        reason: match &e.message {
            Some(m) => format!("{}: {m}", e.kind),
            None => e.kind.to_string(),
        },
    })?;
    document_to_json(doc, Rules::Dump)
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
        let m = parse_document(&d).unwrap();
        assert_eq!(m["_id"], "5f00000000000000000000ab");
        assert_eq!(m["n"].to_string(), "9007199254740993");
        assert_eq!(m["d"], "2016-01-01T12:00:00.123Z");
        assert_eq!(m["b"], "AQID");
        assert_eq!(m["f"].to_string(), "4.5");
    }

    #[test]
    fn corrupt_documents_name_the_offset() {
        let mut d = doc(b"\x02s\0\x09\0\0\0abc\0");
        let err = parse_document(&d).unwrap_err();
        assert!(err.to_string().contains("field `s`"), "{err:?}");
        assert_eq!(err.offset, 4);
        d = doc(b"\x10a\0\x01\0\0\0\x99x\0");
        let err = parse_document(&d).unwrap_err();
        assert_eq!(err.offset, 11, "{err}");
        assert!(err.reason.contains("invalid tag: 153"), "{err}");
        // In a nested document: the offset is still from the top.
        let inner = doc(b"\x08b\0\x07");
        let mut e = b"\x03n\0".to_vec();
        e.extend_from_slice(&inner);
        let err = parse_document(&doc(&e)).unwrap_err();
        assert_eq!(err.offset, 7 + 4, "{err}");
        assert!(err.to_string().contains("field `n.b`"), "{err}");
    }
}
