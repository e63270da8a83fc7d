//! The options an `archive` run takes and the report it returns: the data
//! types around the procedure in `mod.rs`, kept apart so that file reads as
//! the procedure. (`--before` and `--lag` are parsed by `crate::duration`,
//! the one duration grammar.)

use std::collections::BTreeMap;

use serde::Serialize;

use super::delete::{PendingDeletes, DELETE_BATCH};
use super::layout::Granularity;
use super::location::{AbortedUpload, Archive};
use super::MAX_PART_ROWS;
use crate::cancel::Interrupted;
use crate::event::Millis;

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
    /// Pending multipart uploads of interrupted runs, aborted (object
    /// storage only).
    pub aborted_uploads: Vec<AbortedUpload>,
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
    pub(super) pending: PendingDeletes,
}
