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
#[cfg(feature = "s3")]
pub mod aws_profile;
mod delete;
pub mod folder_lock;
pub mod layout;
pub mod local;
pub mod location;
pub mod manifest;
#[cfg(feature = "s3")]
mod multipart;
#[cfg(feature = "s3")]
pub mod object;
mod options;
pub mod parquet;
pub mod read;
mod recheck;
mod recover;
pub mod replay;
pub mod root;
pub mod verify;

use std::collections::HashMap;
use std::time::Instant;

use uuid::Uuid;

use crate::cancel::{self, Stop};
use crate::event::{format_millis, now_millis, Millis};
use crate::exit::LostRaceError;
use crate::fault::fault;
use crate::progress::{Progress, Unit};
use crate::store::lock::{hostname, StoreLock, LOCK_TTL_MS};
use crate::store::{ArchivedId, ScanCursor, ScanFilter, Store};
use delete::{
    fingerprint, fingerprint_row, flush_deletes, queue_part, settle_already_archived,
    settle_archived_elsewhere,
};
use folder_lock::FolderLock;
use layout::{part_files_on_disk, part_name, part_seq, Granularity, Partition};
use location::{Archive, Dir, Version};
use manifest::{Manifest, PartEntry};
pub use options::{ArchiveConflict, ArchiveLimits, ArchiveOptions, ArchiveReport, PartitionReport};
use parquet::{file_sha256, ids_digest, PartWriter};

/// Name of the store lock that keeps archive runs apart.
pub const LOCK_NAME: &str = "archive";
/// Live events fetched per store round trip.
pub const PAGE: usize = 10_000;
/// Rows per part file. Bounds memory (the writer keeps 24 bytes per row for
/// verification and the delete step) and the cost of re-doing a part.
pub const MAX_PART_ROWS: u64 = 2_000_000;

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
    let mut pending: Vec<Partition> = layout::list_partitions_with_leftovers(&options.root)?
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
    // On object storage, the ETag of the version hashed (the same before
    // and after), so that readers can pin that version instead of hashing
    // it again (`read::checked_part`).
    let etag = path.etag()?;
    let sha256 = file_sha256(path)?;
    let bytes = path.size()?;
    let after = path.etag()?;
    let etag = etag.filter(|e| after.as_ref() == Some(e));
    w.folder.confirm()?;
    fault("after-verify");

    let mut entry = PartEntry::new(name, bytes, sha256, written);
    entry.etag = etag;
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
