//! The archive: old partitions of the live store moved to Parquet files,
//! checked by `verify` and streamed back by `replay`. This module is the
//! `archive` procedure itself; docs/archive.md explains the layout and why
//! the procedure is safe to kill at any step.
//!
//! Per partition, under a lock held in the store and the archive folder's
//! own lock ([`folder_lock`]):
//! 1. leftovers of an interrupted run are resolved (temporary files removed,
//!    renamed-but-unlisted parts verified and adopted, or discarded when the
//!    live store still holds all they contain; see [`recover`]);
//! 2. live events of the partition that the archive does not hold yet are
//!    streamed into a new part (temp file named after the run, fsync,
//!    rename that never replaces a file, fsync folder);
//! 3. the part is read back and compared row by row with what the store
//!    returned, plus row count and id digest;
//! 4. the manifest is replaced atomically, only if it is still the version
//!    the run read (compare and swap; a lost race exits 75);
//! 5. right before the delete, the manifest and the part are read again from
//!    disk ([`recheck`]); then exactly the verified ids are deleted from the
//!    live store and the delete count is checked. Live events that the
//!    archive already holds (after a crash, a `--keep-live` run or a replay)
//!    are deleted once found identical there; different ones are reported
//!    as conflicts.

pub mod archived_ids;
pub mod folder_lock;
pub mod layout;
pub mod local;
pub mod location;
pub mod manifest;
#[cfg(feature = "s3")]
pub mod object;
pub mod parquet;
pub mod read;
mod recheck;
mod recover;
pub mod replay;
pub mod root;
pub mod verify;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::time::Instant;

use serde::Serialize;
use uuid::Uuid;

use crate::cancel::{self, Interrupted, Stop};
use crate::event::{format_millis, now_millis, ContentHash, Event, Millis};
use crate::exit::LostRaceError;
use crate::fault::fault;
use crate::progress::{Progress, Unit};
use crate::store::lock::{hostname, StoreLock, LOCK_TTL_MS};
use crate::store::{ArchivedBatch, ArchivedId, ScanCursor, ScanFilter, Store};
use folder_lock::FolderLock;
use layout::{part_files_on_disk, part_name, part_seq, Granularity, Partition};
use location::{Archive, Dir, Version};
use manifest::{Manifest, PartEntry};
use parquet::{file_sha256, ids_digest, PartEvents, PartWriter};
use recheck::QueuedPart;

/// Name of the store lock that keeps archive runs apart.
pub const LOCK_NAME: &str = "archive";
/// Live events fetched per store round trip.
pub const PAGE: usize = 10_000;
/// Rows per part file. Bounds memory (the writer keeps 24 bytes per row for
/// verification and the delete step) and the cost of re-doing a part.
pub const MAX_PART_ROWS: u64 = 2_000_000;

#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    pub root: Archive,
    /// Only partitions entirely before this instant are archived.
    pub before: Millis,
    /// ... and entirely before now minus this lag.
    pub lag_ms: i64,
    pub granularity: Granularity,
    pub dry_run: bool,
    pub keep_live: bool,
    /// Count the live events first so that progress shows a total (one
    /// extra pass over the store's month counts); off when nobody watches.
    pub count_total: bool,
    /// Part size and delete queue; [`ArchiveLimits::default`] but in tests.
    pub limits: ArchiveLimits,
}

/// The sizes that bound an archive run's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Rows per part file ([`MAX_PART_ROWS`]).
    pub part_rows: u64,
    /// Ids queued before the delete ([`DELETE_BATCH`]).
    pub delete_batch: usize,
}

impl Default for ArchiveLimits {
    fn default() -> ArchiveLimits {
        ArchiveLimits {
            part_rows: MAX_PART_ROWS,
            delete_batch: DELETE_BATCH,
        }
    }
}

/// What happened to one partition.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PartitionReport {
    pub partition: String,
    pub path: String,
    /// Live events of the partition when it was scanned.
    pub live: u64,
    /// Events written into new part files.
    pub archived: u64,
    /// Live events the archive already held identically.
    pub already_archived: u64,
    /// Live events the archive holds with other content (left live).
    pub conflicts: u64,
    /// Events queued for deletion from the live store (deleted in one
    /// transaction with other partitions'; the run's `deleted` is the count
    /// the store reported).
    pub deleted: u64,
    pub new_files: Vec<String>,
    pub adopted_files: Vec<String>,
    pub discarded_files: Vec<String>,
    /// Dry run: live events per type.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub per_type: BTreeMap<String, u64>,
    /// Dry run: estimated size of the new part files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_bytes: Option<u64>,
}

