//! The embedded default store: one SQLite file in WAL mode.
//!
//! Ids are stored as 16-byte blobs: their byte order equals the order of the
//! lowercase hyphenated text, so (received_at, id) orders the same way here
//! as in MongoDB and in the archive, and the indexes stay small enough to
//! remain cached during a large import.
//!
//! Appends are grouped into transactions of up to [`GROUP_EVENTS`] events or
//! [`GROUP_TIME`]: the id index takes random inserts, so every commit
//! rewrites most of its pages into the WAL, and committing every few
//! thousand events would write the index hundreds of times over. A kill -9
//! loses at most the open group; the file stays consistent and re-running
//! the idempotent job completes it.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::{
    params, params_from_iter, Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior,
};
use uuid::Uuid;

use super::idfilter::IdFilter;
use super::{
    archived_outcome, AppendOutcome, ArchivedBatch, ArchivedCount, ArchivedId, ImportRun,
    LockAttempt, MonthCount, OpenMode, ScanCursor, ScanFilter, Store,
};
use crate::event::{now_millis, Event};
use crate::progress::{Progress, Unit};

/// 2 added `archived_ids`; a chronicle that only knows version 1 would not
/// look there and would re-import archived ids, so it must refuse the file.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq            INTEGER PRIMARY KEY,
    id             BLOB NOT NULL UNIQUE,
    received_at    INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    service        TEXT NOT NULL,
    type           TEXT NOT NULL,
    aggregate_id   TEXT,
    correlation_id TEXT,
    payload        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_received ON events(received_at, id);
