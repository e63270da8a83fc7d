//! Reading the archive back as a stream of events, for `replay` and for
//! projection rebuilds: every archived event matching a [`ScanFilter`], in
//! (received_at, id) order across all partitions and part files.
//!
//! Only parts listed in a manifest are read, each entry must name a plain
//! part file of its own folder, and each file's SHA-256 is checked against
//! its manifest entry before its first row is used, so a damaged file is an
//! error and never a silent gap. Partitions are pruned by folder name, row
//! groups by the `received_at` statistics inside the Parquet file; the
//! manifest's own time range and types are never used to skip a part, so
//! an edited manifest cannot hide events (`verify` checks those fields
//! against the files). A row outside its folder's partition is an error.
//! Within a partition, parts overlap in time (a late-event part covers the
//! same month as the first one), so their rows are merged; memory stays at
//! one batch per part of one partition.

use std::collections::BTreeMap;

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use parquet::arrow::ProjectionMask;
use parquet::basic::Encoding;
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::file::statistics::Statistics;
use serde::Serialize;
use uuid::Uuid;

use super::layout::{list_partitions, Partition};
use super::location::{Archive, Dir, Loc};
use super::manifest::{part_path, Manifest, PartEntry};
use super::parquet::{file_sha256, Columns, PartEvents, BATCH_ROWS};
use crate::event::{Event, EventRef, Millis};
use crate::store::ScanFilter;

/// The partitions of `root` that may hold events in `[since, until)`,
/// in time order. Fails when monthly and daily partitions overlap, because
/// then no single order of folders is the time order.
pub fn partitions_for(root: &Archive, filter: &ScanFilter) -> anyhow::Result<Vec<Partition>> {
    let all = list_partitions(root)?;
    for pair in all.windows(2) {
        if pair[1].start() < pair[0].end() {
            anyhow::bail!(
                "archive {} holds overlapping partitions {} and {} (monthly and daily partitions of the same month cannot be mixed)",
                root,
                pair[0].rel_dir().display(),
                pair[1].rel_dir().display()
            );
        }
    }
    Ok(all
        .into_iter()
        .filter(|p| p.overlaps(filter.since, filter.until))
        .collect())
}

/// Checks a part file against its manifest entry's SHA-256, after checking
/// that the entry names a plain part file of `dir`; the error names the
/// file and both digests. Returns the file's path.
pub fn check_sha256(dir: &Dir, entry: &PartEntry) -> anyhow::Result<Loc> {
    let path = part_path(dir, entry)?;
    anyhow::ensure!(
        path.exists()?,
        "{} is listed in its manifest but missing",
        path.display()
    );
    let actual = file_sha256(&path)?;
    anyhow::ensure!(
        actual == entry.sha256,
        "{} is damaged: its SHA-256 is {actual} but the manifest records {}",
        path.display(),
        entry.sha256
    );
    Ok(path)
}

/// A listed part, ready to read for its events. On object storage, a part
/// whose ETag is still the one its manifest entry recorded when its
/// SHA-256 was taken is that very version: it is read pinned to it (every
/// range request conditional on the ETag, so a replacement fails the read)
/// without fetching the whole object again to hash it. Any other part
/// (a local disk, an entry without an ETag, another ETag) is hashed and
/// checked by [`check_sha256`]. `verify` and the re-check before a delete
/// always hash.
pub fn checked_part(dir: &Dir, entry: &PartEntry) -> anyhow::Result<Loc> {
    if let Some(etag) = &entry.etag {
        let path = part_path(dir, entry)?;
        if path.etag()?.as_deref() == Some(etag.as_str()) {
            return Ok(path.pinned(etag.clone()));
        }
    }
    check_sha256(dir, entry)
}

/// Every archived event under `dir` matching `filter`, in (received_at, id)
/// order. Errors (a damaged or missing part, an unreadable manifest) are
/// yielded as items; after an error the iterator ends.
pub fn archived_events(dir: &Archive, filter: &ScanFilter) -> anyhow::Result<ArchivedEvents> {
    archived_events_columns(dir, filter, Columns::ALL)
}