/// A live event whose id the archive holds with other content.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveConflict {
    pub partition: String,
    pub id: String,
    pub live: String,
    pub archived: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ArchiveReport {
    pub archive: String,
    pub store: String,
    pub dry_run: bool,
    pub keep_live: bool,
    /// Partitions entirely before this instant were eligible.
    pub cutoff: String,
    pub partitions: Vec<PartitionReport>,
    pub archived: u64,
    pub already_archived: u64,
    pub conflicts: u64,
    pub deleted: u64,
    pub bytes_written: u64,
    /// Archived-id records written or removed to make the store's records
    /// match the archive (the upgrade of a store written before they
    /// existed; 0 once upgraded).
    pub records_upgraded: u64,
    /// Things that went wrong without stopping the run (exit 1).
    pub problems: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflict_samples: Vec<ArchiveConflict>,
    pub elapsed_s: f64,
    pub events_per_s: f64,
    /// Set when a signal stopped the run: the partitions listed are done,
    /// the one it was working on is left as it was (live).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interrupted>,
    /// Verified and listed ids not deleted from live yet.
    #[serde(skip)]
    pending: PendingDeletes,
}

/// Ids whose archiving is complete (verified part, manifest saved), queued
/// so that the live store deletes many partitions' ids in one transaction:
/// in a store whose rows of one month are scattered over the whole table,
/// one delete per partition would rewrite most pages once per partition.
/// Delaying a delete is always safe: a run killed before it leaves events
/// both archived and live, which the next run deletes. 32 bytes per id: the
/// partition is named once per part, not per id.
#[derive(Debug, Clone, Default)]
struct PendingDeletes {
    ids: Vec<Uuid>,
    /// The content hash of each queued id (same order), for its
    /// archived-id record, written in the same transaction as the delete.
    hashes: Vec<ContentHash>,
    partitions: Vec<String>,
    /// Which listed part holds which slice of `ids`, for the re-check
    /// right before the delete.
    parts: Vec<QueuedPart>,
}

impl PendingDeletes {
    /// Keeps the parts that passed the re-check (`safe`, one flag per
    /// part). All of them, normally: then nothing is copied.
    fn retain_parts(&mut self, safe: &[bool]) {
        if safe.iter().all(|ok| *ok) {
            return;
        }
        let mut kept = PendingDeletes {
            partitions: std::mem::take(&mut self.partitions),
            ..Default::default()
        };
        for (part, _) in self.parts.iter().zip(safe).filter(|(_, ok)| **ok) {
            let start = kept.ids.len();
            kept.ids.extend_from_slice(&self.ids[part.ids.clone()]);
            kept.hashes
                .extend_from_slice(&self.hashes[part.ids.clone()]);
            kept.parts.push(QueuedPart {
                ids: start..kept.ids.len(),
                ..part.clone()
            });
        }
        *self = kept;
    }

    /// Each part's slice of the ids and its partition's name.
    fn slices(&self) -> Vec<(Range<usize>, String)> {
        self.parts
            .iter()
            .map(|part| (part.ids.clone(), part.partition.name()))
            .collect()
    }

    /// Drops ids pushed after `len` (a part that was not listed after all).
    fn truncate(&mut self, len: usize) {
        self.ids.truncate(len);
        self.hashes.truncate(len);
    }
}

/// Ids queued before the live store is asked to delete them. With
/// [`MAX_PART_ROWS`], this bounds the queue (32 bytes an id) whatever the
/// partitions' sizes: a partition of many parts is flushed between parts.
const DELETE_BATCH: usize = 1_000_000;

/// Registers the ids pushed onto the queue since `start` as those of one
/// listed part (`entry`, of partition `p` in `dir`): they are recorded as
/// archived and, unless `--keep-live`, deleted from live.
fn queue_part(
    report: &mut ArchiveReport,
    p: &Partition,
    dir: &Dir,
    entry: &PartEntry,
    start: usize,
) {
    let pending = &mut report.pending;
    pending.parts.push(QueuedPart {
        partition: *p,
        dir: dir.clone(),
        file: entry.file.clone(),
        sha256: entry.sha256.clone(),
        ids: start..pending.ids.len(),
    });
    let name = p.name();
    if pending.partitions.last() != Some(&name) {
        pending.partitions.push(name);
    }
}

/// Queues `records` (all of one listed part) as [`queue_part`] does.
fn queue_delete(
    report: &mut ArchiveReport,
    p: &Partition,
    dir: &Dir,
    entry: &PartEntry,
    records: &[ArchivedId],
) {
    let start = report.pending.ids.len();
    report.pending.ids.extend(records.iter().map(|r| r.id));
    report.pending.hashes.extend(records.iter().map(|r| r.hash));
    queue_part(report, p, dir, entry, start);
}

