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

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use arrow_array::builder::{StringBuilder, TimestampMillisecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::extension::Json;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, ParquetMetaData, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::location::{Loc, PartFile, Upload};
use crate::event::{Event, Millis};
use crate::store::ScanFilter;

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

fn open_builder(path: &Loc) -> anyhow::Result<ParquetRecordBatchReaderBuilder<PartFile>> {
    let file = path.open()?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not a readable Parquet file", path.display()))
}

/// The Parquet metadata of a part (footer only).
pub fn part_metadata(path: &Loc) -> anyhow::Result<Arc<ParquetMetaData>> {
    Ok(open_builder(path)?.metadata().clone())
}

fn column_index(meta: &ParquetMetaData, name: &str) -> anyhow::Result<usize> {
    meta.file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == name)
        .with_context(|| format!("column `{name}` is missing"))
}

/// Row groups whose `received_at` statistics may overlap `[since, until)`.
/// Row groups without statistics are kept.
fn row_groups_for(
    meta: &ParquetMetaData,
    since: Option<Millis>,
    until: Option<Millis>,
) -> anyhow::Result<Vec<usize>> {
    let col = column_index(meta, "received_at")?;
    let mut out = Vec::new();
    for (i, rg) in meta.row_groups().iter().enumerate() {
        let keep = match rg.column(col).statistics() {
            Some(Statistics::Int64(s)) => {
                let below = match (until, s.min_opt()) {
                    (Some(u), Some(min)) => *min >= u,
                    _ => false,
                };
                let above = match (since, s.max_opt()) {
                    (Some(si), Some(max)) => *max < si,
                    _ => false,
                };
                !below && !above
            }
            _ => true,
        };
        if keep {
            out.push(i);
        }
    }
    Ok(out)
}

/// Which of an event's columns a reader decodes; `id`, `type` and
/// `received_at` always are (they order, filter and identify an event). A
/// column left out reads as empty text, no value or 0 in the events built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    pub service: bool,
    pub aggregate_id: bool,
    pub correlation_id: bool,
    pub created_at: bool,
    pub payload: bool,
}

impl Columns {
    pub const ALL: Columns = Columns {
        service: true,
        aggregate_id: true,
        correlation_id: true,
        created_at: true,
        payload: true,
    };
    pub const KEYS: Columns = Columns {
        service: false,
        aggregate_id: false,
        correlation_id: false,
        created_at: false,
        payload: false,
    };

    fn wanted(&self, name: &str) -> bool {
        match name {
            "service" => self.service,
            "aggregate_id" => self.aggregate_id,
            "correlation_id" => self.correlation_id,
            "created_at" => self.created_at,
            "payload" => self.payload,
            _ => true,
        }
    }
}

/// Streams the events of one part file that match `filter`, in file order
/// ((received_at, id)), one batch in memory at a time.
pub struct PartEvents {
    path: Loc,
    reader: ParquetRecordBatchReader,
    filter: ScanFilter,
    columns: Columns,
    /// `[start, end)` every row's `received_at` must lie in (its partition).
    bounds: Option<(Millis, Millis)>,
    buffer: VecDeque<Event>,
    row_base: u64,
}

impl PartEvents {
    pub fn open(path: &Loc, filter: &ScanFilter) -> anyhow::Result<PartEvents> {
        Self::open_columns(path, filter, Columns::ALL)
    }

    /// Reads only `columns`, and skips the row groups that hold none of the
    /// filter's types (see [`super::read::row_groups_with_types`]).
    pub fn open_columns(
        path: &Loc,
        filter: &ScanFilter,
        columns: Columns,
    ) -> anyhow::Result<PartEvents> {
        let builder = open_builder(path)?;
        let groups = row_groups_for(builder.metadata(), filter.since, filter.until)
            .and_then(|groups| {
                super::read::row_groups_with_types(path, builder.metadata(), groups, &filter.types)
            })
            .with_context(|| format!("{} is not an archive part", path.display()))?;
        let leaves: Vec<usize> = builder
            .parquet_schema()
            .columns()
            .iter()
            .enumerate()
            .filter(|(_, c)| columns.wanted(c.name()))
            .map(|(i, _)| i)
            .collect();
        let mask = ProjectionMask::leaves(builder.parquet_schema(), leaves);
        let reader = builder
            .with_row_groups(groups)
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(PartEvents {
            path: path.clone(),
            reader,
            filter: filter.clone(),
            columns,
            bounds: None,
            buffer: VecDeque::new(),
            row_base: 0,
        })
    }