/// [`archived_events`] decoding only `columns` (a projection reads the
/// fields its expressions name, and nothing else).
pub fn archived_events_columns(
    dir: &Archive,
    filter: &ScanFilter,
    columns: Columns,
) -> anyhow::Result<ArchivedEvents> {
    let partitions = partitions_for(dir, filter)?;
    Ok(partition_events(dir, partitions, filter, columns))
}

/// [`archived_events_columns`] of some `partitions` of `dir` (from
/// [`partitions_for`], in time order), so that a reader can spread the
/// partitions of one scan over threads.
pub fn partition_events(
    dir: &Archive,
    partitions: Vec<Partition>,
    filter: &ScanFilter,
    columns: Columns,
) -> ArchivedEvents {
    ArchivedEvents {
        root: dir.clone(),
        filter: filter.clone(),
        columns,
        partitions: partitions.into_iter().rev().collect(),
        current: Vec::new(),
        last: None,
        done: false,
    }
}

/// The iterator returned by [`archived_events`].
pub struct ArchivedEvents {
    root: Archive,
    filter: ScanFilter,
    columns: Columns,
    /// Partitions still to read, last one first (popped from the end).
    partitions: Vec<Partition>,
    /// Open parts of the current partition.
    current: Vec<PartEvents>,
    last: Option<(Millis, Uuid)>,
    done: bool,
}

impl ArchivedEvents {
    fn open_partition(&mut self, partition: &Partition) -> anyhow::Result<()> {
        let dir = partition.dir(&self.root);
        let manifest = Manifest::load_checked(&dir, partition)?;
        for entry in &manifest.parts {
            let path = checked_part(&dir, entry)?;
            self.current.push(
                PartEvents::open_columns(&path, &self.filter, self.columns)?
                    .within(partition.start(), partition.end()),
            );
        }
        Ok(())
    }