/// Records the queued ids as archived and (unless `--keep-live`) deletes
/// exactly those from live, in one store transaction, and checks the
/// count, once this run has
/// confirmed that it still holds the archive folder's lock and every part
/// holding them has been read again from disk: still listed with the same
/// SHA-256, still that SHA-256, still holding each id. The ids of a part
/// that fails the re-check stay live, and the run fails naming the part.
/// The store shows the delete phase's progress on `progress`.
fn flush_deletes(
    store: &mut dyn Store,
    folder: Option<&mut FolderLock<'_>>,
    report: &mut ArchiveReport,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let mut pending = std::mem::take(&mut report.pending);
    if pending.ids.is_empty() {
        return Ok(());
    }
    if let Some(folder) = folder {
        folder.confirm()?;
    }
    let (safe, failed) = recheck::recheck(&pending.ids, &pending.parts);
    fault("before-delete");
    pending.retain_parts(&safe);
    let slices = pending.slices();
    let batch = ArchivedBatch {
        ids: &pending.ids,
        hashes: &pending.hashes,
        partitions: &slices,
    };
    let delete_live = !report.keep_live;
    let deleted = if batch.is_empty() {
        0
    } else {
        store.put_archived_batch(&batch, delete_live, progress)?
    };
    fault("after-delete");
    report.deleted += deleted;
    if delete_live && deleted != batch.len() {
        report.problems.push(format!(
            "deleted {deleted} live events for {} archived ones of partitions {}; the others were no longer live",
            batch.len(),
            pending.partitions.join(", ")
        ));
    }
    anyhow::ensure!(failed.is_empty(), "{}", failed.join("\n"));
    Ok(())
}

/// Conflicts kept in the report; the rest are only counted.
const CONFLICT_SAMPLES: usize = 100;

/// 64-bit fingerprint of an event's stored form. Used to check that what was
/// written reads back identically, and that a live event equals its
/// archived copy (then `received_at` is left out, as in
/// [`Event::same_content`]).
fn fingerprint(event: &Event, with_received_at: bool) -> u64 {
    fingerprint_row(
        &parquet::RowRef {
            id: event.id,
            service: &event.service,
            event_type: &event.event_type,
            created_at: event.created_at,
            received_at: event.received_at.unwrap_or_default(),
            aggregate_id: event.aggregate_id.as_deref(),
            correlation_id: event.correlation_id.as_deref(),
            payload: &event.payload,
        },
        with_received_at,
    )
}

fn fingerprint_row(row: &parquet::RowRef<'_>, with_received_at: bool) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    row.id.hash(&mut h);
    row.service.hash(&mut h);
    row.event_type.hash(&mut h);
    row.created_at.hash(&mut h);
    row.aggregate_id.hash(&mut h);
    row.correlation_id.hash(&mut h);
    row.payload.hash(&mut h);
    if with_received_at {
        row.received_at.hash(&mut h);
    }
    h.finish()
}

/// Runs `work` holding the archive's locks, in the store and in the folder
/// (for `verify --repair`, which writes archived-id records as an archive
/// run does).
pub fn with_archive_lock<T>(
    store: &mut dyn Store,
    root: &Archive,
    work: impl FnOnce(&mut dyn Store) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let run = Uuid::new_v4().simple().to_string()[..12].to_string();
    let holder = format!(
        "chronicle verify --repair pid {} on {} (run {run})",
        std::process::id(),
        hostname()
    );
    let what = format!("archiving in {}", store.describe());
    // Released when dropped, also when the folder lock is refused.
    let _lock = StoreLock::acquire(store.reopen()?, LOCK_NAME, &holder, &what)?;
    let folder = FolderLock::take(root.files(), &holder, &run, LOCK_TTL_MS)?;
    let result = work(store);
    // A failed release only delays the next run until the lock expires.
    let _ = folder.release();
    result
}

/// The last instant whose partition may be archived: partitions must end
/// at or before both `before` and now minus the lag.
pub fn effective_cutoff(options: &ArchiveOptions) -> Millis {
    options.before.min(now_millis() - options.lag_ms)
}