    /// Makes a row received outside `[start, end)` (the part's partition)
    /// an error rather than an event: such a file was moved or copied into
    /// the wrong folder, and its rows would be missed by time-pruned reads.
    pub fn within(mut self, start: Millis, end: Millis) -> PartEvents {
        self.bounds = Some((start, end));
        self
    }

    fn fill(&mut self) -> anyhow::Result<bool> {
        while self.buffer.is_empty() {
            let Some(batch) = self.reader.next() else {
                return Ok(false);
            };
            let batch = batch.with_context(|| format!("cannot read {}", self.path.display()))?;
            let rows = batch.num_rows() as u64;
            batch_to_events(
                &batch,
                &self.filter,
                self.columns,
                self.bounds,
                &mut self.buffer,
            )
            .with_context(|| format!("{} (rows from {})", self.path.display(), self.row_base))?;
            self.row_base += rows;
        }
        Ok(true)
    }

    /// The next event without consuming it.
    pub fn peek(&mut self) -> anyhow::Result<Option<&Event>> {
        if !self.fill()? {
            return Ok(None);
        }
        Ok(self.buffer.front())
    }
}

impl Iterator for PartEvents {
    type Item = anyhow::Result<Event>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.fill() {
            Ok(true) => self.buffer.pop_front().map(Ok),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

fn string_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> anyhow::Result<&'a arrow_array::StringArray> {
    batch
        .column_by_name(name)
        .with_context(|| format!("column `{name}` is missing"))?
        .as_string_opt::<i32>()
        .with_context(|| format!("column `{name}` is not a string column"))
}

fn time_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> anyhow::Result<&'a arrow_array::PrimitiveArray<TimestampMillisecondType>> {
    batch
        .column_by_name(name)
        .with_context(|| format!("column `{name}` is missing"))?
        .as_primitive_opt::<TimestampMillisecondType>()
        .with_context(|| format!("column `{name}` is not a millisecond timestamp"))
}

fn batch_to_events(
    batch: &RecordBatch,
    filter: &ScanFilter,
    columns: Columns,
    bounds: Option<(Millis, Millis)>,
    out: &mut VecDeque<Event>,
) -> anyhow::Result<()> {
    let id = string_column(batch, "id")?;
    let event_type = string_column(batch, "type")?;
    let received_at = time_column(batch, "received_at")?;
    let text = |wanted: bool, name: &str| -> anyhow::Result<_> {
        Ok(if wanted {
            Some(string_column(batch, name)?)
        } else {
            None
        })
    };
    let service = text(columns.service, "service")?;
    let aggregate_id = text(columns.aggregate_id, "aggregate_id")?;
    let correlation_id = text(columns.correlation_id, "correlation_id")?;
    let payload = text(columns.payload, "payload")?;
    let created_at = if columns.created_at {
        Some(time_column(batch, "created_at")?)
    } else {
        None
    };
    let value = |a: Option<&arrow_array::StringArray>, i: usize| {
        a.map(|a| a.value(i).to_string()).unwrap_or_default()
    };
    let opt = |a: Option<&arrow_array::StringArray>, i: usize| {
        a.and_then(|a| (!a.is_null(i)).then(|| a.value(i).to_string()))
    };
    for i in 0..batch.num_rows() {
        let r = received_at.value(i);
        if let Some((start, end)) = bounds {
            anyhow::ensure!(
                (start..end).contains(&r),
                "row {i} (id {}) was received at {}, outside the partition [{}, {}) of its folder",
                id.value(i),
                crate::event::format_millis(r),
                crate::event::format_millis(start),
                crate::event::format_millis(end)
            );
        }
        if filter.since.is_some_and(|s| r < s) || filter.until.is_some_and(|u| r >= u) {
            continue;
        }
        let t = event_type.value(i);
        if !filter.types.is_empty() && !filter.types.iter().any(|x| x == t) {
            continue;
        }
        let text = id.value(i);
        let parsed = Uuid::parse_str(text)
            .map_err(|e| anyhow::anyhow!("row {i}: id `{text}` is not a UUID ({e})"))?;
        out.push_back(Event {
            id: parsed,
            service: value(service, i),
            event_type: t.to_string(),
            created_at: created_at.map_or(0, |c| c.value(i)),
            received_at: Some(r),
            aggregate_id: opt(aggregate_id, i),
            correlation_id: opt(correlation_id, i),
            payload: value(payload, i),
        });
    }
    Ok(())
}

/// One archived row, borrowed from a decoded batch.
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    pub id: Uuid,
    pub service: &'a str,
    pub event_type: &'a str,
    pub created_at: Millis,
    pub received_at: Millis,
    pub aggregate_id: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub payload: &'a str,
}

