//! The live event store as a trait, and the choice of backend from a URI.
//!
//! The trait is synchronous on purpose: only the MongoDB backend needs an
//! async runtime, and it hides its runtime behind these same calls, so the
//! import, archive and rebuild pipelines stay plain synchronous code.

pub mod idfilter;
pub mod lock;
pub mod mongo;
pub mod sqlite;

use std::ops::Range;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{ContentHash, Event, Millis};
use crate::progress::{Progress, Unit};

/// What happened to one event of an appended batch.
#[derive(Debug, Clone, PartialEq)]
pub enum AppendOutcome {
    Inserted,
    /// Same id, same content: nothing written.
    Duplicate,
    /// Same id, different content: nothing written; the stored version is
    /// returned so that callers can report both.
    Conflict {
        stored: Box<Event>,
    },
    /// The id is archived (in `partition`) with other content: nothing
    /// written. The store keeps only the archived version's content hash;
    /// callers read the version itself from the archive to report both.
    ArchivedConflict {
        partition: String,
    },
}

/// What a store keeps of one archived event, so that the id stays taken
/// after its live copy is deleted (docs/archive.md, "Archived ids").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedId {
    pub id: Uuid,
    /// [`Event::content_hash`] of the archived version.
    pub hash: ContentHash,
    /// The archive partition holding it: `2016-01` or `2016-01-05`.
    pub partition: String,
}

impl ArchivedId {
    pub fn of(event: &Event, partition: &str) -> ArchivedId {
        ArchivedId {
            id: event.id,
            hash: event.content_hash(),
            partition: partition.to_string(),
        }
    }
}

/// The outcome of appending `event` whose id has the archived-id record
/// `record`: the one rule both backends apply.
pub fn archived_outcome(event: &Event, record: &ArchivedId) -> AppendOutcome {
    if event.content_hash() == record.hash {
        AppendOutcome::Duplicate
    } else {
        AppendOutcome::ArchivedConflict {
            partition: record.partition.clone(),
        }
    }
}

/// The archived-id records of a run's verified parts, as the archive run
/// queues them: 32 bytes per id, the partition named once per slice.
#[derive(Debug, Clone, Copy)]
pub struct ArchivedBatch<'a> {
    /// In the scan's (received_at, id) order within each part.
    pub ids: &'a [Uuid],
    /// The content hash of each id, same order.
    pub hashes: &'a [ContentHash],
    /// Consecutive slices of `ids` and the partition (`2016-01`) that holds them.
    pub partitions: &'a [(Range<usize>, String)],
}

impl ArchivedBatch<'_> {
    pub fn len(&self) -> u64 {
        self.ids.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The records of one slice.
    pub fn records(&self, range: Range<usize>, partition: &str) -> Vec<ArchivedId> {
        self.ids[range.clone()]
            .iter()
            .zip(&self.hashes[range])
            .map(|(id, hash)| ArchivedId {
                id: *id,
                hash: *hash,
                partition: partition.to_string(),
            })
            .collect()
    }

    /// What the delete phase's progress bar says.
    pub fn phase_label(&self, delete_live: bool) -> &'static str {
        if delete_live {
            "deleting archived events from the live store"
        } else {
            "recording archived ids"
        }
    }
}

/// Number of archived-id records of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedCount {
    pub partition: String,
    pub ids: u64,
}

/// Which events a scan returns: half-open `[since, until)` on `received_at`,
/// restricted to `types` when non-empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanFilter {
    pub types: Vec<String>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
}

/// A scan position: the last (received_at, id) already returned.
pub type ScanCursor = (Millis, Uuid);

/// Number of live events of one type in one month of `received_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthCount {
    pub event_type: String,
    /// `YYYY-MM`
    pub month: String,
    pub count: u64,
}

/// What happened to the records of an import (or a replay).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCounts {
    pub read: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    pub rejected: u64,
    pub skipped: u64,
}

impl ImportCounts {
    pub fn add(&mut self, other: &ImportCounts) {
        self.read += other.read;
        self.imported += other.imported;
        self.duplicates += other.duplicates;
        self.conflicts += other.conflicts;
        self.rejected += other.rejected;
        self.skipped += other.skipped;
    }
}