/// Runs the archive procedure (or, with `dry_run`, only reports what it
/// would do).
pub fn archive(
    store: &mut dyn Store,
    options: &ArchiveOptions,
    progress: &dyn Progress,
) -> anyhow::Result<ArchiveReport> {
    let started = Instant::now();
    let cutoff = effective_cutoff(options);
    // Events received before `bound` lie in partitions that end by the cutoff.
    let bound = Partition::of(cutoff, options.granularity).start();
    let mut report = ArchiveReport {
        archive: options.root.to_string(),
        store: store.describe(),
        dry_run: options.dry_run,
        keep_live: options.keep_live,
        cutoff: format_millis(bound),
        ..Default::default()
    };
    check_granularity(&options.root, options.granularity)?;
    // One run id names the run in both locks and in its temporary files.
    let run = Uuid::new_v4().simple().to_string()[..12].to_string();
    let holder = format!(
        "chronicle archive pid {} on {} (run {run})",
        std::process::id(),
        hostname()
    );
    let (mut lock, mut folder) = if options.dry_run {
        (None, None)
    } else {
        let what = format!("archiving in {}", store.describe());
        // Released when dropped, also when the folder lock is refused.
        let lock = StoreLock::acquire(store.reopen()?, LOCK_NAME, &holder, &what)?;
        let folder = FolderLock::take(options.root.files(), &holder, &run, LOCK_TTL_MS)?;
        (Some(lock), Some(folder))
    };
    fault("after-lock");
    let mut result = if options.dry_run {
        Ok(())
    } else {
        archived_ids::upgrade_records(&options.root, store, &mut report.problems)
            .map(|n| report.records_upgraded = n)
    };
    if result.is_ok() {
        result = run_partitions(
            store,
            options,
            bound,
            &mut lock,
            &mut folder,
            &mut report,
            progress,
        );
    }
    // An interrupt ends the run like its end would, after the last part
    // that was done.
    report.interrupted = result.as_ref().err().and_then(cancel::interruption);
    if report.interrupted.is_some() {
        result = Ok(());
    }
    // Also after a failure: the queued ids belong to verified, listed parts
    // (and are checked again before the delete). Not after a lost race.
    let lost_race = result
        .as_ref()
        .is_err_and(|e| e.chain().any(|c| c.is::<LostRaceError>()));
    if !lost_race {
        let flushed = flush_deletes(store, folder.as_mut(), &mut report, progress);
        if result.is_ok() {
            result = flushed;
        }
    }
    if let Some(folder) = folder {
        // A failed release only delays the next run until the lock expires.
        let _ = folder.release();
    }
    drop(lock);
    result?;
    let elapsed = started.elapsed().as_secs_f64();
    report.elapsed_s = (elapsed * 1000.0).round() / 1000.0;
    let handled = report.archived + report.already_archived;
    report.events_per_s = if elapsed > 0.0 {
        (handled as f64 / elapsed).round()
    } else {
        0.0
    };
    Ok(report)
}

/// Live events received before `bound`: the progress total, which must be
/// exactly what the run goes through. Whole months come from the store's
/// month counts; the days of a month before a daily bound are counted by
/// a scan of that month alone.
fn live_before(store: &mut dyn Store, bound: Millis) -> anyhow::Result<u64> {
    let month = Partition::of(bound, Granularity::Month);
    let month_name = month.name();
    let mut total: u64 = store
        .month_counts()?
        .iter()
        .filter(|m| m.month < month_name)
        .map(|m| m.count)
        .sum();
    if month.start() < bound {
        let filter = ScanFilter {
            types: vec![],
            since: Some(month.start()),
            until: Some(bound),
        };
        total += crate::store::scan_all(store, &filter, PAGE, |_| Ok(()))?;
    }
    Ok(total)
}

/// Refuses to mix monthly and daily partitions in one archive folder:
/// readers could no longer rely on one folder per time range.
fn check_granularity(root: &Archive, granularity: Granularity) -> anyhow::Result<()> {
    if let Some(other) = layout::list_partitions(root)?
        .into_iter()
        .find(|p| p.granularity() != granularity)
    {
        anyhow::bail!(
            "archive {} already holds {:?} partitions (e.g. {}); use the same --partition for every run",
            root,
            other.granularity(),
            other.rel_dir().display()
        );
    }
    Ok(())
}

fn run_partitions(
    store: &mut dyn Store,
    options: &ArchiveOptions,
    bound: Millis,
    lock: &mut Option<StoreLock>,
    folder: &mut Option<FolderLock<'_>>,
    report: &mut ArchiveReport,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let total = if options.count_total {
        Some(live_before(store, bound)?)
    } else {
        None
    };
    progress.start(
        if options.dry_run {
            "scanning"
        } else {
            "archiving"
        },
        total,
        Unit::Events,
    );
    let mut done = 0u64;
    // Rows and bytes archived so far, for the dry run's size estimate.
    let archived_size = if options.dry_run {
        read::archive_summary(&options.root)?
            .iter()
            .fold((0u64, 0u64), |(r, b), s| (r + s.rows, b + s.bytes))
    } else {
        (0, 0)
    };
    // Partitions that the archive holds leftovers in are visited even when
    // no live event remains in them.
    let mut pending: Vec<Partition> = layout::list_partitions(&options.root)?
        .into_iter()
        .filter(|p| p.end() <= bound)
        .collect();
    let mut since: Option<Millis> = None;
    loop {
        cancel::check()?;
        // Skip-scan: the next live event below the bound names the next
        // partition with live events.
        let next_live = store
            .scan_page(
                &ScanFilter {
                    types: vec![],
                    since,
                    until: Some(bound),
                },
                None,
                1,
            )?
            .into_iter()
            .next()
            .map(|e| Partition::of(e.received_at.unwrap_or_default(), options.granularity));
        // Archive partitions before it that only need their leftovers checked.
        while let Some(p) = pending.first().copied() {
            if next_live.is_some_and(|n| p >= n) {
                break;
            }
            pending.remove(0);
            if let Some(folder) = folder.as_mut() {
                if recover::has_leftovers(&options.root, &p)? {
                    let mut pr = new_partition_report(&options.root, &p);
                    recover::recover_leftovers(store, folder, &options.root, &p, &mut pr, report)?;
                    report.partitions.push(pr);
                }
            }
        }
        let Some(partition) = next_live else { break };
        pending.retain(|p| *p != partition);
        let pr = if options.dry_run {
            dry_run_partition(store, &options.root, &partition, archived_size)?
        } else {
            let lock = lock.as_mut().expect("a real run holds the lock");
            let folder = folder.as_mut().expect("a real run holds the folder lock");
            lock.renew()?;
            let bar = Bar {
                progress,
                total,
                done_before: done,
            };
            archive_partition(store, options, &partition, lock, folder, report, &bar)?
        };
        done += pr.live;
        progress.set_position(done);
        report.archived += pr.archived;
        report.already_archived += pr.already_archived;
        report.conflicts += pr.conflicts;
        report.partitions.push(pr);
        since = Some(partition.end());
    }
    progress.finish();
    Ok(())
}