/// Calls `visit` for every row of a part, in file order, without building
/// owned events (the archive's read-back check runs on every row written).
/// Returns the number of rows.
pub fn for_each_row(
    path: &Loc,
    mut visit: impl FnMut(RowRef<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let reader = open_builder(path)?
        .with_batch_size(BATCH_ROWS)
        .build()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.with_context(|| format!("cannot read {}", path.display()))?;
        let cols = (|| -> anyhow::Result<_> {
            Ok((
                string_column(&batch, "id")?,
                string_column(&batch, "service")?,
                string_column(&batch, "type")?,
                string_column(&batch, "aggregate_id")?,
                string_column(&batch, "correlation_id")?,
                time_column(&batch, "created_at")?,
                time_column(&batch, "received_at")?,
                string_column(&batch, "payload")?,
            ))
        })()
        .with_context(|| format!("{} is not an archive part", path.display()))?;
        let (
            id,
            service,
            event_type,
            aggregate_id,
            correlation_id,
            created_at,
            received_at,
            payload,
        ) = cols;
        for i in 0..batch.num_rows() {
            let text = id.value(i);
            let parsed = Uuid::parse_str(text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: row {}: id `{text}` is not a UUID ({e})",
                    path.display(),
                    rows
                )
            })?;
            visit(RowRef {
                id: parsed,
                service: service.value(i),
                event_type: event_type.value(i),
                created_at: created_at.value(i),
                received_at: received_at.value(i),
                aggregate_id: optional_value(aggregate_id, i),
                correlation_id: optional_value(correlation_id, i),
                payload: payload.value(i),
            })?;
            rows += 1;
        }
    }
    Ok(rows)
}

fn optional_value(a: &arrow_array::StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

/// What a part file actually holds, as its manifest entry should record it:
/// rows, time range, types and (sorted) ids, reading only the `id`, `type`
/// and `received_at` columns. Memory: 16 bytes per row for the ids.
pub fn part_facts(path: &Loc) -> anyhow::Result<WrittenPart> {
    let builder = open_builder(path)?;
    let cols = ["id", "type", "received_at"]
        .iter()
        .map(|name| column_index(builder.metadata(), name))
        .collect::<anyhow::Result<Vec<usize>>>()
        .with_context(|| format!("{} is not an archive part", path.display()))?;
    let mask = ProjectionMask::leaves(builder.parquet_schema(), cols);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut ids = Vec::new();
    let mut types: BTreeMap<String, u64> = BTreeMap::new();
    let (mut min, mut max) = (Millis::MAX, Millis::MIN);
    for batch in reader {
        let batch = batch.with_context(|| format!("cannot read {}", path.display()))?;
        let (id, event_type, received_at) = (|| -> anyhow::Result<_> {
            Ok((
                string_column(&batch, "id")?,
                string_column(&batch, "type")?,
                time_column(&batch, "received_at")?,
            ))
        })()
        .with_context(|| format!("{} is not an archive part", path.display()))?;
        for i in 0..batch.num_rows() {
            let text = id.value(i);
            ids.push(Uuid::parse_str(text).map_err(|e| {
                anyhow::anyhow!("{}: id `{text}` is not a UUID ({e})", path.display())
            })?);
            let r = received_at.value(i);
            min = min.min(r);
            max = max.max(r);
            match types.get_mut(event_type.value(i)) {
                Some(n) => *n += 1,
                None => {
                    types.insert(event_type.value(i).to_string(), 1);
                }
            }
        }
    }
    ids.sort_unstable();
    Ok(WrittenPart {
        rows: ids.len() as u64,
        min_received_at: min,
        max_received_at: max,
        ids_digest: ids_digest(&ids),
        sorted_ids: ids,
        types,
    })
}

/// Every id of a part, in file order, reading only the id column.
pub fn read_ids(path: &Loc) -> anyhow::Result<Vec<Uuid>> {
    let builder = open_builder(path)?;
    let col = column_index(builder.metadata(), "id")
        .with_context(|| format!("{} is not an archive part", path.display()))?;
    let mask = ProjectionMask::leaves(builder.parquet_schema(), [col]);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.with_context(|| format!("cannot read {}", path.display()))?;
        let ids = string_column(&batch, "id").with_context(|| path.display().to_string())?;
        for i in 0..ids.len() {
            let text = ids.value(i);
            out.push(Uuid::parse_str(text).map_err(|e| {
                anyhow::anyhow!("{}: id `{text}` is not a UUID ({e})", path.display())
            })?);
        }
    }
    Ok(out)
}