/// The record of one import run, kept in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRun {
    pub run_id: String,
    pub source: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub mapping: String,
    /// The mapping file as given on the command line (empty for events).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mapping_path: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(flatten)]
    pub counts: ImportCounts,
    pub complete: bool,
    /// The earliest and latest `created_at` of the events the run mapped:
    /// which months a legacy import covered, whatever its `received_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_max: Option<String>,
    /// How the run ended; `None` in records of older chronicle versions.
    #[serde(default)]
    pub status: Option<RunStatus>,
}

/// Where an import run is, as its record says. The record is updated with
/// each committed batch, so its counts are what the store holds from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Under way, or ended without being able to say so (killed, power
    /// loss, or the store itself refused writes).
    Running,
    Complete,
    /// Ended before the end of its input on purpose (`--max-rejects`,
    /// `--limit`).
    Stopped,
    /// Stopped by an error (the input, the rejects file, ...).
    Failed,
    /// Stopped by SIGINT or SIGTERM at a batch boundary.
    Interrupted,
}

impl RunStatus {
    /// The name used in records and JSON.
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Stopped => "stopped",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// Result of trying to take a named lock.
#[derive(Debug, Clone, PartialEq)]
pub enum LockAttempt {
    Acquired,
    /// Someone else holds it and its TTL has not passed.
    Held {
        holder: String,
        expires_at: Millis,
    },
}

/// A live event store. Every write is idempotent by id.
pub trait Store: Send {
    /// A short description for messages, e.g. `sqlite:chronicle.db`.
    fn describe(&self) -> String;

    /// Appends a batch. Events without `received_at` get the store's current
    /// time. Returns one outcome per event, in input order. Ids repeated
    /// within the batch are resolved against each other as if appended one
    /// after the other. An id with an archived-id record is never inserted:
    /// it is a duplicate when the content hash matches the record, an
    /// [`AppendOutcome::ArchivedConflict`] otherwise. The record is checked
    /// before the live copy.
    fn append(&mut self, events: &[Event]) -> anyhow::Result<Vec<AppendOutcome>>;

    /// Makes every appended event durable. Backends may group several
    /// `append` calls into one transaction for speed; the pipelines call
    /// this at the end of a job and before recording its outcome.
    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Returns up to `limit` events matching `filter` strictly after `after`
    /// in (received_at, id) order. Callers page through with
    /// [`scan_all`] rather than holding a whole range in memory.
    fn scan_page(
        &mut self,
        filter: &ScanFilter,
        after: Option<&ScanCursor>,
        limit: usize,
    ) -> anyhow::Result<Vec<Event>>;

    /// Fetches the stored events with these ids (missing ids are absent).
    fn get_many(&mut self, ids: &[Uuid]) -> anyhow::Result<Vec<Event>>;

    /// Deletes exactly these ids; returns how many were deleted.
    fn delete_ids(&mut self, ids: &[Uuid]) -> anyhow::Result<u64>;

    /// Records these ids as archived and, with `delete_live`, deletes their
    /// live copies, atomically where the backend can (SQLite: one
    /// transaction; MongoDB: records first, then the delete, so that a crash
    /// in between leaves an id both live and recorded, never neither).
    /// An existing record of the same id is replaced. Returns how many live
    /// events were deleted.
    fn put_archived(&mut self, records: &[ArchivedId], delete_live: bool) -> anyhow::Result<u64>;

    /// [`Store::put_archived`] for the archive run's delete phase: the
    /// records of many parts in a compact form (no partition name per
    /// record), with progress reported in events. The default calls
    /// `put_archived` one part at a time, so memory holds one part's
    /// records; SQLite overrides it to write everything in one transaction.
    fn put_archived_batch(
        &mut self,
        batch: &ArchivedBatch<'_>,
        delete_live: bool,
        progress: &dyn Progress,
    ) -> anyhow::Result<u64> {
        progress.start(
            batch.phase_label(delete_live),
            Some(batch.len()),
            Unit::Events,
        );
        let mut deleted = 0;
        let mut done = 0;
        for (range, partition) in batch.partitions {
            let records = batch.records(range.clone(), partition);
            deleted += self.put_archived(&records, delete_live)?;
            done += records.len() as u64;
            progress.set_position(done);
        }
        progress.finish();
        Ok(deleted)
    }