fn new_partition_report(root: &Archive, p: &Partition) -> PartitionReport {
    PartitionReport {
        partition: p.name(),
        path: p.dir(root).to_string(),
        ..Default::default()
    }
}

fn partition_filter(p: &Partition) -> ScanFilter {
    ScanFilter {
        types: vec![],
        since: Some(p.start()),
        until: Some(p.end()),
    }
}

/// Counts live events of a partition and estimates their archived size
/// from the bytes per row of the existing archive (or a typical ratio).
fn dry_run_partition(
    store: &mut dyn Store,
    root: &Archive,
    p: &Partition,
    (rows, bytes): (u64, u64),
) -> anyhow::Result<PartitionReport> {
    let mut pr = new_partition_report(root, p);
    let mut raw_bytes = 0u64;
    let mut cursor: Option<ScanCursor> = None;
    loop {
        let page = store.scan_page(&partition_filter(p), cursor.as_ref(), PAGE)?;
        let full = page.len() == PAGE;
        for e in &page {
            pr.live += 1;
            raw_bytes += (e.payload.len()
                + e.service.len()
                + e.event_type.len()
                + e.aggregate_id.as_ref().map_or(0, |s| s.len())
                + e.correlation_id.as_ref().map_or(0, |s| s.len())
                + 52) as u64;
            *pr.per_type.entry(e.event_type.clone()).or_default() += 1;
        }
        if let Some(last) = page.last() {
            cursor = Some((last.received_at.unwrap_or_default(), last.id));
        }
        if !full {
            break;
        }
    }
    // Without an archive to learn from: zstd on typical event rows gives
    // about a fifth of the raw size.
    pr.estimated_bytes = Some((pr.live * bytes).checked_div(rows).unwrap_or(raw_bytes / 5));
    Ok(pr)
}

/// A part being written (streamed to a temporary file or object): its
/// final name and, per row, the fingerprint of the event as the store
/// returned it.
struct OpenPart {
    writer: PartWriter,
    name: String,
    fingerprints: Vec<u64>,
}

/// One partition being archived: its folder, the archive folder's lock,
/// and its manifest as this run last read or wrote it, with the version the
/// next compare and swap expects.
struct PartitionWrite<'f, 'a> {
    p: Partition,
    dir: Dir,
    folder: &'f mut FolderLock<'a>,
    manifest: Manifest,
    version: Option<Version>,
}

/// The run's progress bar: its total and the events of the partitions
/// done before this one.
struct Bar<'p> {
    progress: &'p dyn Progress,
    total: Option<u64>,
    done_before: u64,
}

impl Bar<'_> {
    /// Shows the archiving bar again after a delete phase between parts.
    fn resume(&self, position: u64) {
        self.progress.start("archiving", self.total, Unit::Events);
        self.progress.set_position(self.done_before + position);
    }
}

