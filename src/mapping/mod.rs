//! The mapping file: the contract that turns one source record (a CSV row, a
//! dump row, a document) into one canonical event.
//!
//! A mapping is parsed from TOML ([`MappingFile`]) and then compiled against
//! the source's column names ([`Mapping::compile`]). Compiling resolves every
//! `{column}` reference to an index and checks every format string and time
//! zone, so a broken mapping fails before the first row is read and the
//! per-row path does no lookups by name. docs/mapping.md is the user-facing
//! description of every key handled here.

mod spec;
mod value;

use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::event::{deterministic_id, push_json_string, Event};
pub use spec::{MappingFile, SourceSection};
pub(crate) use value::parse_bool;
use value::{CompiledTimestamp, CompiledValue, Rendered};

/// Columns that chronicle appends to a rejects file; excluded from the row
/// hash so that a corrected rejects file re-imports to the same ids.
pub const REJECT_LINE_COLUMN: &str = "chronicle_line";
pub const REJECT_REASON_COLUMN: &str = "chronicle_reason";

/// One source record seen through its fields. `None` is a null (a dump's
/// `\N` or `NULL`); CSV has no nulls, only empty strings.
pub trait Fields {
    fn field(&self, index: usize) -> Option<&str>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Fields for [Option<String>] {
    fn field(&self, index: usize) -> Option<&str> {
        self.get(index).and_then(|v| v.as_deref())
    }
    fn len(&self) -> usize {
        <[Option<String>]>::len(self)
    }
}

/// A mapping problem found before any row is read.
#[derive(Debug, thiserror::Error)]
#[error("mapping {file}: {key}: {reason}")]
pub struct MappingError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

/// Why one record could not become an event. Names the mapping key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub key: String,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// The result of mapping one record.
#[derive(Debug)]
pub enum Mapped {
    Event(Event),
    /// A `[[skip]]` rule matched.
    Skipped,
}

/// A loaded, not yet compiled mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub path: String,
    /// The TOML text, recorded with each import run.
    pub text: String,
    pub file: MappingFile,
    /// Set only by `mapping draft`'s probe: when compiled, every source
    /// column also becomes a payload key (as text, empty as null), so the
    /// draft sees the raw values of sources whose columns are only known
    /// once the input is read (SQL dumps).
    pub(crate) all_columns_payload: bool,
}

impl Mapping {
    pub fn load(path: &Path) -> anyhow::Result<Mapping> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read mapping {}", path.display()))?;
        Mapping::parse(&path.display().to_string(), &text)
    }

    pub fn parse(path: &str, text: &str) -> anyhow::Result<Mapping> {
        let file: MappingFile = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("mapping {path}: {}", e.to_string().trim_end()))?;
        Ok(Mapping {
            path: path.to_string(),
            text: text.to_string(),
            file,
            all_columns_payload: false,
        })
    }

    /// Resolves the mapping against the source's column names.
    pub fn compile(&self, columns: &[String]) -> Result<CompiledMapping, MappingError> {
        self.compile_in(&value::CompileContext {
            file: &self.path,
            columns,
            referenced: None,
        })
    }

    /// The column names the mapping refers to, in order of first use, for
    /// sources without a fixed column set (documents). Checks everything
    /// else that [`Mapping::compile`] checks.
    pub fn referenced_columns(&self) -> Result<Vec<String>, MappingError> {
        let names = std::cell::RefCell::new(Vec::new());
        self.compile_in(&value::CompileContext {
            file: &self.path,
            columns: &[],
            referenced: Some(&names),
        })?;
        Ok(names.into_inner())
    }

    fn compile_in(&self, ctx: &value::CompileContext<'_>) -> Result<CompiledMapping, MappingError> {
        let columns = ctx.columns;
        let ev = &self.file.event;
        let service = ctx.compile_text("event.service", &ev.service, value::EmptyPolicy::Reject)?;
        let event_type =
            ctx.compile_text("event.type", &ev.event_type, value::EmptyPolicy::Reject)?;
        let id = ev
            .id
            .as_ref()
            .map(|v| ctx.compile_text("event.id", v, value::EmptyPolicy::Reject))
            .transpose()?;
        let key = ev
            .key
            .as_ref()
            .map(|v| ctx.compile_text("event.key", v, value::EmptyPolicy::Reject))
            .transpose()?;
        let aggregate_id = ev
            .aggregate_id
            .as_ref()
            .map(|v| ctx.compile_text("event.aggregate_id", v, value::EmptyPolicy::Omit))
            .transpose()?;
        let correlation_id = ev
            .correlation_id
            .as_ref()
            .map(|v| ctx.compile_text("event.correlation_id", v, value::EmptyPolicy::Omit))
            .transpose()?;
        let created_at = ctx.compile_timestamp("event.created_at", &ev.created_at, true)?;
        let received_at = ev
            .received_at
            .as_ref()
            .map(|v| ctx.compile_timestamp("event.received_at", v, false))
            .transpose()?;
        let mut payload = Vec::with_capacity(self.file.payload.len());
        // BTreeMap iteration is sorted by key, which is exactly canonical
        // JSON key order, so payloads can be written without a sort.
        for (name, spec) in &self.file.payload {
            let value = ctx.compile_value(&format!("payload.{name}"), spec)?;
            let mut quoted = String::new();
            push_json_string(&mut quoted, name);
            payload.push((quoted, value));
        }
        if self.all_columns_payload && ctx.referenced.is_none() {
            for (i, column) in columns.iter().enumerate() {
                let mut spec = toml::map::Map::new();
                spec.insert("column".into(), toml::Value::String(column.clone()));
                spec.insert("empty".into(), toml::Value::String("null".into()));
                let value =
                    ctx.compile_value(&format!("payload.{column}"), &toml::Value::Table(spec))?;
                // Numbered keys keep the source's column order through
                // JSON, whose objects sort their keys.
                let mut quoted = String::new();
                push_json_string(&mut quoted, &format!("{i:06}:{column}"));
                payload.push((quoted, value));
            }
        }
        let mut skip = Vec::new();
        for (i, rule) in self.file.skip.iter().enumerate() {
            skip.push(ctx.compile_skip(&format!("skip[{i}]"), rule)?);
        }
        // Row hashing sorts by column name so that re-ordered exports of the
        // same rows produce the same ids.
        let mut hash_columns: Vec<(String, usize)> = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.as_str() != REJECT_LINE_COLUMN && c.as_str() != REJECT_REASON_COLUMN)
            .map(|(i, c)| (c.clone(), i))
            .collect();
        hash_columns.sort();
        Ok(CompiledMapping {
            service,
            event_type,
            id,
            key,
            aggregate_id,
            correlation_id,
            created_at,
            received_at,
            payload,
            skip,
            hash_columns,
        })
    }
}

