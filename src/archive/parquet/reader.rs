//! Reading part files: their metadata and facts, row-group pruning by
//! time, the streaming [`PartEvents`] reader of whole events (or chosen
//! columns), the borrowed-row walk [`for_each_row`] and the id-only read.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, PrimitiveArray, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use uuid::Uuid;

use super::{ids_digest, WrittenPart, BATCH_ROWS};
use crate::archive::location::{Loc, PartFile};
use crate::event::{Event, EventRef, Millis};
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
/// ((received_at, id)), one batch in memory at a time. A row is handed out
/// borrowed from its batch ([`PartEvents::take_row`]) or as an owned event
/// (the iterator).
pub struct PartEvents {
    path: Loc,
    reader: ParquetRecordBatchReader,
    filter: ScanFilter,
    columns: Columns,
    /// `[start, end)` every row's `received_at` must lie in (its partition).
    bounds: Option<(Millis, Millis)>,
    /// The columns of the batch being read.
    batch: Option<BatchColumns>,
    /// The rows of that batch that pass the filter, as (received_at, id,
    /// row), and how many of them were taken.
    keys: Vec<(Millis, Uuid, usize)>,
    taken: usize,
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
            batch: None,
            keys: Vec::new(),
            taken: 0,
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

    /// Reads batches until one has a row to take; false at the end.
    fn fill(&mut self) -> anyhow::Result<bool> {
        while self.taken == self.keys.len() {
            let Some(batch) = self.reader.next() else {
                self.batch = None;
                return Ok(false);
            };
            let batch = batch.with_context(|| format!("cannot read {}", self.path.display()))?;
            let rows = batch.num_rows() as u64;
            let columns = BatchColumns::of(&batch, self.columns)
                .with_context(|| format!("{} is not an archive part", self.path.display()))?;
            self.keys.clear();
            self.taken = 0;
            if let Err(e) = columns.keys(&self.filter, self.bounds, &mut self.keys) {
                // Nothing of a bad batch is handed out, should a caller go on.
                self.keys.clear();
                return Err(e).with_context(|| {
                    format!("{} (rows from {})", self.path.display(), self.row_base)
                });
            }
            self.batch = Some(columns);
            self.row_base += rows;
        }
        Ok(true)
    }

    /// The (received_at, id) of the next row, without taking it.
    pub fn peek_key(&mut self) -> anyhow::Result<Option<(Millis, Uuid)>> {
        if !self.fill()? {
            return Ok(None);
        }
        let (received_at, id, _) = self.keys[self.taken];
        Ok(Some((received_at, id)))
    }

    /// Takes the next row, handing it to `f` borrowed from its batch.
    pub fn take_row<T>(&mut self, f: impl FnOnce(EventRef<'_>) -> T) -> anyhow::Result<Option<T>> {
        if !self.fill()? {
            return Ok(None);
        }
        let (received_at, id, row) = self.keys[self.taken];
        self.taken += 1;
        let batch = self.batch.as_ref().expect("filled");
        Ok(Some(f(batch.row(row, received_at, id))))
    }
}

impl Iterator for PartEvents {
    type Item = anyhow::Result<Event>;
    fn next(&mut self) -> Option<Self::Item> {
        self.take_row(|row| row.to_event()).transpose()
    }
}

fn string_column(batch: &RecordBatch, name: &str) -> anyhow::Result<StringArray> {
    Ok(batch
        .column_by_name(name)
        .with_context(|| format!("column `{name}` is missing"))?
        .as_string_opt::<i32>()
        .with_context(|| format!("column `{name}` is not a string column"))?
        .clone())
}

fn time_column(batch: &RecordBatch, name: &str) -> anyhow::Result<TimeArray> {
    Ok(batch
        .column_by_name(name)
        .with_context(|| format!("column `{name}` is missing"))?
        .as_primitive_opt::<TimestampMillisecondType>()
        .with_context(|| format!("column `{name}` is not a millisecond timestamp"))?
        .clone())
}

type TimeArray = PrimitiveArray<TimestampMillisecondType>;

/// The columns of one decoded batch (cheap handles on its buffers); those
/// a reader left out are `None` and read as empty text, no value or 0.
struct BatchColumns {
    id: StringArray,
    event_type: StringArray,
    received_at: TimeArray,
    service: Option<StringArray>,
    aggregate_id: Option<StringArray>,
    correlation_id: Option<StringArray>,
    payload: Option<StringArray>,
    created_at: Option<TimeArray>,
}

impl BatchColumns {
    fn of(batch: &RecordBatch, columns: Columns) -> anyhow::Result<BatchColumns> {
        let text = |wanted: bool, name: &str| -> anyhow::Result<Option<StringArray>> {
            wanted.then(|| string_column(batch, name)).transpose()
        };
        Ok(BatchColumns {
            id: string_column(batch, "id")?,
            event_type: string_column(batch, "type")?,
            received_at: time_column(batch, "received_at")?,
            service: text(columns.service, "service")?,
            aggregate_id: text(columns.aggregate_id, "aggregate_id")?,
            correlation_id: text(columns.correlation_id, "correlation_id")?,
            payload: text(columns.payload, "payload")?,
            created_at: columns
                .created_at
                .then(|| time_column(batch, "created_at"))
                .transpose()?,
        })
    }