CREATE INDEX IF NOT EXISTS events_type_received ON events(type, received_at, id);
CREATE TABLE IF NOT EXISTS import_runs (
    run_id     TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    record     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS archived_ids (
    id   BLOB PRIMARY KEY,
    hash BLOB NOT NULL,
    part INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS archived_filter (
    k       INTEGER PRIMARY KEY CHECK (k = 0),
    version INTEGER NOT NULL,
    records INTEGER NOT NULL,
    bits    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS locks (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
";

const EVENT_COLUMNS: &str =
    "id, received_at, created_at, service, type, aggregate_id, correlation_id, payload";

/// Number of ids bound into one `IN (...)` list.
const ID_CHUNK: usize = 500;

/// Events between two progress updates of the archive's delete phase.
const PROGRESS_STEP: usize = 10_000;

/// Appends are committed once this many events are pending...
pub const GROUP_EVENTS: usize = 250_000;
/// ...or once the open transaction is this old.
pub const GROUP_TIME: Duration = Duration::from_secs(2);

pub struct SqliteStore {
    path: String,
    conn: Connection,
    /// Start time and size of the open append transaction, if any.
    open_group: Option<(Instant, usize)>,
    /// Set while an append runs: still set afterwards means it failed, and
    /// its group is rolled back rather than committed.
    appending: bool,
    /// The archived-id filter as last read, with its version (see
    /// [`super::idfilter`]); an empty one when the store has no archived
    /// ids, `Some((v, None))` when a read found it in another format, so
    /// that every id is looked up. Re-read when a new transaction finds
    /// another version.
    filter: Option<(i64, Option<IdFilter>)>,
}

impl SqliteStore {
    /// Opens `path`, creating the file and its schema when missing.
    pub fn open(path: &str) -> anyhow::Result<SqliteStore> {
        SqliteStore::open_with(path, OpenMode::Create)
    }

    pub fn open_with(path: &str, mode: OpenMode) -> anyhow::Result<SqliteStore> {
        if let Some(parent) = Path::new(path).parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                anyhow::bail!(
                    "cannot open store sqlite:{path}: folder {} does not exist",
                    parent.display()
                );
            }
        }
        if mode != OpenMode::Create && !Path::new(path).exists() {
            anyhow::bail!(
                "store sqlite:{path} does not exist (check --store or CHRONICLE_STORE; only import, archive and replay create a store)"
            );
        }
        let conn = if mode == OpenMode::ReadOnly {
            open_read_only(path)?
        } else {
            open_read_write(path)?
        };
        Ok(SqliteStore {
            path: path.to_string(),
            conn,
            open_group: None,
            appending: false,
            filter: None,
        })
    }

    /// False for a store written before archived-id records, opened read
    /// only (the schema is only created by a writable open): it has none.
    fn has_archived_ids(&self) -> anyhow::Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'archived_ids'",
                [],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn any_archived_ids(&self) -> anyhow::Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM archived_ids)", [], |r| {
                r.get(0)
            })?)
    }

    /// Makes the cached filter the one this transaction sees: one small
    /// read per transaction, the whole filter only when it changed. With
    /// `rebuild` (inside a write transaction), a filter in another format
    /// is rebuilt; without, it is left as none, so every id is looked up.
    fn refresh_filter(&mut self, rebuild: bool) -> anyhow::Result<()> {
        let version: i64 = self
            .conn
            .query_row("SELECT version FROM archived_filter WHERE k = 0", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(-1);
        let unreadable = matches!(self.filter, Some((_, None)));
        if self.filter.as_ref().map(|(v, _)| *v) != Some(version) || (rebuild && unreadable) {
            let (version, filter, _) = read_filter(&self.conn)?;
            self.filter = Some(match filter {
                Some(filter) => (version, Some(filter)),
                // No filter and no records (a store that never archived):
                // nothing to look up (rather than a probe of the empty
                // table for every id).
                None if version < 0 && !self.any_archived_ids()? => {
                    (version, Some(IdFilter::for_records(0)))
                }
                // A filter in another format (written by an older
                // chronicle), or records without one: rebuilt once, in
                // this transaction, rather than looking up every id.
                None if rebuild => {
                    let (version, filter) =
                        add_to_filter(&self.conn, std::iter::empty::<&Uuid>(), None)?;
                    (version, Some(filter))
                }
                None => (version, None),
            });
        }
        Ok(())
    }

    /// [`Store::get_archived`] inside the caller's read transaction.
    fn archived_in_snapshot(&mut self, ids: &[Uuid]) -> anyhow::Result<Vec<ArchivedId>> {
        // A filter that cannot be read (a store written between the records
        // and the filter) only means that every id is looked up.
        let filter = match self.refresh_filter(false) {
            Ok(()) => self.filter.as_ref().and_then(|(_, f)| f.as_ref()),
            Err(_) => None,
        };
        let wanted: Vec<Uuid> = match filter {
            Some(filter) => ids
                .iter()
                .filter(|id| filter.may_contain(id))
                .copied()
                .collect(),
            None => ids.to_vec(),
        };
        let mut out = Vec::new();
        for chunk in wanted.chunks(ID_CHUNK) {
            let sql = format!(
                "SELECT id, hash, part FROM archived_ids WHERE id IN ({})",
                placeholders(chunk.len())
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params_from_iter(chunk.iter().map(|id| id.as_bytes().to_vec())),
                archived_from_row,
            )?;
            for row in rows {
                out.push(row?);
            }
        }
        Ok(out)
    }

    /// Commits the open append group, if any. Every operation other than
    /// `append` starts with this so it never runs inside a group. A group
    /// in which an append failed (a full disk, say) is rolled back instead:
    /// what the store holds then stays what the last commit, and the import
    /// run record written with it, say.
    fn commit_group(&mut self) -> anyhow::Result<()> {
        if std::mem::take(&mut self.appending) && self.open_group.take().is_some() {
            let _ = self.conn.execute_batch("ROLLBACK");
            anyhow::bail!(
                "an append to sqlite:{} failed; its uncommitted events were rolled back",
                self.path
            );
        }
        if self.open_group.take().is_some() {
            self.conn
                .execute_batch("COMMIT")
                .with_context(|| format!("cannot commit to sqlite:{}", self.path))?;
        }
        Ok(())
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Whatever was appended is complete and valid on its own.
        let _ = self.commit_group();
    }
}

fn open_read_write(path: &str) -> anyhow::Result<Connection> {
    let conn =
        Connection::open(path).with_context(|| format!("cannot open store sqlite:{path}"))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // WAL + synchronous=NORMAL: a crash (even power loss) leaves a
    // consistent file; at worst the last committed batches are rolled
    // back, and re-running the idempotent job restores them.
    // Takes effect only on a new file. 16 KiB pages make the trees
    // shallower, which cut the CPU cost of a large import by a fifth.
    conn.pragma_update(None, "page_size", 16384)
        .with_context(|| format!("cannot open store sqlite:{path}"))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .with_context(|| format!("sqlite:{path} is not a usable SQLite database"))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    check_version(&conn, path)?;
    conn.execute_batch(SCHEMA)
        .with_context(|| format!("cannot create the schema in sqlite:{path}"))?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
        .with_context(|| format!("cannot write to store sqlite:{path}"))?;
    Ok(conn)
}