/// A mapping bound to one column layout; cheap to apply per record.
#[derive(Debug)]
pub struct CompiledMapping {
    service: CompiledValue,
    event_type: CompiledValue,
    id: Option<CompiledValue>,
    key: Option<CompiledValue>,
    aggregate_id: Option<CompiledValue>,
    correlation_id: Option<CompiledValue>,
    created_at: CompiledTimestamp,
    received_at: Option<CompiledTimestamp>,
    payload: Vec<(String, CompiledValue)>,
    skip: Vec<value::CompiledSkip>,
    hash_columns: Vec<(String, usize)>,
}

impl CompiledMapping {
    /// Maps one record. `scratch` is reused between calls to avoid
    /// allocating per template.
    pub fn map(&self, record: &dyn Fields, scratch: &mut String) -> Result<Mapped, RowError> {
        if self.skip.iter().any(|rule| rule.matches(record)) {
            return Ok(Mapped::Skipped);
        }
        let service = self.service.required_text(record, scratch)?;
        let event_type = self.event_type.required_text(record, scratch)?;
        let id = if let Some(id) = &self.id {
            let text = id.required_text(record, scratch)?;
            Uuid::parse_str(&text).map_err(|e| RowError {
                key: id.key.clone(),
                reason: format!("`{text}` is not a UUID ({e})"),
            })?
        } else if let Some(key) = &self.key {
            deterministic_id(&service, &key.required_text(record, scratch)?)
        } else {
            deterministic_id(&service, &self.row_hash_key(record))
        };
        let aggregate_id = match &self.aggregate_id {
            Some(v) => v.optional_text(record, scratch)?,
            None => None,
        };
        let correlation_id = match &self.correlation_id {
            Some(v) => v.optional_text(record, scratch)?,
            None => None,
        };
        let created_at = self
            .created_at
            .millis(record)?
            .expect("created_at is compiled as required");
        let received_at = match &self.received_at {
            Some(t) => t.millis(record)?,
            None => None,
        };
        let mut payload = String::with_capacity(64 + 24 * self.payload.len());
        payload.push('{');
        let mut first = true;
        for (quoted_name, value) in &self.payload {
            let mark = payload.len();
            if !first {
                payload.push(',');
            }
            payload.push_str(quoted_name);
            payload.push(':');
            match value.render_json(record, scratch, &mut payload)? {
                Rendered::Written => first = false,
                Rendered::Omitted => payload.truncate(mark),
            }
        }
        payload.push('}');
        Ok(Mapped::Event(Event {
            id,
            service,
            event_type,
            created_at,
            received_at,
            aggregate_id,
            correlation_id,
            payload,
        }))
    }

    /// `row-sha256:<hex>` over the (column, value) pairs in column-name order.
    fn row_hash_key(&self, record: &dyn Fields) -> String {
        let mut hasher = Sha256::new();
        for (name, index) in &self.hash_columns {
            hasher.update(name.as_bytes());
            hasher.update([0x1f]);
            match record.field(*index) {
                Some(v) => {
                    hasher.update([b's']);
                    hasher.update(v.as_bytes());
                }
                None => hasher.update([b'n']),
            }
            hasher.update([0x1e]);
        }
        format!("row-sha256:{}", hex::encode(hasher.finalize()))
    }
}

/// The source's columns as listed in mapping error messages.
pub fn describe_columns(columns: &[String]) -> String {
    if columns.is_empty() {
        return "(the source has no columns)".to_string();
    }
    columns.join(", ")
}