#[allow(clippy::too_many_arguments)]
fn archive_partition(
    store: &mut dyn Store,
    options: &ArchiveOptions,
    p: &Partition,
    lock: &mut StoreLock,
    folder: &mut FolderLock<'_>,
    report: &mut ArchiveReport,
    bar: &Bar<'_>,
) -> anyhow::Result<PartitionReport> {
    let (progress, done_before) = (bar.progress, bar.done_before);
    let mut pr = new_partition_report(&options.root, p);
    let dir = p.dir(&options.root);
    let (manifest, version) =
        recover::recover_leftovers(store, folder, &options.root, p, &mut pr, report)?;
    let listed = recover::listed_ids(&dir, &manifest)?;
    let old_parts: Vec<PartEntry> = manifest.parts.clone();
    let run = folder.run().to_string();
    let mut w = PartitionWrite {
        p: *p,
        dir: dir.clone(),
        folder,
        manifest,
        version,
    };
    // Live events whose id the archive already holds: fingerprint to compare.
    let mut already: HashMap<Uuid, u64> = HashMap::new();
    let mut next_seq = w
        .manifest
        .parts
        .iter()
        .filter_map(|e| part_seq(&e.file))
        .chain(part_files_on_disk(&dir)?.iter().filter_map(|f| part_seq(f)))
        .max()
        .unwrap_or(0)
        + 1;
    // A scanner thread pages through the store while this thread encodes
    // Parquet: the two take about the same time on large partitions.
    let filter = partition_filter(p);
    // Live events whose id is recorded as archived in another partition
    // (an old re-import, a MongoDB import racing a run): never written
    // twice, settled after the scan. Id -> (fingerprint, record).
    let mut elsewhere: HashMap<Uuid, (u64, ArchivedId)> = HashMap::new();
    let filter = &filter;
    // Where the scan goes on after a pause: a partition too large to queue
    // whole stops its scan between two parts, deletes what is queued (with
    // nothing else using the store) and goes on after the last event it
    // took. Memory then stays bounded whatever the partition's size.
    let mut resume: Option<ScanCursor> = None;
    loop {
        let scan_store = &mut *store;
        let scan_lock = &mut *lock;
        let start = resume.take();
        let paused = cancel::pipeline(
            "store scanner",
            2,
            &Stop::new(),
            move |pages| {
                let mut cursor = start;
                loop {
                    let page = scan_store.scan_page(filter, cursor.as_ref(), PAGE)?;
                    let full = page.len() == PAGE;
                    if let Some(last) = page.last() {
                        cursor = Some((last.received_at.unwrap_or_default(), last.id));
                    }
                    scan_lock.renew()?;
                    let ids: Vec<Uuid> = page.iter().map(|e| e.id).collect();
                    let records: HashMap<Uuid, ArchivedId> = scan_store
                        .get_archived(&ids)?
                        .into_iter()
                        .map(|r| (r.id, r))
                        .collect();
                    // A gone consumer failed, was interrupted, or paused.
                    if pages.send((page, records)).is_err() || !full {
                        return Ok(());
                    }
                }
            },
            |pages| {
                let mut open: Option<OpenPart> = None;
                let written = (|| -> anyhow::Result<Option<ScanCursor>> {
                    for page in pages {
                        let (page, mut records) = page?;
                        w.folder.renew()?;
                        for event in page {
                            pr.live += 1;
                            let at = (event.received_at.unwrap_or_default(), event.id);
                            if listed.binary_search(&event.id).is_ok() {
                                already.insert(event.id, fingerprint(&event, false));
                                continue;
                            }
                            if let Some(record) = records.remove(&event.id) {
                                elsewhere.insert(event.id, (fingerprint(&event, false), record));
                                continue;
                            }
                            if open.is_none() {
                                let name = part_name(next_seq);
                                next_seq += 1;
                                let upload = options.root.upload(&dir.key(&name), &run)?;
                                open = Some(OpenPart {
                                    writer: PartWriter::create(upload, dir.join(&name).display())?,
                                    name,
                                    fingerprints: Vec::new(),
                                });
                            }
                            let part = open.as_mut().expect("opened above");
                            part.writer.push(&event)?;
                            part.fingerprints.push(fingerprint(&event, true));
                            if part.writer.rows() == 1 {
                                fault("mid-write");
                            }
                            if part.writer.rows() >= options.limits.part_rows {
                                let part = open.take().expect("open");
                                commit_part(options, &mut w, part, &mut pr, report)?;
                                if report.pending.ids.len() >= options.limits.delete_batch {
                                    progress.set_position(done_before + pr.live);
                                    return Ok(Some(at));
                                }
                            }
                        }
                        progress.set_position(done_before + pr.live);
                    }
                    if let Some(part) = open.take() {
                        commit_part(options, &mut w, part, &mut pr, report)?;
                    }
                    Ok(None)
                })();
                if let Some(part) = open.take().filter(|_| written.is_err()) {
                    // Stopped mid-part (a failure or an interrupt): the part was
                    // never listed, so its temporary file is only clutter.
                    part.writer.abandon();
                }
                written
            },
        )?;
        let Some(at) = paused else { break };
        flush_deletes(store, Some(&mut *w.folder), report, progress)?;
        bar.resume(pr.live);
        resume = Some(at);
    }
    if !already.is_empty() {
        settle_already_archived(
            store, options, p, &dir, &old_parts, already, &mut pr, report,
        )?;
    }
    if !elsewhere.is_empty() {
        settle_archived_elsewhere(store, options, elsewhere, &mut pr, report)?;
    }
    if report.pending.ids.len() >= options.limits.delete_batch {
        flush_deletes(store, Some(folder), report, progress)?;
        bar.resume(pr.live);
    }
    Ok(pr)
}