    /// Takes the next event, handing it to `f` borrowed from its batch;
    /// none after the last one or an error.
    pub fn next_with<T>(
        &mut self,
        mut f: impl FnMut(EventRef<'_>) -> T,
    ) -> anyhow::Result<Option<T>> {
        if self.done {
            return Ok(None);
        }
        let next = self.next_in_order(&mut f);
        if !matches!(next, Ok(Some(_))) {
            self.done = true;
        }
        next
    }

    fn next_in_order<T>(
        &mut self,
        f: &mut impl FnMut(EventRef<'_>) -> T,
    ) -> anyhow::Result<Option<T>> {
        loop {
            // The part whose next event has the smallest (received_at, id).
            let mut best: Option<(usize, (Millis, Uuid))> = None;
            let mut i = 0;
            while i < self.current.len() {
                match self.current[i].peek_key()? {
                    None => {
                        self.current.swap_remove(i);
                        continue;
                    }
                    Some(key) => {
                        if best.is_none_or(|(_, b)| key < b) {
                            best = Some((i, key));
                        }
                    }
                }
                i += 1;
            }
            match best {
                Some((i, key)) => {
                    // Parts of one partition never share an id; should a
                    // hand-copied file repeat one, it is returned once.
                    if self.last == Some(key) {
                        self.current[i].take_row(|_| ())?;
                        continue;
                    }
                    // Parts are written sorted and checked by their SHA-256;
                    // a part that is not sorted anyway would break the
                    // merges and folds that rely on the order.
                    if let Some(last) = self.last.filter(|last| key < *last) {
                        anyhow::bail!(
                            "the archive returned event {} (received at {}) after event {} (received at {}), out of (received_at, id) order; refusing to continue",
                            key.1,
                            crate::event::format_millis(key.0),
                            last.1,
                            crate::event::format_millis(last.0)
                        );
                    }
                    self.last = Some(key);
                    return self.current[i].take_row(f);
                }
                None => {
                    let Some(partition) = self.partitions.pop() else {
                        return Ok(None);
                    };
                    self.open_partition(&partition)?;
                }
            }
        }
    }
}

impl Iterator for ArchivedEvents {
    type Item = anyhow::Result<Event>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_with(|row| row.to_event()).transpose()
    }
}

/// The row groups of `groups` that may hold one of `types` (all of them
/// when `types` is empty). A row group is skipped when the `type` column's
/// min/max statistics exclude every wanted type, or when every data page of
/// the column is dictionary-encoded and the dictionary names none of them:
/// the dictionary is then the exact set of the row group's types. These are
/// facts of the file itself, never of the manifest.
pub(super) fn row_groups_with_types(
    path: &Loc,
    meta: &ParquetMetaData,
    groups: Vec<usize>,
    types: &[String],
) -> anyhow::Result<Vec<usize>> {
    if types.is_empty() {
        return Ok(groups);
    }
    let col = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "type")
        .context("column `type` is missing")?;
    let mut file: Option<std::sync::Arc<super::location::PartFile>> = None;
    let mut kept = Vec::with_capacity(groups.len());
    for g in groups {
        let chunk = meta.row_group(g).column(col);
        if let Some(Statistics::ByteArray(s)) = chunk.statistics() {
            if let (Some(min), Some(max)) = (s.min_opt(), s.max_opt()) {
                let inside = |t: &String| {
                    let t = t.as_bytes();
                    min.data() <= t && t <= max.data()
                };
                if !types.iter().any(inside) {
                    continue;
                }
            }
        }
        let dictionary_only = chunk.dictionary_page_offset().is_some()
            && chunk.page_encoding_stats_mask().is_some_and(|mask| {
                mask.is_only(Encoding::PLAIN_DICTIONARY) || mask.is_only(Encoding::RLE_DICTIONARY)
            });
        if dictionary_only {
            let reader = match &file {
                Some(f) => f.clone(),
                None => {
                    let f = std::sync::Arc::new(path.open()?);
                    // Only the dictionary page is wanted: no block read
                    // runs on past the type column's chunk.
                    f.learn_layout(meta);
                    file = Some(f.clone());
                    f
                }
            };
            let mut pages = SerializedPageReader::new(
                reader,
                chunk,
                meta.row_group(g).num_rows() as usize,
                None,
            )?;
            if let Some(Page::DictionaryPage { buf, .. }) = pages.get_next_page()? {
                if !plain_strings(&buf)?.any(|v| types.iter().any(|t| t.as_bytes() == v)) {
                    continue;
                }
            }
        }
        kept.push(g);
    }
    Ok(kept)
}

/// The values of a PLAIN-encoded BYTE_ARRAY page (a dictionary page): each
/// a 4-byte little-endian length and its bytes.
fn plain_strings(buf: &[u8]) -> anyhow::Result<impl Iterator<Item = &[u8]>> {
    let mut values = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let len = buf
            .get(pos..pos + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
            .context("the `type` dictionary page is truncated")?;
        let value = buf
            .get(pos + 4..pos + 4 + len)
            .context("the `type` dictionary page is truncated")?;
        values.push(value);
        pos += 4 + len;
    }
    Ok(values.into_iter())
}

/// Archived events of one type in one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchivedCount {
    /// `2016-01` or `2016-01-05`.
    pub partition: String,
    pub event_type: String,
    pub count: u64,
}