/// A read-only connection: nothing is created or changed, so status and
/// export work on a file the user may only read. A WAL database needs its
/// `-shm` index; when that cannot be created (the folder is read-only too)
/// the file is opened as immutable, which is safe because no writer can
/// work in such a folder either (it could not create its `-wal`).
fn open_read_only(path: &str) -> anyhow::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .with_context(|| format!("cannot open store sqlite:{path}"))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let probe = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0));
    let no_wal_index = matches!(
        &probe,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
    );
    let conn = if no_wal_index {
        let uri = format!("file:{}?immutable=1", uri_escape(path));
        let conn = Connection::open_with_flags(&uri, flags | OpenFlags::SQLITE_OPEN_URI)
            .with_context(|| format!("cannot open store sqlite:{path}"))?;
        check_version(&conn, path)?;
        conn
    } else {
        check_version(&conn, path)?;
        conn
    };
    let has_schema: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events')",
            [],
            |r| r.get(0),
        )
        .with_context(|| format!("cannot read store sqlite:{path}"))?;
    anyhow::ensure!(
        has_schema,
        "sqlite:{path} is not a chronicle store (it has no events table)"
    );
    Ok(conn)
}

/// Refuses a file written by a newer chronicle; any other failure to read
/// the header means the file is not a usable database.
fn check_version(conn: &Connection, path: &str) -> anyhow::Result<()> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .with_context(|| format!("sqlite:{path} is not a usable SQLite database"))?;
    if version > SCHEMA_VERSION {
        anyhow::bail!(
            "sqlite:{path} has schema version {version}, newer than this chronicle understands ({SCHEMA_VERSION}); upgrade chronicle"
        );
    }
    Ok(())
}

/// A path as the file part of an SQLite URI (`%`, `?` and `#` escaped).
fn uri_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let id: Vec<u8> = row.get(0)?;
    let id = Uuid::from_slice(&id).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })?;
    Ok(Event {
        id,
        received_at: Some(row.get(1)?),
        created_at: row.get(2)?,
        service: row.get(3)?,
        event_type: row.get(4)?,
        aggregate_id: row.get(5)?,
        correlation_id: row.get(6)?,
        payload: row.get(7)?,
    })
}

/// The stored filter: (version, filter, records it was told about); version
/// -1 and no filter when the store has none, no filter when it is stored in
/// another format (see [`IdFilter::from_bytes`]).
fn read_filter(conn: &Connection) -> anyhow::Result<(i64, Option<IdFilter>, u64)> {
    let row: Option<(i64, i64, Vec<u8>)> = conn
        .query_row(
            "SELECT version, records, bits FROM archived_filter WHERE k = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(match row {
        Some((version, records, bits)) => (version, IdFilter::from_bytes(bits), records as u64),
        None => (-1, None, 0),
    })
}

/// Adds `ids` (just recorded) to the stored filter, inside the caller's
/// transaction; the filter is rebuilt from every record when it is missing,
/// in another format, or would be over its capacity. `cached` is the connection's copy of the
/// filter: when it is still the stored version it is updated in place
/// rather than read again, so that memory holds one filter (32 MiB at 10M
/// archived ids), not two. Returns the new (version, filter).
fn add_to_filter<'a>(
    conn: &Connection,
    ids: impl ExactSizeIterator<Item = &'a Uuid>,
    cached: Option<(i64, Option<IdFilter>)>,
) -> anyhow::Result<(i64, IdFilter)> {
    let stored: Option<(i64, i64)> = conn
        .query_row(
            "SELECT version, records FROM archived_filter WHERE k = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (version, filter, records) = match (stored, cached) {
        (Some((version, records)), Some((v, Some(f)))) if v == version => {
            (version, Some(f), records as u64)
        }
        (None, _) => (-1, None, 0),
        _ => {
            let (version, filter, records) = read_filter(conn)?;
            (version, filter, records)
        }
    };
    let total = records + ids.len() as u64;
    let (filter, records) = match filter {
        Some(mut f) if total <= f.capacity() => {
            for id in ids {
                f.insert(id);
            }
            (f, total)
        }
        _ => {
            let n: i64 = conn.query_row("SELECT count(*) FROM archived_ids", [], |r| r.get(0))?;
            let mut f = IdFilter::for_records(n as u64);
            let mut stmt = conn.prepare("SELECT id FROM archived_ids")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let id: Vec<u8> = row.get(0)?;
                f.insert(&Uuid::from_slice(&id)?);
            }
            (f, n as u64)
        }
    };
    let version = version + 1;
    conn.execute(
        "INSERT INTO archived_filter (k, version, records, bits) VALUES (0, ?1, ?2, ?3)
         ON CONFLICT(k) DO UPDATE SET version = excluded.version, records = excluded.records, bits = excluded.bits",
        params![version, records as i64, filter.as_bytes()],
    )?;
    Ok((version, filter))
}

