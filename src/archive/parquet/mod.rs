//! The archive's Parquet encoding: the Arrow schema of an archived event,
//! the streaming part writer (sorted rows in, zstd row groups out, plus the
//! facts the manifest records), and the streaming readers (whole events with
//! row-group pruning, or just the id column).
//!
//! Plain Arrow `Utf8` columns are written and Parquet's own dictionary
//! encoding is left to decide per column chunk, so readers get plain strings
//! while low-cardinality columns (service, type) still compress to almost
//! nothing. Columns that are unique per row (id, payload) skip the dictionary
//! attempt, and the two timestamps use delta encoding because `received_at`
//! is sorted and `created_at` is close to it.

mod reader;
mod writer;

use std::sync::{Arc, OnceLock};

use arrow_schema::extension::Json;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::location::Loc;

pub(crate) use reader::open_builder;
pub use reader::{for_each_row, part_facts, part_metadata, read_ids, Columns, PartEvents};
pub use writer::{PartWriter, WrittenPart};

/// Version of the archived row layout, recorded in every manifest and in
/// each file's key-value metadata.
pub const SCHEMA_VERSION: u32 = 1;

/// Rows per row group: large enough for fast scans and good compression,
/// small enough that a reader prunes by `received_at` usefully and a writer
/// buffers little.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Rows per Arrow batch handed to the writer or returned by the readers.
pub const BATCH_ROWS: usize = 8192;

/// Column names, in file order.
pub const COLUMNS: [&str; 8] = [
    "id",
    "service",
    "type",
    "aggregate_id",
    "correlation_id",
    "created_at",
    "received_at",
    "payload",
];
const COL_ID: usize = 0;
const COL_RECEIVED_AT: usize = 6;

/// The Arrow schema of archived events.
pub fn arrow_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, false),
                Field::new("service", DataType::Utf8, false),
                Field::new("type", DataType::Utf8, false),
                Field::new("aggregate_id", DataType::Utf8, true),
                Field::new("correlation_id", DataType::Utf8, true),
                Field::new("created_at", ts.clone(), false),
                Field::new("received_at", ts, false),
                // The JSON extension type makes the writer emit Parquet's
                // JSON logical type, which DuckDB maps to its JSON type.
                Field::new("payload", DataType::Utf8, false).with_extension_type(Json::default()),
            ]))
        })
        .clone()
}

/// The manifest's id digest: SHA-256 of the lowercase hyphenated ids sorted
/// ascending, each followed by `\n`, so that
/// `duckdb -noheader -list -c "SELECT id FROM 'part.parquet' ORDER BY id" | sha256sum`
/// reproduces it. `sorted_ids` must be sorted (byte order = text order).
pub fn ids_digest(sorted_ids: &[Uuid]) -> String {
    let mut hasher = Sha256::new();
    let mut buf = Uuid::encode_buffer();
    for id in sorted_ids {
        hasher.update(id.hyphenated().encode_lower(&mut buf).as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// SHA-256 of a file's bytes, streamed.
pub fn file_sha256(path: &Loc) -> anyhow::Result<String> {
    path.sha256()
}