/// Counts of archived events matching `filter` per partition and type. A
/// partition entirely inside the time range is counted from its manifest
/// alone (an estimate for progress and status: `verify` checks the counts
/// against the files); one cut by `since`/`until` reads just the `type`
/// and `received_at` columns of its parts. Files are not checksummed here.
pub fn archived_counts(dir: &Archive, filter: &ScanFilter) -> anyhow::Result<Vec<ArchivedCount>> {
    let mut out = Vec::new();
    for partition in partitions_for(dir, filter)? {
        let pdir = partition.dir(dir);
        let manifest = Manifest::load_checked(&pdir, &partition)?;
        let whole = filter.since.is_none_or(|s| s <= partition.start())
            && filter.until.is_none_or(|u| partition.end() <= u);
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for entry in &manifest.parts {
            if whole {
                for (t, n) in &entry.types {
                    if filter.types.is_empty() || filter.types.contains(t) {
                        *counts.entry(t.clone()).or_default() += n;
                    }
                }
            } else {
                count_part(&part_path(&pdir, entry)?, filter, &mut counts)?;
            }
        }
        out.extend(counts.into_iter().map(|(event_type, count)| ArchivedCount {
            partition: partition.name(),
            event_type,
            count,
        }));
    }
    Ok(out)
}

fn count_part(
    path: &Loc,
    filter: &ScanFilter,
    counts: &mut BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let builder = super::parquet::open_builder(path)?;
    let schema = builder.parquet_schema();
    let wanted: Vec<usize> = schema
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name() == "type" || c.name() == "received_at")
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::leaves(schema, wanted);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()?;
    for batch in reader {
        let batch = batch.with_context(|| format!("cannot read {}", path.display()))?;
        let types = batch
            .column_by_name("type")
            .and_then(|c| c.as_string_opt::<i32>())
            .with_context(|| format!("{}: no string column `type`", path.display()))?;
        let received = batch
            .column_by_name("received_at")
            .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
            .with_context(|| format!("{}: no timestamp column `received_at`", path.display()))?;
        for i in 0..batch.num_rows() {
            let r = received.value(i);
            if filter.since.is_some_and(|s| r < s) || filter.until.is_some_and(|u| r >= u) {
                continue;
            }
            let t = types.value(i);
            if !filter.types.is_empty() && !filter.types.iter().any(|x| x == t) {
                continue;
            }
            match counts.get_mut(t) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(t.to_string(), 1);
                }
            }
        }
    }
    Ok(())
}

/// What one archived partition holds, from its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionSummary {
    pub partition: String,
    pub path: String,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    /// Rows per event type, from the parts' manifest entries.
    pub types: BTreeMap<String, u64>,
}