/// Partitions are kept as integers (`2016-01` as 201601, `2016-01-05` as
/// 20160105): 3 or 4 bytes a record instead of 7 or 10.
fn partition_code(partition: &str) -> anyhow::Result<i64> {
    let b = partition.as_bytes();
    let shaped = match b.len() {
        7 => b[4] == b'-',
        10 => b[4] == b'-' && b[7] == b'-',
        _ => false,
    };
    let digits: String = partition.chars().filter(|c| *c != '-').collect();
    match digits.parse::<i64>() {
        Ok(code) if shaped && digits.bytes().all(|c| c.is_ascii_digit()) => Ok(code),
        _ => anyhow::bail!("`{partition}` is not an archive partition name"),
    }
}

fn partition_name(code: i64) -> String {
    if code >= 10_000_000 {
        format!(
            "{:04}-{:02}-{:02}",
            code / 10_000,
            code / 100 % 100,
            code % 100
        )
    } else {
        format!("{:04}-{:02}", code / 100, code % 100)
    }
}

fn archived_from_row(row: &Row<'_>) -> rusqlite::Result<ArchivedId> {
    let bad = |i: usize, e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Blob, e)
    };
    let id: Vec<u8> = row.get(0)?;
    let hash: Vec<u8> = row.get(1)?;
    Ok(ArchivedId {
        id: Uuid::from_slice(&id).map_err(|e| bad(0, Box::new(e)))?,
        hash: hash
            .try_into()
            .map_err(|_| bad(1, "content hash is not 16 bytes".into()))?,
        partition: partition_name(row.get(2)?),
    })
}

