//! Bounded samples of database dumps for `mapping draft`, read through the
//! same readers `import dump` uses (so table selection, NULLs, hex, dates
//! and decimals come out exactly as the import will see them).
//!
//! SQL dumps only name their columns once the table is reached, so they are
//! read with a probe mapping whose payload is every column
//! ([`crate::mapping::Mapping`]'s `all_columns_payload`). Documents have no
//! fixed columns: they are read with a probe mapping that rejects every
//! document, and the rejected document (as JSON) is flattened into dotted
//! paths, the names a mapping uses for nested fields.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::profile::Profiler;
use crate::event::canonical_json;
use crate::mapping::Mapping;
use crate::source::dump::{open_dump, DumpFormat};
use crate::source::{Item, RawRecord};

/// Nested documents deeper than this are kept whole, as JSON.
const MAX_DEPTH: usize = 3;

pub struct DumpSample {
    pub path: PathBuf,
    pub format: DumpFormat,
    pub profiler: Profiler,
}

fn probe(format: Option<DumpFormat>, table: Option<&str>, event: &str) -> anyhow::Result<Mapping> {
    let mut text = String::from("[source]\n");
    if let Some(f) = format {
        text.push_str(&format!("format = \"{}\"\n", f.name()));
    }
    if let Some(t) = table {
        text.push_str(&format!("table = {}\n", toml::Value::String(t.into())));
    }
    text.push_str(&format!(
        "[event]\nservice = \"draft\"\ntype = \"draft\"\n{event}\n"
    ));
    Mapping::parse("(mapping draft probe)", &text)
}

/// Reads up to `max` records of the dump at `path`.
pub fn sample_dump(
    path: &Path,
    format: Option<DumpFormat>,
    table: Option<&str>,
    max: usize,
) -> anyhow::Result<DumpSample> {
    let mut mapping = probe(
        format,
        table,
        "created_at = { value = \"2000-01-01T00:00:00Z\" }",
    )?;
    mapping.all_columns_payload = true;
    let mut dump = open_dump(path, &mapping)?;
    if matches!(dump.format, DumpFormat::MongoDump | DumpFormat::MongoExport) {
        // `x` before the id makes every document fail RFC 3339 parsing.
        let mapping = probe(Some(dump.format), table, "created_at = \"x{_id}\"")?;
        dump = open_dump(path, &mapping)?;
    }
    let documents = matches!(dump.format, DumpFormat::MongoDump | DumpFormat::MongoExport);
    let mut profiler = Profiler::default();
    let mut columns: Option<Vec<String>> = None;
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    for _ in 0..max {
        let next = dump.source.next_item().map_err(|e| match table {
            None => e.context("give the table to draft with --table"),
            Some(_) => e,
        });
        let Some(item) = next? else {
            break;
        };
        match item {
            Item::Event { event, .. } if !documents => {
                let payload: Map<String, Value> = serde_json::from_str(&event.payload)?;
                let names = columns.get_or_insert_with(|| {
                    payload
                        .keys()
                        .map(|k| k.split_once(':').map_or(k.as_str(), |(_, n)| n).to_string())
                        .collect()
                });
                if profiler.columns.is_empty() {
                    profiler = Profiler::with_columns(names);
                }
                profiler.add_row(payload.values().map(|v| v.as_str()));
            }
            Item::Rejected(reject) if documents => {
                // Extended JSON as written, or a BSON document as JSON.
                let parsed = match &reject.raw {
                    RawRecord::Text(bytes) => serde_json::from_slice::<Value>(bytes),
                    RawRecord::Binary { shown, .. } => serde_json::from_str::<Value>(shown),
                    RawRecord::Csv(_) => continue,
                };
                let Ok(value) = parsed else {
                    continue;
                };
                let value = if dump.format == DumpFormat::MongoExport {
                    match crate::source::extjson::convert(value) {
                        Ok(v) => v,
                        Err(_) => continue,
                    }
                } else {
                    value
                };
                let Value::Object(doc) = value else { continue };
                fields.clear();
                flatten("", &doc, 0, &mut fields);
                profiler.add_named(fields.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
            }
            // A SQL row the probe could not map (wrong number of values,
            // invalid UTF-8) is a reject at import as well.
            _ => {}
        }
    }
    Ok(DumpSample {
        path: dump.path,
        format: dump.format,
        profiler,
    })
}

/// Leaf values of a document by dotted path, as `import dump` renders them
/// as text: arrays and documents deeper than [`MAX_DEPTH`] stay JSON.
fn flatten(
    prefix: &str,
    doc: &Map<String, Value>,
    depth: usize,
    out: &mut Vec<(String, Option<String>)>,
) {
    for (key, value) in doc {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) if depth + 1 < MAX_DEPTH && !inner.is_empty() => {
                flatten(&path, inner, depth + 1, out)
            }
            Value::Null => out.push((path, None)),
            Value::String(s) => out.push((path, Some(s.clone()))),
            Value::Bool(b) => out.push((path, Some(b.to_string()))),
            Value::Number(n) => out.push((path, Some(n.to_string()))),
            other => out.push((path, Some(canonical_json(other)))),
        }
    }
}