/// Rows, files and bytes per archived partition (manifests only).
pub fn archive_summary(dir: &Archive) -> anyhow::Result<Vec<PartitionSummary>> {
    let mut out = Vec::new();
    for partition in list_partitions(dir)? {
        let pdir = partition.dir(dir);
        let manifest = Manifest::load(&pdir, &partition)?;
        out.push(PartitionSummary {
            partition: partition.name(),
            path: partition.rel_dir().display().to_string(),
            rows: manifest.rows(),
            files: manifest.parts.len() as u64,
            bytes: manifest.bytes(),
            types: manifest
                .parts
                .iter()
                .fold(BTreeMap::new(), |mut acc, part| {
                    for (t, n) in &part.types {
                        *acc.entry(t.clone()).or_insert(0) += n;
                    }
                    acc
                }),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::layout::{part_name, Granularity};
    use crate::archive::parquet::PartWriter;
    use crate::event::parse_time_bound;
    use std::path::Path;

    fn event(n: u128, received: &str, event_type: &str) -> Event {
        Event {
            id: Uuid::from_u128(n),
            service: "core".into(),
            event_type: event_type.into(),
            created_at: parse_time_bound("2016-01-01").unwrap(),
            received_at: Some(parse_time_bound(received).unwrap()),
            aggregate_id: n.is_multiple_of(2).then(|| format!("a/{n}")),
            correlation_id: None,
            payload: format!("{{\"n\":{n}}}"),
        }
    }

    fn write_part(root: &Path, seq: u32, events: &[Event]) {
        let archive = Archive::local(root);
        let partition = Partition::of(events[0].received_at.unwrap(), Granularity::Month);
        let dir = partition.dir(&archive);
        let name = part_name(seq);
        let path = dir.join(&name);
        let upload = archive.upload(path.key(), "test").unwrap();
        let mut w = PartWriter::create(upload, path.display()).unwrap();
        for e in events {
            w.push(e).unwrap();
        }
        let (written, upload) = w.finish().unwrap();
        assert!(upload.publish().unwrap());
        let files = archive.files();
        let (mut manifest, version) = Manifest::read_versioned(files, &partition).unwrap();
        let bytes = path.size().unwrap();
        manifest.parts.push(PartEntry::new(
            &name,
            bytes,
            file_sha256(&path).unwrap(),
            &written,
        ));
        manifest
            .save_if(files, &partition, version.as_ref())
            .unwrap();
    }

    /// Rewrites January's manifest through `edit`, as a hand edit would.
    fn edit_manifest(root: &Path, edit: impl Fn(&mut PartEntry)) {
        let path = root.join("year=2016/month=01/_manifest.json");
        let mut m: Manifest =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut m.parts[0]);
        std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
    }

    #[test]
    fn edited_manifest_facts_never_hide_rows() {
        let root = tempfile::tempdir().unwrap();
        write_part(
            root.path(),
            1,
            &[
                event(1, "2016-01-02T00:00:00Z", "x"),
                event(2, "2016-01-03T00:00:00Z", "y"),
            ],
        );
        // Consistent with itself, but not with the file: a time range that
        // misses the filter's window and a type that is not in the file.
        edit_manifest(root.path(), |e| {
            e.min_received_at = "2016-01-20T00:00:00.000Z".into();
            e.max_received_at = "2016-01-21T00:00:00.000Z".into();
            e.types = [("z".to_string(), 2)].into();
        });
        let filter = ScanFilter {
            types: vec!["x".into()],
            since: None,
            until: Some(parse_time_bound("2016-01-10").unwrap()),
        };
        let ids: Vec<u128> = archived_events(&Archive::local(root.path()), &filter)
            .unwrap()
            .map(|e| e.unwrap().id.as_u128())
            .collect();
        assert_eq!(ids, [1]);
        let counts = archived_counts(&Archive::local(root.path()), &filter).unwrap();
        assert_eq!(counts[0].count, 1);
    }

    #[test]
    fn entries_outside_their_folder_are_refused() {
        let root = tempfile::tempdir().unwrap();
        write_part(root.path(), 1, &[event(1, "2016-01-02T00:00:00Z", "x")]);
        write_part(root.path(), 1, &[event(2, "2016-04-02T00:00:00Z", "x")]);
        for file in ["/etc/passwd", "../month=04/part-00001.parquet"] {
            edit_manifest(root.path(), |e| e.file = file.into());
            let first = archived_events(&Archive::local(root.path()), &ScanFilter::default())
                .unwrap()
                .next()
                .unwrap();
            let message = format!("{:#}", first.unwrap_err());
            assert!(
                message.contains(&format!("entry `{file}`: not a part file")),
                "{message}"
            );
        }
        // A symlink named like a part is not followed.
        edit_manifest(root.path(), |e| e.file = "part-00002.parquet".into());
        std::os::unix::fs::symlink(
            root.path().join("year=2016/month=04/part-00001.parquet"),
            root.path().join("year=2016/month=01/part-00002.parquet"),
        )
        .unwrap();
        let first = archived_events(&Archive::local(root.path()), &ScanFilter::default())
            .unwrap()
            .next()
            .unwrap();
        let message = format!("{:#}", first.unwrap_err());
        assert!(message.contains("not a plain file"), "{message}");
    }

    #[test]
    fn merges_parts_in_order_and_filters() {
        let root = tempfile::tempdir().unwrap();
        let a = [
            event(1, "2016-01-02T00:00:00Z", "x"),
            event(3, "2016-01-05T00:00:00Z", "y"),
        ];
        let b = [
            event(2, "2016-01-03T00:00:00Z", "x"),
            event(4, "2016-01-05T00:00:00Z", "x"),
        ];
        let c = [event(5, "2016-02-01T00:00:00Z", "y")];
        write_part(root.path(), 1, &a);
        write_part(root.path(), 2, &b);
        write_part(root.path(), 1, &c);
        let all: Vec<Event> = archived_events(&Archive::local(root.path()), &ScanFilter::default())
            .unwrap()
            .collect::<anyhow::Result<_>>()
            .unwrap();
        let ids: Vec<u128> = all.iter().map(|e| e.id.as_u128()).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert_eq!(all[0], a[0]);
        assert_eq!(all[1], b[0]);

        let filter = ScanFilter {
            types: vec!["x".into()],
            since: Some(parse_time_bound("2016-01-03").unwrap()),
            until: Some(parse_time_bound("2016-02-01").unwrap()),
        };
        let ids: Vec<u128> = archived_events(&Archive::local(root.path()), &filter)
            .unwrap()
            .map(|e| e.unwrap().id.as_u128())
            .collect();
        assert_eq!(ids, [2, 4]);
        let counts = archived_counts(&Archive::local(root.path()), &filter).unwrap();
        assert_eq!(counts.len(), 1);
        assert_eq!(
            (counts[0].partition.as_str(), counts[0].count),
            ("2016-01", 2)
        );
        let all_counts =
            archived_counts(&Archive::local(root.path()), &ScanFilter::default()).unwrap();
        assert_eq!(all_counts.iter().map(|c| c.count).sum::<u64>(), 5);
        let summary = archive_summary(&Archive::local(root.path())).unwrap();
        assert_eq!(summary[0].files, 2);
        assert_eq!(summary[0].rows, 4);
    }

    #[test]
    fn row_groups_without_a_wanted_type_are_skipped() {
        use arrow_array::{ArrayRef, RecordBatch, StringArray};
        use parquet::arrow::ArrowWriter;
        use parquet::file::properties::{EnabledStatistics, WriterProperties};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("types.parquet");
        // Three row groups of two rows: {a, c}, {b, b}, {a, a}.
        let schema =
            std::sync::Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
                "type",
                arrow_schema::DataType::Utf8,
                false,
            )]));
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .set_statistics_enabled(EnabledStatistics::Page)
            .build();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            schema.clone(),
            Some(props),
        )
        .unwrap();
        let column: ArrayRef =
            std::sync::Arc::new(StringArray::from(vec!["a", "c", "b", "b", "a", "a"]));
        w.write(&RecordBatch::try_new(schema, vec![column]).unwrap())
            .unwrap();
        w.close().unwrap();
        let path = Archive::local(dir.path()).top().join("types.parquet");
        let meta = crate::archive::parquet::part_metadata(&path).unwrap();
        assert_eq!(meta.num_row_groups(), 3);
        let kept = |types: &[&str]| {
            let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
            row_groups_with_types(&path, &meta, vec![0, 1, 2], &types).unwrap()
        };
        // "b" lies between the first group's min and max: only its
        // dictionary tells that the group lacks it.
        assert_eq!(kept(&["b"]), [1]);
        assert_eq!(kept(&["a"]), [0, 2]);
        assert_eq!(kept(&["c", "b"]), [0, 1]);
        assert_eq!(kept(&["z"]), Vec::<usize>::new());
        assert_eq!(kept(&[]), [0, 1, 2]);
    }

    #[test]
    fn damaged_part_is_an_error_not_a_gap() {
        let root = tempfile::tempdir().unwrap();
        write_part(root.path(), 1, &[event(1, "2016-01-02T00:00:00Z", "x")]);
        let path = root.path().join("year=2016/month=01").join(part_name(1));
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let first = archived_events(&Archive::local(root.path()), &ScanFilter::default())
            .unwrap()
            .next()
            .unwrap();
        let message = format!("{:#}", first.unwrap_err());
        assert!(message.contains("is damaged"), "{message}");
    }
}