    /// The archived-id records of these ids (missing ids are absent).
    fn get_archived(&mut self, ids: &[Uuid]) -> anyhow::Result<Vec<ArchivedId>>;

    /// Every archived-id record of one partition, ordered by id.
    fn archived_in(&mut self, partition: &str) -> anyhow::Result<Vec<ArchivedId>>;

    /// Removes archived-id records (only `verify --repair` does, for records
    /// the archive does not back); returns how many were removed.
    fn remove_archived(&mut self, ids: &[Uuid]) -> anyhow::Result<u64>;

    /// Archived-id records per partition, ordered by partition.
    fn archived_counts(&mut self) -> anyhow::Result<Vec<ArchivedCount>>;

    /// Live counts per type and month of `received_at`, ordered by month then type.
    fn month_counts(&mut self) -> anyhow::Result<Vec<MonthCount>>;

    /// Records (or updates, by `run_id`) an import run.
    fn record_run(&mut self, run: &ImportRun) -> anyhow::Result<()>;

    /// All recorded import runs, oldest first.
    fn runs(&mut self) -> anyhow::Result<Vec<ImportRun>>;

    fn checkpoint(&mut self, name: &str) -> anyhow::Result<Option<String>>;
    fn set_checkpoint(&mut self, name: &str, value: &str) -> anyhow::Result<()>;

    /// Takes `name` for `holder` until now + `ttl_ms`. A lock whose TTL has
    /// passed is taken over; re-taking one's own lock renews it.
    fn try_lock(&mut self, name: &str, holder: &str, ttl_ms: i64) -> anyhow::Result<LockAttempt>;
    /// Releases `name` if `holder` still holds it.
    fn unlock(&mut self, name: &str, holder: &str) -> anyhow::Result<()>;

    /// A second connection to the same store (for [`lock::StoreLock`],
    /// which renews and releases its lock beside the job's own work).
    fn reopen(&self) -> anyhow::Result<Box<dyn Store>>;
}

/// A write the store refused (full disk, lock held by another process,
/// lost connection): "store write failed: CAUSE (STORE)".
#[derive(Debug, thiserror::Error)]
#[error("store write failed: {cause} ({store})")]
pub struct WriteFailed {
    pub store: String,
    pub cause: String,
}

/// Marks `error`, raised by a write to `store`, as a [`WriteFailed`].
pub fn write_failed(store: &dyn Store, error: anyhow::Error) -> anyhow::Error {
    // SQLite's own message ("database or disk is full") rather than the
    // error code beneath it.
    let cause = error
        .chain()
        .find(|c| c.is::<rusqlite::Error>())
        .unwrap_or_else(|| error.root_cause())
        .to_string();
    error.context(WriteFailed {
        store: store.describe(),
        cause,
    })
}

/// Streams every event matching `filter` in (received_at, id) order, one
/// page in memory at a time; stops with an error at the page boundary after
/// an interrupt.
pub fn scan_all(
    store: &mut dyn Store,
    filter: &ScanFilter,
    page_size: usize,
    mut visit: impl FnMut(Event) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut cursor: Option<ScanCursor> = None;
    let mut seen = 0u64;
    loop {
        crate::cancel::check()?;
        let page = store.scan_page(filter, cursor.as_ref(), page_size)?;
        let full = page.len() == page_size;
        if let Some(last) = page.last() {
            cursor = Some((last.received_at.unwrap_or_default(), last.id));
        }
        for event in page {
            seen += 1;
            visit(event)?;
        }
        if !full {
            return Ok(seen);
        }
    }
}

/// Live events matching `filter` whose id also has an archived-id record,
/// with that record: ids both live and archived, which only a `--keep-live`
/// run, a store written before archived-id records existed, or a MongoDB
/// import racing an archive run can leave. Pages through the live store;
/// memory holds one page and the overlap.
pub fn live_and_archived(
    store: &mut dyn Store,
    filter: &ScanFilter,
) -> anyhow::Result<Vec<(Event, ArchivedId)>> {
    const PAGE: usize = 10_000;
    let filter = filter.clone();
    let mut cursor: Option<ScanCursor> = None;
    let mut out = Vec::new();
    loop {
        let page = store.scan_page(&filter, cursor.as_ref(), PAGE)?;
        let full = page.len() == PAGE;
        if let Some(last) = page.last() {
            cursor = Some((last.received_at.unwrap_or_default(), last.id));
        }
        let ids: Vec<Uuid> = page.iter().map(|e| e.id).collect();
        let records: std::collections::HashMap<Uuid, ArchivedId> = store
            .get_archived(&ids)?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        if !records.is_empty() {
            for event in page {
                if let Some(record) = records.get(&event.id) {
                    out.push((event, record.clone()));
                }
            }
        }
        if !full {
            return Ok(out);
        }
    }
}

/// How a command may open the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the store when it does not exist (import, archive, replay).
    Create,
    /// The store must exist already; writes are allowed (rebuild and
    /// project keep their lock and checkpoints in it).
    Existing,
    /// The store must exist, and nothing is written to it (status, export,
    /// verify, a projection's source). Works on a read-only file.
    ReadOnly,
}