/// Steps 2 to 5 for one part: move into place (never over another file),
/// read back and verify, list in the manifest by compare and swap, queue
/// the verified ids for the delete.
fn commit_part(
    options: &ArchiveOptions,
    w: &mut PartitionWrite<'_, '_>,
    part: OpenPart,
    pr: &mut PartitionReport,
    report: &mut ArchiveReport,
) -> anyhow::Result<()> {
    let (written, upload) = part.writer.finish()?;
    let path = w.dir.join(&part.name);
    if !upload.publish()? {
        return Err(LostRaceError(format!(
            "{} appeared while this run was writing it: another writer is using the archive folder; this run stopped without replacing it (the events stay live)",
            path.display()
        ))
        .into());
    }
    fault("after-rename");

    // From here on the part's ids and hashes go onto the delete queue as
    // they are read back; they are taken off again unless it is listed.
    let start = report.pending.ids.len();
    let listed = verify_and_list(
        options,
        w,
        (&part.name, &part.fingerprints),
        &path,
        &written,
        pr,
        report,
    );
    match listed {
        Ok(entry) => {
            queue_part(report, &w.p, &w.dir, &entry, start);
            Ok(())
        }
        Err(e) => {
            report.pending.truncate(start);
            Err(e)
        }
    }
}

/// Steps 3 and 4 for one published part: reads it back (pushing each id
/// and the content hash of its archived-id record onto the delete queue),
/// checks it against what was written, and lists it in the manifest.
fn verify_and_list(
    options: &ArchiveOptions,
    w: &mut PartitionWrite<'_, '_>,
    (name, fingerprints): (&str, &[u64]),
    path: &location::Loc,
    written: &parquet::WrittenPart,
    pr: &mut PartitionReport,
    report: &mut ArchiveReport,
) -> anyhow::Result<PartEntry> {
    // Read back: same rows, same order, same content as the store returned.
    let start = report.pending.ids.len();
    let pending = &mut report.pending;
    let mut rows = 0usize;
    parquet::for_each_row(path, |row| {
        anyhow::ensure!(
            fingerprints.get(rows) == Some(&fingerprint_row(&row, true)),
            "{} does not read back as written (row {rows}, id {}); it is left unlisted and the next run discards it",
            path.display(),
            row.id
        );
        pending.ids.push(row.id);
        // The archived-id record comes from the row as read back, so the
        // store records exactly what the archive holds.
        pending.hashes.push(archived_ids::hash_of_row(&row));
        rows += 1;
        Ok(())
    })?;
    anyhow::ensure!(
        rows == fingerprints.len() && rows as u64 == written.rows,
        "{} reads back {rows} rows, {} were written",
        path.display(),
        written.rows
    );
    let mut read_ids = pending.ids[start..].to_vec();
    read_ids.sort_unstable();
    anyhow::ensure!(
        ids_digest(&read_ids) == written.ids_digest,
        "{}: the id digest read back differs from the one written",
        path.display()
    );
    drop(read_ids);
    let sha256 = file_sha256(path)?;
    let bytes = path.size()?;
    w.folder.confirm()?;
    fault("after-verify");

    let entry = PartEntry::new(name, bytes, sha256, written);
    w.manifest.parts.push(entry.clone());
    w.version = Some(
        w.manifest
            .save_if(w.folder.files(), &w.p, w.version.as_ref())?,
    );
    fault("after-manifest");
    pr.archived += written.rows;
    pr.new_files.push(name.to_string());
    report.bytes_written += bytes;

    if !options.keep_live {
        pr.deleted += rows as u64;
    }
    Ok(entry)
}

/// Live events whose ids the partition's listed parts already hold: delete
/// those found identical there, report the others as conflicts.
#[allow(clippy::too_many_arguments)]
fn settle_already_archived(
    store: &mut dyn Store,
    options: &ArchiveOptions,
    p: &Partition,
    dir: &Dir,
    parts: &[PartEntry],
    mut already: HashMap<Uuid, u64>,
    pr: &mut PartitionReport,
    report: &mut ArchiveReport,
) -> anyhow::Result<()> {
    for entry in parts {
        let path = read::check_sha256(dir, entry)?;
        let mut identical = Vec::new();
        for archived in PartEvents::open(&path, &ScanFilter::default())? {
            let archived = archived?;
            let Some(fp) = already.remove(&archived.id) else {
                continue;
            };
            if fp == fingerprint(&archived, false) {
                identical.push(ArchivedId::of(&archived, &p.name()));
            } else {
                pr.conflicts += 1;
                if report.conflict_samples.len() < CONFLICT_SAMPLES {
                    let live = store.get_many(&[archived.id])?;
                    report.conflict_samples.push(ArchiveConflict {
                        partition: p.name(),
                        id: archived.id.to_string(),
                        live: live.first().map(|e| e.to_json_line()).unwrap_or_default(),
                        archived: archived.to_json_line(),
                    });
                }
            }
        }
        pr.already_archived += identical.len() as u64;
        if !options.keep_live {
            pr.deleted += identical.len() as u64;
        }
        if !identical.is_empty() {
            queue_delete(report, p, dir, entry, &identical);
        }
    }
    anyhow::ensure!(
        already.is_empty(),
        "{}: {} ids listed in the archive were not found in its parts",
        dir.display(),
        already.len()
    );
    if pr.conflicts > 0 {
        report.problems.push(format!(
            "{}: {} live events differ from their archived copies; they stay live",
            p.name(),
            pr.conflicts
        ));
    }
    Ok(())
}

