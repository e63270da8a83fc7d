//! The mapping file as written in TOML. Unknown keys are errors, so a typo
//! such as `delimeter` is reported instead of silently ignored. Value specs
//! stay `toml::Value` here because a value may be a template string or a
//! table; `value.rs` interprets them with messages that name the key.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    #[serde(default)]
    pub source: SourceSection,
    pub event: EventSection,
    #[serde(default)]
    pub payload: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub skip: Vec<toml::Value>,
}

/// `[source]`: how to read the input. Keys that do not apply to a format are
/// rejected by that format's reader.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// `csv`, `pgdump`, `mysqldump`, `mongodump`, `mongoexport`.
    pub format: Option<String>,
    /// One character; `\t` or `tab` for tab-separated files.
    pub delimiter: Option<String>,
    /// One character; default `"`.
    pub quote: Option<String>,
    /// `utf-8` (default), `windows-1252`, `latin1`, or any WHATWG label.
    pub encoding: Option<String>,
    pub has_header: Option<bool>,
    /// Column names when `has_header = false` (or to rename a header).
    pub columns: Option<Vec<String>>,
    /// Remove leading and trailing spaces from every field.
    pub trim: Option<bool>,
    /// For dumps holding many tables or collections: the one to import.
    pub table: Option<String>,
    /// CSV: take a quote inside an unquoted field, or text after a closing
    /// quote, literally instead of rejecting the record.
    pub lenient_quotes: Option<bool>,
    /// CSV: the most lines one quoted field may span (default 1,000).
    pub max_field_lines: Option<u64>,
    /// CSV: the most bytes one field (or line) may hold (default 16 MiB).
    pub max_field_bytes: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSection {
    pub service: toml::Value,
    #[serde(rename = "type")]
    pub event_type: toml::Value,
    /// A column holding the event id itself (a UUID).
    pub id: Option<toml::Value>,
    /// A natural key; id = uuid5(NAMESPACE_URL, "chronicle:" + service + ":" + key).
    pub key: Option<toml::Value>,
    pub aggregate_id: Option<toml::Value>,
    pub correlation_id: Option<toml::Value>,
    pub created_at: toml::Value,
    /// When the export already carries the time of receipt.
    pub received_at: Option<toml::Value>,
}