/// Opens the store named by `uri`, creating it when it does not exist.
pub fn open(uri: &str) -> anyhow::Result<Box<dyn Store>> {
    open_with(uri, OpenMode::Create)
}

/// Opens an existing store for reading only; a missing store is an error
/// naming it, never an empty store created by a typo.
pub fn open_existing(uri: &str) -> anyhow::Result<Box<dyn Store>> {
    open_with(uri, OpenMode::ReadOnly)
}

/// Opens the store named by `uri`: `sqlite:PATH` (or a bare path ending in
/// `.db`), or `mongodb://...` / `mongodb+srv://...` (see docs/stores.md).
pub fn open_with(uri: &str, mode: OpenMode) -> anyhow::Result<Box<dyn Store>> {
    if uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://") {
        return Ok(Box::new(mongo::MongoStore::open_with(uri, mode)?));
    }
    if let Some(path) = sqlite_path(uri)? {
        return Ok(Box::new(sqlite::SqliteStore::open_with(path, mode)?));
    }
    anyhow::bail!(
        "unsupported store URI `{}`: expected sqlite:PATH (for example sqlite:chronicle.db) or mongodb://HOST:PORT/DB",
        crate::redact::redact_uri(uri)
    )
}

/// The store as messages name it, without connecting: the text of
/// [`Store::describe`], never a password.
pub fn describe_uri(uri: &str) -> String {
    if uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://") {
        return mongo::MongoUri::parse(uri)
            .map(|u| u.describe())
            .unwrap_or_else(|_| crate::redact::redact_uri(uri));
    }
    match sqlite_path(uri) {
        Ok(Some(path)) => format!("sqlite:{path}"),
        _ => crate::redact::redact_uri(uri),
    }
}

/// The file of a SQLite store URI (`sqlite:PATH`, `sqlite://PATH`, or a
/// bare path ending in `.db` / `.sqlite`); `None` for other stores.
/// `sqlite:` without a path is refused: SQLite would open a private
/// temporary database and throw everything away at exit. Shared by the
/// store and the projection targets.
pub fn sqlite_path(uri: &str) -> anyhow::Result<Option<&str>> {
    let Some(path) = uri
        .strip_prefix("sqlite://")
        .or_else(|| uri.strip_prefix("sqlite:"))
        .or_else(|| (uri.ends_with(".db") || uri.ends_with(".sqlite")).then_some(uri))
    else {
        return Ok(None);
    };
    anyhow::ensure!(
        !path.trim().is_empty(),
        "`{uri}` names no file: expected sqlite:PATH, for example sqlite:chronicle.db"
    );
    Ok(Some(path))
}
