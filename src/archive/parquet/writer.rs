//! Writing a part file: the Parquet writer properties (zstd, per-column
//! encodings, statistics) and the streaming [`PartWriter`], which turns
//! sorted events into row groups and returns the facts the manifest records.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use arrow_array::builder::{StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use uuid::Uuid;

use super::{
    arrow_schema, ids_digest, BATCH_ROWS, COL_ID, COL_RECEIVED_AT, ROW_GROUP_ROWS, SCHEMA_VERSION,
};
use crate::archive::location::Upload;
use crate::event::{Event, Millis};

fn writer_properties() -> WriterProperties {
    let col = |name: &str| ColumnPath::from(name);
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_write_batch_size(BATCH_ROWS)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_column_dictionary_enabled(col("id"), false)
        .set_column_dictionary_enabled(col("payload"), false)
        .set_column_dictionary_enabled(col("created_at"), false)
        .set_column_dictionary_enabled(col("received_at"), false)
        .set_column_encoding(col("created_at"), Encoding::DELTA_BINARY_PACKED)
        .set_column_encoding(col("received_at"), Encoding::DELTA_BINARY_PACKED)
        .set_sorting_columns(Some(vec![
            SortingColumn {
                column_idx: COL_RECEIVED_AT as i32,
                descending: false,
                nulls_first: false,
            },
            SortingColumn {
                column_idx: COL_ID as i32,
                descending: false,
                nulls_first: false,
            },
        ]))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "chronicle.schema_version".to_string(),
            SCHEMA_VERSION.to_string(),
        )]))
        .set_created_by(format!("chronicle {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// What a finished part holds, as the manifest records it.
#[derive(Debug, Clone)]
pub struct WrittenPart {
    pub rows: u64,
    pub min_received_at: Millis,
    pub max_received_at: Millis,
    /// The ids written, sorted by id.
    pub sorted_ids: Vec<Uuid>,
    pub ids_digest: String,
    pub types: BTreeMap<String, u64>,
}

/// Streams events (already in (received_at, id) order) into one Parquet
/// file, written to an [`Upload`] as it is encoded. Memory: one Arrow
/// batch, the writer's current row group, and 16 bytes per row for the ids
/// that the digest and the delete step need.
pub struct PartWriter {
    /// The part's name, for messages.
    path: String,
    writer: ArrowWriter<Box<dyn Upload>>,
    id: StringBuilder,
    service: StringBuilder,
    event_type: StringBuilder,
    aggregate_id: StringBuilder,
    correlation_id: StringBuilder,
    created_at: TimestampMillisecondBuilder,
    received_at: TimestampMillisecondBuilder,
    payload: StringBuilder,
    pending: usize,
    rows: u64,
    min: Millis,
    max: Millis,
    last_key: Option<(Millis, Uuid)>,
    ids: Vec<Uuid>,
    types: BTreeMap<String, u64>,
    id_text: String,
}

impl PartWriter {
    /// Writes into `upload`; `name` names the part in messages.
    pub fn create(upload: Box<dyn Upload>, name: String) -> anyhow::Result<PartWriter> {
        let writer = ArrowWriter::try_new(upload, arrow_schema(), Some(writer_properties()))?;
        let ts = || TimestampMillisecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC");
        let strings = || StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 24);
        Ok(PartWriter {
            path: name,
            writer,
            id: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 36),
            service: strings(),
            event_type: strings(),
            aggregate_id: strings(),
            correlation_id: strings(),
            created_at: ts(),
            received_at: ts(),
            payload: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 128),
            pending: 0,
            rows: 0,
            min: Millis::MAX,
            max: Millis::MIN,
            last_key: None,
            ids: Vec::new(),
            types: BTreeMap::new(),
            id_text: String::with_capacity(36),
        })
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends one event; events must come in strictly increasing
    /// (received_at, id) order, which is checked because every reader relies
    /// on it.
    pub fn push(&mut self, event: &Event) -> anyhow::Result<()> {
        let received_at = event
            .received_at
            .with_context(|| format!("event {} has no received_at", event.id))?;
        let key = (received_at, event.id);
        if let Some(last) = self.last_key {
            anyhow::ensure!(
                key > last,
                "events must be archived in (received_at, id) order: {} after {}",
                event.id,
                last.1
            );
        }
        self.last_key = Some(key);
        self.id_text.clear();
        self.id_text.push_str(
            event
                .id
                .hyphenated()
                .encode_lower(&mut Uuid::encode_buffer()),
        );
        self.id.append_value(&self.id_text);
        self.service.append_value(&event.service);
        self.event_type.append_value(&event.event_type);
        self.aggregate_id
            .append_option(event.aggregate_id.as_deref());
        self.correlation_id
            .append_option(event.correlation_id.as_deref());
        self.created_at.append_value(event.created_at);
        self.received_at.append_value(received_at);
        self.payload.append_value(&event.payload);
        self.min = self.min.min(received_at);
        self.max = self.max.max(received_at);
        self.ids.push(event.id);
        match self.types.get_mut(&event.event_type) {
            Some(n) => *n += 1,
            None => {
                self.types.insert(event.event_type.clone(), 1);
            }
        }
        self.rows += 1;
        self.pending += 1;
        if self.pending == BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> anyhow::Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.event_type.finish()),
            Arc::new(self.aggregate_id.finish()),
            Arc::new(self.correlation_id.finish()),
            Arc::new(self.created_at.finish()),
            Arc::new(self.received_at.finish()),
            Arc::new(self.payload.finish()),
        ];
        let batch = RecordBatch::try_new(arrow_schema(), columns)?;
        self.writer
            .write(&batch)
            .with_context(|| format!("cannot write {}", self.path))?;
        self.pending = 0;
        Ok(())
    }

    /// Writes the footer and hands back the upload, for the caller to
    /// publish (fsync and rename, or complete and copy).
    pub fn finish(mut self) -> anyhow::Result<(WrittenPart, Box<dyn Upload>)> {
        self.flush_batch()?;
        let upload = self
            .writer
            .into_inner()
            .with_context(|| format!("cannot finish {}", self.path))?;
        let mut ids = self.ids;
        ids.sort_unstable();
        let part = WrittenPart {
            rows: self.rows,
            min_received_at: self.min,
            max_received_at: self.max,
            ids_digest: ids_digest(&ids),
            sorted_ids: ids,
            types: self.types,
        };
        Ok((part, upload))
    }

    /// Gives up on the part: what was uploaded so far is removed.
    pub fn abandon(self) {
        if let Ok(upload) = self.writer.into_inner() {
            upload.abandon();
        }
    }
}
