//! Reading part files: their metadata and facts, row-group pruning by
//! time, the streaming [`PartEvents`] reader of whole events (or chosen
//! columns), the borrowed-row walk [`for_each_row`] and the id-only read.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use uuid::Uuid;

use super::{ids_digest, WrittenPart, BATCH_ROWS};
use crate::archive::location::{Loc, PartFile};
use crate::event::{Event, Millis};
use crate::store::ScanFilter;

/// A Parquet reader of a part; on object storage its reads learn the
/// column chunk layout from the footer ([`PartFile::learn_layout`]).
pub(crate) fn open_builder(
    path: &Loc,
) -> anyhow::Result<ParquetRecordBatchReaderBuilder<PartFile>> {
    let file = path.open()?;
    let remote = file.remote_handle();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not a readable Parquet file", path.display()))?;
    if let Some(remote) = remote {
        remote.learn_layout(builder.metadata());
    }
    Ok(builder)
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
                crate::archive::read::row_groups_with_types(
                    path,
                    builder.metadata(),
                    groups,
                    &filter.types,
                )
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