    /// Appends to `out` the rows that pass `filter`, as (received_at, id,
    /// row); an error for a row outside `bounds` or an id that is not a
    /// UUID.
    fn keys(
        &self,
        filter: &ScanFilter,
        bounds: Option<(Millis, Millis)>,
        out: &mut Vec<(Millis, Uuid, usize)>,
    ) -> anyhow::Result<()> {
        for i in 0..self.id.len() {
            let r = self.received_at.value(i);
            if let Some((start, end)) = bounds {
                anyhow::ensure!(
                    (start..end).contains(&r),
                    "row {i} (id {}) was received at {}, outside the partition [{}, {}) of its folder",
                    self.id.value(i),
                    crate::event::format_millis(r),
                    crate::event::format_millis(start),
                    crate::event::format_millis(end)
                );
            }
            if filter.since.is_some_and(|s| r < s) || filter.until.is_some_and(|u| r >= u) {
                continue;
            }
            if !filter.types.is_empty() {
                let t = self.event_type.value(i);
                if !filter.types.iter().any(|x| x == t) {
                    continue;
                }
            }
            let text = self.id.value(i);
            let id = Uuid::parse_str(text)
                .map_err(|e| anyhow::anyhow!("row {i}: id `{text}` is not a UUID ({e})"))?;
            out.push((r, id, i));
        }
        Ok(())
    }

    fn row(&self, i: usize, received_at: Millis, id: Uuid) -> EventRef<'_> {
        fn value(a: &Option<StringArray>, i: usize) -> &str {
            a.as_ref().map_or("", |a| a.value(i))
        }
        fn opt(a: &Option<StringArray>, i: usize) -> Option<&str> {
            a.as_ref().and_then(|a| optional_value(a, i))
        }
        EventRef {
            id,
            service: value(&self.service, i),
            event_type: self.event_type.value(i),
            created_at: self.created_at.as_ref().map_or(0, |c| c.value(i)),
            received_at: Some(received_at),
            aggregate_id: opt(&self.aggregate_id, i),
            correlation_id: opt(&self.correlation_id, i),
            payload: value(&self.payload, i),
        }
    }
}

/// Calls `visit` for every row of a part, in file order, without building
/// owned events (the archive's read-back check runs on every row written).
/// Returns the number of rows.
pub fn for_each_row(
    path: &Loc,
    mut visit: impl FnMut(EventRef<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let reader = open_builder(path)?
        .with_batch_size(BATCH_ROWS)
        .build()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.with_context(|| format!("cannot read {}", path.display()))?;
        let cols = BatchColumns::of(&batch, Columns::ALL)
            .with_context(|| format!("{} is not an archive part", path.display()))?;
        for i in 0..batch.num_rows() {
            let text = cols.id.value(i);
            let parsed = Uuid::parse_str(text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: row {}: id `{text}` is not a UUID ({e})",
                    path.display(),
                    rows
                )
            })?;
            visit(cols.row(i, cols.received_at.value(i), parsed))?;
            rows += 1;
        }
    }
    Ok(rows)
}

fn optional_value(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

/// What a part file actually holds, as its manifest entry should record it:
/// rows, time range, types and (sorted) ids, reading only the `id`, `type`
/// and `received_at` columns; an error for rows out of (received_at, id)
/// order, which every reader of parts relies on. Memory: 16 bytes per row
/// for the ids.
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
    let mut last: Option<(Millis, Uuid)> = None;
    for batch in reader {
        let batch = batch.with_context(|| format!("cannot read {}", path.display()))?;
        let BatchColumns {
            id,
            event_type,
            received_at,
            ..
        } = BatchColumns::of(&batch, Columns::KEYS)
            .with_context(|| format!("{} is not an archive part", path.display()))?;
        for i in 0..batch.num_rows() {
            let text = id.value(i);
            let parsed = Uuid::parse_str(text).map_err(|e| {
                anyhow::anyhow!("{}: id `{text}` is not a UUID ({e})", path.display())
            })?;
            let r = received_at.value(i);
            anyhow::ensure!(
                last.is_none_or(|last| last <= (r, parsed)),
                "{}: row {} (id {parsed}) is out of (received_at, id) order",
                path.display(),
                ids.len()
            );
            last = Some((r, parsed));
            ids.push(parsed);
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
