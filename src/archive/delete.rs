//! The delete phase of an `archive` run: ids whose parts are verified and
//! listed are queued ([`PendingDeletes`]), recorded as archived and deleted
//! from live in one store transaction after a last re-check of their parts
//! ([`flush_deletes`]); and live events the archive already holds are
//! compared by fingerprint and queued too, or reported as conflicts.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::ops::Range;

use uuid::Uuid;

use super::folder_lock::FolderLock;
use super::layout::Partition;
use super::location::Dir;
use super::manifest::PartEntry;
use super::parquet::PartEvents;
use super::recheck::{self, QueuedPart};
use super::{archived_ids, read, ArchiveConflict, ArchiveOptions, ArchiveReport, PartitionReport};
use crate::event::{ContentHash, Event, EventRef};
use crate::fault::fault;
use crate::progress::Progress;
use crate::store::{ArchivedBatch, ArchivedId, ScanFilter, Store};

/// Ids whose archiving is complete (verified part, manifest saved), queued
/// so that the live store deletes many partitions' ids in one transaction:
/// in a store whose rows of one month are scattered over the whole table,
/// one delete per partition would rewrite most pages once per partition.
/// Delaying a delete is always safe: a run killed before it leaves events
/// both archived and live, which the next run deletes. 32 bytes per id: the
/// partition is named once per part, not per id.
#[derive(Debug, Clone, Default)]
pub(super) struct PendingDeletes {
    pub(super) ids: Vec<Uuid>,
    /// The content hash of each queued id (same order), for its
    /// archived-id record, written in the same transaction as the delete.
    pub(super) hashes: Vec<ContentHash>,
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
    pub(super) fn truncate(&mut self, len: usize) {
        self.ids.truncate(len);
        self.hashes.truncate(len);
    }
}

/// Ids queued before the live store is asked to delete them. With
/// [`MAX_PART_ROWS`], this bounds the queue (32 bytes an id) whatever the
/// partitions' sizes: a partition of many parts is flushed between parts.
pub(super) const DELETE_BATCH: usize = 1_000_000;

/// Registers the ids pushed onto the queue since `start` as those of one
/// listed part (`entry`, of partition `p` in `dir`): they are recorded as
/// archived and, unless `--keep-live`, deleted from live.
pub(super) fn queue_part(
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
pub(super) fn queue_delete(
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
pub(super) fn flush_deletes(
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
pub(super) const CONFLICT_SAMPLES: usize = 100;

/// 64-bit fingerprint of an event's stored form. Used to check that what was
/// written reads back identically, and that a live event equals its
/// archived copy (then `received_at` is left out, as in
/// [`Event::same_content`]).
pub(super) fn fingerprint(event: &Event, with_received_at: bool) -> u64 {
    fingerprint_row(&event.view(), with_received_at)
}

pub(super) fn fingerprint_row(row: &EventRef<'_>, with_received_at: bool) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    row.id.hash(&mut h);
    row.service.hash(&mut h);
    row.event_type.hash(&mut h);
    row.created_at.hash(&mut h);
    row.aggregate_id.hash(&mut h);
    row.correlation_id.hash(&mut h);
    row.payload.hash(&mut h);
    if with_received_at {
        row.received_at.unwrap_or_default().hash(&mut h);
    }
    h.finish()
}

/// Live events whose ids the partition's listed parts already hold: delete
/// those found identical there, report the others as conflicts.
#[allow(clippy::too_many_arguments)]
pub(super) fn settle_already_archived(
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
pub(super) fn settle_archived_elsewhere(
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