/// Deletes the rows of `table` whose `id` is one of `ids`, in chunks;
/// returns how many were deleted. The caller holds the transaction.
fn delete_by_id<'a>(
    conn: &Connection,
    table: &str,
    ids: impl IntoIterator<Item = &'a Uuid>,
) -> anyhow::Result<u64> {
    let ids: Vec<&Uuid> = ids.into_iter().collect();
    let mut deleted = 0u64;
    for chunk in ids.chunks(ID_CHUNK) {
        let sql = format!(
            "DELETE FROM {table} WHERE id IN ({})",
            placeholders(chunk.len())
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        deleted += stmt.execute(params_from_iter(
            chunk.iter().map(|id| id.as_bytes().to_vec()),
        ))? as u64;
    }
    Ok(deleted)
}

fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 2);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path)
    }

    fn append(&mut self, events: &[Event]) -> anyhow::Result<Vec<AppendOutcome>> {
        let now = now_millis();
        // A group is committed when the next batch arrives rather than at
        // the end of the batch that filled it: what the caller writes in
        // between (the import run record with its counts) then commits
        // together with the events it counts.
        if self.appending
            || self.open_group.is_some_and(|(started, pending)| {
                pending >= GROUP_EVENTS || started.elapsed() >= GROUP_TIME
            })
        {
            self.commit_group()?;
        }
        if self.open_group.is_none() {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.open_group = Some((Instant::now(), 0));
            self.refresh_filter(true)?;
        }
        self.appending = true;
        // An id whose filter bit is clear is certainly not archived.
        let filter = self.filter.as_ref().and_then(|(_, f)| f.as_ref());
        // Inserting in (received_at, id) order turns the index updates into
        // near-appends (SQLite's fast path for the right edge of a b-tree)
        // and walks the random id index left to right. The stable sort keeps
        // the first occurrence of a repeated id first, as in the input.
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by_key(|&i| {
            (
                events[i].received_at.unwrap_or(now),
                *events[i].id.as_bytes(),
            )
        });
        let mut outcomes: Vec<Option<AppendOutcome>> = vec![None; events.len()];
        {
            let tx = &self.conn;
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (id, received_at, created_at, service, type, aggregate_id, correlation_id, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO NOTHING",
            )?;
            let mut existing =
                tx.prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1"))?;
            let mut archived =
                tx.prepare_cached("SELECT id, hash, part FROM archived_ids WHERE id = ?1")?;
            for &i in &order {
                let event = &events[i];
                // The archived-id record first: an archived id is never
                // inserted again, whatever the live store holds.
                let record = if filter.is_none_or(|f| f.may_contain(&event.id)) {
                    archived
                        .query_row([&event.id.as_bytes()[..]], archived_from_row)
                        .optional()?
                } else {
                    None
                };
                if let Some(record) = record {
                    outcomes[i] = Some(archived_outcome(event, &record));
                    continue;
                }
                let inserted = insert.execute(params![
                    &event.id.as_bytes()[..],
                    event.received_at.unwrap_or(now),
                    event.created_at,
                    event.service,
                    event.event_type,
                    event.aggregate_id,
                    event.correlation_id,
                    event.payload,
                ])?;
                outcomes[i] = Some(if inserted == 1 {
                    AppendOutcome::Inserted
                } else {
                    let stored = existing.query_row([&event.id.as_bytes()[..]], event_from_row)?;
                    if stored.same_content(event) {
                        AppendOutcome::Duplicate
                    } else {
                        AppendOutcome::Conflict {
                            stored: Box::new(stored),
                        }
                    }
                });
            }
        }
        let outcomes: Vec<AppendOutcome> = outcomes
            .into_iter()
            .map(|o| o.expect("every event has an outcome"))
            .collect();
        if let Some((_, pending)) = self.open_group.as_mut() {
            *pending += events.len();
        }
        self.appending = false;
        Ok(outcomes)
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.commit_group()
    }

    fn scan_page(
        &mut self,
        filter: &ScanFilter,
        after: Option<&ScanCursor>,
        limit: usize,
    ) -> anyhow::Result<Vec<Event>> {
        self.commit_group()?;
        // A single type walks the (type, received_at, id) index; several
        // types walk (received_at, id) and filter, because an IN list on the
        // leading column would make SQLite sort every matching row before
        // applying LIMIT.
        let index = if filter.types.len() == 1 {
            "events_type_received"
        } else {
            "events_received"
        };
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events INDEXED BY {index} WHERE 1=1");
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if !filter.types.is_empty() {
            sql.push_str(&format!(
                " AND type IN ({})",
                placeholders(filter.types.len())
            ));
            values.extend(
                filter
                    .types
                    .iter()
                    .cloned()
                    .map(rusqlite::types::Value::Text),
            );
        }
        // Once a cursor at or past `since` exists, the cursor alone bounds the
        // range; keeping `since` too makes SQLite seek by it and re-walk the
        // whole window on every page, which turns a scan quadratic.
        let since = filter
            .since
            .filter(|since| after.is_none_or(|(received_at, _)| received_at < since));
        if let Some(since) = since {
            sql.push_str(" AND received_at >= ?");
            values.push(since.into());
        }
        if let Some(until) = filter.until {
            sql.push_str(" AND received_at < ?");
            values.push(until.into());
        }
        if let Some((received_at, id)) = after {
            sql.push_str(" AND (received_at, id) > (?, ?)");
            values.push((*received_at).into());
            values.push(rusqlite::types::Value::Blob(id.as_bytes().to_vec()));
        }
        sql.push_str(" ORDER BY received_at, id LIMIT ?");
        values.push((limit as i64).into());
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(values), event_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn get_many(&mut self, ids: &[Uuid]) -> anyhow::Result<Vec<Event>> {
        self.commit_group()?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ID_CHUNK) {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE id IN ({})",
                placeholders(chunk.len())
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params_from_iter(chunk.iter().map(|id| id.as_bytes().to_vec())),
                event_from_row,
            )?;
            for row in rows {
                out.push(row?);
            }
        }
        Ok(out)
    }

    fn delete_ids(&mut self, ids: &[Uuid]) -> anyhow::Result<u64> {
        self.commit_group()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let deleted = delete_by_id(&tx, "events", ids)?;
        tx.commit()?;
        Ok(deleted)
    }

    fn put_archived(&mut self, records: &[ArchivedId], delete_live: bool) -> anyhow::Result<u64> {
        self.commit_group()?;
        if records.is_empty() {
            return Ok(0);
        }
        // Sorted by id, the records go into the b-tree left to right.
        let mut sorted: Vec<&ArchivedId> = records.iter().collect();
        sorted.sort_unstable_by_key(|r| r.id);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO archived_ids (id, hash, part) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET hash = excluded.hash, part = excluded.part",
            )?;
            for r in &sorted {
                insert.execute(params![
                    &r.id.as_bytes()[..],
                    &r.hash[..],
                    partition_code(&r.partition)?
                ])?;
            }
        }
        let cached = self.filter.take();
        let (version, filter) = add_to_filter(&tx, sorted.iter().map(|r| &r.id), cached)?;
        // The live events go in the callers' order, which is the scan's
        // (received_at, id) order and so the events table's own: deleting
        // in id order instead touches its pages at random and, past the
        // page cache, spills and re-reads them (measured: archive 4x slower).
        let deleted = if delete_live {
            delete_by_id(&tx, "events", records.iter().map(|r| &r.id))?
        } else {
            0
        };
        tx.commit()?;
        self.filter = Some((version, Some(filter)));
        Ok(deleted)
    }

    fn put_archived_batch(
        &mut self,
        batch: &ArchivedBatch<'_>,
        delete_live: bool,
        progress: &dyn Progress,
    ) -> anyhow::Result<u64> {
        self.commit_group()?;
        if batch.is_empty() {
            return Ok(0);
        }
        let codes = batch
            .partitions
            .iter()
            .map(|(_, p)| partition_code(p))
            .collect::<anyhow::Result<Vec<i64>>>()?;
        // The records go into the b-tree in id order, left to right; 4
        // bytes per record for the order instead of a sorted copy.
        let mut order: Vec<u32> = (0..batch.ids.len() as u32).collect();
        order.sort_unstable_by_key(|&i| batch.ids[i as usize]);
        let code_of = |i: usize| codes[batch.partitions.partition_point(|(r, _)| r.end <= i)];
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        progress.start("recording archived ids", Some(batch.len()), Unit::Events);
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO archived_ids (id, hash, part) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET hash = excluded.hash, part = excluded.part",
            )?;
            for (n, &i) in order.iter().enumerate() {
                let i = i as usize;
                insert.execute(params![
                    &batch.ids[i].as_bytes()[..],
                    &batch.hashes[i][..],
                    code_of(i)
                ])?;
                if n % PROGRESS_STEP == 0 {
                    progress.set_position(n as u64);
                }
            }
        }
        drop(order);
        let cached = self.filter.take();
        let (version, filter) = add_to_filter(&tx, batch.ids.iter(), cached)?;
        progress.set_position(batch.len());
        // The live events go in the queue's order, which is the scan's
        // (received_at, id) order and so the events table's own: deleting
        // in id order instead touches its pages at random and, past the
        // page cache, spills and re-reads them (measured: archive 4x slower).
        let deleted = if delete_live {
            progress.start(batch.phase_label(true), Some(batch.len()), Unit::Events);
            let mut deleted = 0;
            for (n, chunk) in batch.ids.chunks(ID_CHUNK).enumerate() {
                deleted += delete_by_id(&tx, "events", chunk)?;
                if n % (PROGRESS_STEP / ID_CHUNK) == 0 {
                    progress.set_position((n * ID_CHUNK) as u64);
                }
            }
            progress.set_position(batch.len());
            deleted
        } else {
            0
        };
        tx.commit()?;
        progress.finish();
        self.filter = Some((version, Some(filter)));
        Ok(deleted)
    }

    fn get_archived(&mut self, ids: &[Uuid]) -> anyhow::Result<Vec<ArchivedId>> {
        self.commit_group()?;
        if !self.has_archived_ids()? {
            return Ok(Vec::new());
        }
        // One snapshot for the filter and the lookups: only ids whose bit is
        // set can have a record (the archive's scan asks for every live id,
        // and a random probe into 10M records costs more than the scan).
        self.conn.execute_batch("BEGIN")?;
        let found = self.archived_in_snapshot(ids);
        let _ = self.conn.execute_batch("COMMIT");
        found
    }

    fn archived_in(&mut self, partition: &str) -> anyhow::Result<Vec<ArchivedId>> {
        self.commit_group()?;
        if !self.has_archived_ids()? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id, hash, part FROM archived_ids WHERE part = ?1 ORDER BY id")?;
        let rows = stmt.query_map([partition_code(partition)?], archived_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn remove_archived(&mut self, ids: &[Uuid]) -> anyhow::Result<u64> {
        self.commit_group()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let removed = delete_by_id(&tx, "archived_ids", ids)?;
        tx.commit()?;
        Ok(removed)
    }

    fn archived_counts(&mut self) -> anyhow::Result<Vec<ArchivedCount>> {
        self.commit_group()?;
        if !self.has_archived_ids()? {
            return Ok(Vec::new());
        }
        // Counted here rather than by `GROUP BY part`: with no index on
        // `part` (it would cost ~20 bytes per archived id), SQLite sorts
        // every record first, which was 40% of a 1M-event rebuild.
        let mut counts: HashMap<i64, u64> = HashMap::new();
        let mut stmt = self.conn.prepare("SELECT part FROM archived_ids")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            *counts.entry(row.get(0)?).or_default() += 1;
        }
        let mut out: Vec<ArchivedCount> = counts
            .into_iter()
            .map(|(part, ids)| ArchivedCount {
                partition: partition_name(part),
                ids,
            })
            .collect();
        // Day partitions (8 digits) sort after months numerically; by name
        // they sort in time order, as everywhere else.
        out.sort_by(|a, b| a.partition.cmp(&b.partition));
        Ok(out)
    }

    fn month_counts(&mut self) -> anyhow::Result<Vec<MonthCount>> {
        self.commit_group()?;
        let mut stmt = self.conn.prepare(
            "SELECT strftime('%Y-%m', received_at / 1000, 'unixepoch') AS month, type, count(*)
             FROM events GROUP BY month, type ORDER BY month, type",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(MonthCount {
                month: r.get(0)?,
                event_type: r.get(1)?,
                count: r.get::<_, i64>(2)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn record_run(&mut self, run: &ImportRun) -> anyhow::Result<()> {
        // Inside the open append group, if any: the counts commit with the
        // events they count, so a killed import's record is exact.
        self.conn.execute(
            "INSERT INTO import_runs (run_id, started_at, record) VALUES (?1, ?2, ?3)
             ON CONFLICT(run_id) DO UPDATE SET record = excluded.record",
            params![run.run_id, run.started_at, serde_json::to_string(run)?],
        )?;
        Ok(())
    }

    fn runs(&mut self) -> anyhow::Result<Vec<ImportRun>> {
        self.commit_group()?;
        let mut stmt = self
            .conn
            .prepare("SELECT record FROM import_runs ORDER BY started_at, run_id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    fn checkpoint(&mut self, name: &str) -> anyhow::Result<Option<String>> {
        self.commit_group()?;
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM checkpoints WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn set_checkpoint(&mut self, name: &str, value: &str) -> anyhow::Result<()> {
        self.commit_group()?;
        self.conn.execute(
            "INSERT INTO checkpoints (name, value) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            params![name, value],
        )?;
        Ok(())
    }

    fn try_lock(&mut self, name: &str, holder: &str, ttl_ms: i64) -> anyhow::Result<LockAttempt> {
        self.commit_group()?;
        let now = now_millis();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<(String, i64)> = tx
            .query_row(
                "SELECT holder, expires_at FROM locks WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((current_holder, expires_at)) = current {
            if current_holder != holder && expires_at > now {
                return Ok(LockAttempt::Held {
                    holder: current_holder,
                    expires_at,
                });
            }
        }
        tx.execute(
            "INSERT INTO locks (name, holder, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
            params![name, holder, now + ttl_ms],
        )?;
        tx.commit()?;
        Ok(LockAttempt::Acquired)
    }

    fn unlock(&mut self, name: &str, holder: &str) -> anyhow::Result<()> {
        self.commit_group()?;
        self.conn.execute(
            "DELETE FROM locks WHERE name = ?1 AND holder = ?2",
            params![name, holder],
        )?;
        Ok(())
    }

    fn reopen(&self) -> anyhow::Result<Box<dyn Store>> {
        Ok(Box::new(SqliteStore::open(&self.path)?))
    }
}
