//! The embedded default store: one SQLite file in WAL mode.
//!
//! Ids are stored as 16-byte blobs: their byte order equals the order of the
//! lowercase hyphenated text, so (received_at, id) orders the same way here
//! as in MongoDB and in the archive, and the indexes stay small enough to
//! remain cached during a large import.
//!
//! Appends are grouped into transactions of up to [`GROUP_EVENTS`] events or
//! [`GROUP_TIME`]: the index of new ids (`recent_ids`, see [`ids`]) takes
//! random inserts, so every commit rewrites most of its pages into the
//! WAL, and committing every few thousand events would write that index
//! hundreds of times over. A kill -9
//! loses at most the open group; the file stays consistent and re-running
//! the idempotent job completes it.

mod archived;
mod checkpointer;
mod ids;
mod schema;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row, TransactionBehavior};
use uuid::Uuid;

use super::idfilter::IdFilter;
use super::{
    archived_outcome, AppendOutcome, ArchivedBatch, ArchivedCount, ArchivedId, ImportRun,
    LockAttempt, MonthCount, ScanCursor, ScanFilter, Store,
};
use crate::event::{now_millis, Event};
use crate::progress::{Progress, Unit};

use archived::{add_to_filter, archived_from_row, partition_code, partition_name};
use checkpointer::Checkpointer;
use ids::{delete_events, LiveIds};

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
    /// What this connection knows of the live id index (see [`ids`]).
    ids: LiveIds,
    /// WAL checkpoints beside the writer, from the first append group's
    /// commit on (see [`checkpointer`]).
    checkpointer: Option<Checkpointer>,
}

impl SqliteStore {
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
            // A merge that does not commit leaves the connection's filter
            // ahead of the file: it is dropped, to be scanned again.
            if let Err(e) = self.ids.merge_if_due(&self.conn) {
                self.ids.forget();
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(e.context(format!(
                    "cannot merge the id index of sqlite:{}; the uncommitted events were rolled back",
                    self.path
                )));
            }
            if let Err(e) = self.conn.execute_batch("COMMIT") {
                self.ids.forget();
                return Err(
                    anyhow::Error::new(e).context(format!("cannot commit to sqlite:{}", self.path))
                );
            }
            if self.checkpointer.is_none() {
                // Without one (no second connection could be opened), the
                // writer checkpoints as SQLite does by default.
                self.checkpointer = Checkpointer::start(&self.path, &self.conn).ok();
            }
            if let Some(checkpointer) = &self.checkpointer {
                checkpointer.nudge();
            }
        }
        Ok(())
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Whatever was appended is complete and valid on its own.
        let _ = self.commit_group();
        // Both closed before the writer, which as the last connection then
        // checkpoints what is left and removes the WAL.
        self.ids.stop_scan();
        drop(self.checkpointer.take());
    }
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
        // Set before the group's start too: a start that fails after its
        // `BEGIN` leaves a group that never learnt its filters' state, and
        // the next append then rolls it back rather than appending to it.
        self.appending = true;
        if self.open_group.is_none() {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.open_group = Some((Instant::now(), 0));
            self.refresh_filter(true)?;
            self.ids.begin(&self.conn, &self.path)?;
        }
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
        // The filter's verdicts for the whole batch first, in one pass (see
        // `IdFilter::may_contain_each`); none means "look every id up".
        let maybe_archived =
            filter.map(|f| f.may_contain_each(order.iter().map(|&i| &events[i].id)));
        // The same for the filter over the merged id index: an id whose
        // bits are clear is not there, and only `recent_ids` is asked.
        let maybe_live = self
            .ids
            .filter()
            .map(|f| f.may_contain_each(order.iter().map(|&i| &events[i].id)));
        {
            let tx = &self.conn;
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (seq, id, received_at, created_at, service, type, aggregate_id, correlation_id, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            // Taking the id in `recent_ids` is the uniqueness check for ids
            // not merged yet: one descent, as the unique index's insert was.
            let mut take_recent = tx.prepare_cached(
                "INSERT INTO recent_ids (id, seq) VALUES (?1, ?2) ON CONFLICT(id) DO NOTHING",
            )?;
            let mut in_recent = tx.prepare_cached("SELECT seq FROM recent_ids WHERE id = ?1")?;
            let mut in_live = tx.prepare_cached("SELECT seq FROM live_ids WHERE id = ?1")?;
            let mut existing = tx.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE seq = ?1"
            ))?;
            let mut archived =
                tx.prepare_cached("SELECT id, hash, part FROM archived_ids WHERE id = ?1")?;
            for (k, &i) in order.iter().enumerate() {
                let event = &events[i];
                let id = &event.id.as_bytes()[..];
                // The archived-id record first: an archived id is never
                // inserted again, whatever the live store holds.
                let record = if maybe_archived.as_ref().is_none_or(|maybe| maybe[k]) {
                    archived.query_row([id], archived_from_row).optional()?
                } else {
                    None
                };
                if let Some(record) = record {
                    outcomes[i] = Some(archived_outcome(event, &record));
                    continue;
                }
                let merged: Option<i64> = if maybe_live.as_ref().is_none_or(|maybe| maybe[k]) {
                    in_live.query_row([id], |r| r.get(0)).optional()?
                } else {
                    None
                };
                let stored_at = match merged {
                    Some(seq) => Some(seq),
                    None => {
                        let seq = self.ids.take_seq();
                        if take_recent.execute(params![id, seq])? == 1 {
                            insert.execute(params![
                                seq,
                                id,
                                event.received_at.unwrap_or(now),
                                event.created_at,
                                event.service,
                                event.event_type,
                                event.aggregate_id,
                                event.correlation_id,
                                event.payload,
                            ])?;
                            None
                        } else {
                            Some(in_recent.query_row([id], |r| r.get(0))?)
                        }
                    }
                };
                outcomes[i] = Some(match stored_at {
                    None => AppendOutcome::Inserted,
                    Some(seq) => {
                        let stored = existing.query_row([seq], event_from_row)?;
                        if stored.same_content(event) {
                            AppendOutcome::Duplicate
                        } else {
                            AppendOutcome::Conflict {
                                stored: Box::new(stored),
                            }
                        }
                    }
                });
            }
        }
        self.ids.appended(events.len());
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
        // Scans walk the (received_at, id) index and test each row's type:
        // without the index SQLite might sort every matching row before
        // applying LIMIT. A single type walks the type index instead where
        // the file has one: an older file opened read-only (never
        // upgraded), or one whose owner created it again (docs/stores.md).
        // Asked per page rather than once, as another process may upgrade
        // the file while this one reads it.
        let index = if filter.types.len() == 1 && schema::has_type_index(&self.conn)? {
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
                "SELECT {EVENT_COLUMNS} FROM events WHERE seq IN (SELECT seq FROM event_ids WHERE id IN ({}))",
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
        let deleted = delete_events(&tx, ids, &mut |_| {})?;
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
        // The live copies, in the orders `delete_events` chooses.
        let deleted = if delete_live {
            delete_events(&tx, records.iter().map(|r| &r.id), &mut |_| {})?
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
        // The live copies, in the orders `delete_events` chooses.
        let deleted = if delete_live {
            progress.start(batch.phase_label(true), Some(batch.len()), Unit::Events);
            let mut at = 0;
            let deleted = delete_events(&tx, batch.ids.iter(), &mut |n| {
                if n >= at {
                    progress.set_position(n as u64);
                    at = n + PROGRESS_STEP;
                }
            })?;
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