/// Live events whose id a record places in another partition: identical to
/// the version read from that partition → recorded and deleted as already
/// archived; different → a conflict, left live; not found there (a record
/// the archive does not back) → left live and reported. Reads each named
/// partition once; such events only exist in stores written before
/// archived-id records, or after a MongoDB import raced an archive run.
fn settle_archived_elsewhere(
    store: &mut dyn Store,
    options: &ArchiveOptions,
    elsewhere: HashMap<Uuid, (u64, ArchivedId)>,
    pr: &mut PartitionReport,
    report: &mut ArchiveReport,
) -> anyhow::Result<()> {
    let wanted: Vec<(Uuid, String)> = elsewhere
        .iter()
        .map(|(id, (_, r))| (*id, r.partition.clone()))
        .collect();
    let versions = archived_ids::archived_versions(&options.root, &wanted)?;
    // Identical ones, grouped by the part that holds them (the re-check
    // before the delete reads that part again).
    let mut identical: BTreeMap<(Partition, String), (Dir, PartEntry, Vec<ArchivedId>)> =
        BTreeMap::new();
    let mut unbacked = Vec::new();
    let mut conflicts = 0u64;
    for (id, (fp, record)) in elsewhere {
        match versions.get(&id) {
            Some(found) if fingerprint(&found.event, false) == fp => {
                let key = (found.partition, found.entry.file.clone());
                identical
                    .entry(key)
                    .or_insert_with(|| (found.dir.clone(), found.entry.clone(), Vec::new()))
                    .2
                    .push(ArchivedId::of(&found.event, &record.partition));
            }
            Some(found) => {
                let archived = &found.event;
                conflicts += 1;
                if report.conflict_samples.len() < CONFLICT_SAMPLES {
                    let live = store.get_many(&[id])?;
                    report.conflict_samples.push(ArchiveConflict {
                        partition: record.partition.clone(),
                        id: id.to_string(),
                        live: live.first().map(|e| e.to_json_line()).unwrap_or_default(),
                        archived: archived.to_json_line(),
                    });
                }
            }
            None => unbacked.push(format!("{id} ({})", record.partition)),
        }
    }
    if conflicts > 0 {
        pr.conflicts += conflicts;
        report.problems.push(format!(
            "{}: {conflicts} live events differ from their copies archived in other partitions; they stay live",
            pr.partition
        ));
    }
    if !unbacked.is_empty() {
        unbacked.sort();
        report.problems.push(format!(
            "{}: {} live events have archived-id records that the archive does not back (e.g. {}); left live, run `chronicle verify --repair`",
            pr.partition,
            unbacked.len(),
            unbacked.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let settled: u64 = identical.values().map(|(_, _, r)| r.len() as u64).sum();
    pr.already_archived += settled;
    if !options.keep_live {
        pr.deleted += settled;
    }
    for ((p, _), (dir, entry, records)) in identical {
        queue_delete(report, &p, &dir, &entry, &records);
    }
    Ok(())
}

/// Parses a duration such as `90d`, `12h`, `30m`, `45s`, `2w` or `0`.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(0);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits.parse().map_err(|_| {
        format!("`{text}` is not a duration (expected e.g. 90d, 12h, 30m, 45s or 2w)")
    })?;
    let unit_ms = match unit {
        "w" => 7 * 86_400_000,
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1_000,
        _ => {
            return Err(format!(
                "`{text}` is not a duration (expected e.g. 90d, 12h, 30m, 45s or 2w)"
            ))
        }
    };
    n.checked_mul(unit_ms)
        .ok_or_else(|| format!("`{text}` is too long a duration"))
}

/// Parses `--before`: an instant (RFC 3339 or a date, UTC) or an age such as
/// `90d`, meaning that long before now.
pub fn parse_before(text: &str) -> Result<Millis, String> {
    if text.trim().ends_with(|c: char| c.is_ascii_alphabetic()) && !text.contains('-') {
        return parse_duration_ms(text).map(|age| now_millis() - age);
    }
    crate::event::parse_time_bound(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_ages() {
        assert_eq!(parse_duration_ms("90d"), Ok(90 * 86_400_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_duration_ms("0"), Ok(0));
        assert!(parse_duration_ms("1y").is_err());
        let age = now_millis() - parse_before("2d").unwrap();
        assert!((2 * 86_400_000..2 * 86_400_000 + 60_000).contains(&age));
        assert_eq!(
            parse_before("2016-02-01").unwrap(),
            crate::event::parse_time_bound("2016-02-01").unwrap()
        );
    }
}
