//! The id index of an SQLite store's live events, in two tables: new ids go
//! into `recent_ids`, small enough to stay in SQLite's page cache, and are
//! merged into `live_ids` in id order once a million have gathered. Ids are
//! random, so one large index takes every insert at a random leaf: past
//! about 2 million events its leaves no longer fit the 64 MiB cache, and
//! nearly every insert read a 16 KiB page from the kernel and later wrote it
//! back (a 10M-event import ran at a third of the 1M import's rate,
//! docs/performance.md). A merge writes each leaf of `live_ids` once for a
//! million ids instead.
//!
//! An id is in at most one of the two tables (a merge moves ids, and an id
//! is only added to `recent_ids` after `live_ids` was asked, all under the
//! writer's lock), so the `event_ids` view over both is the one place that
//! maps an id to its event's `seq`. New ids skip the probe of `live_ids`
//! where an in-memory [`IdFilter`] over it says "not there"; the filter is
//! built by a scan of `live_ids`, kept up to date by this connection's own
//! merges, and dropped when another connection merged (the merge counter,
//! `generation`, moved on), as its bits would then miss those ids.
//!
//! A merge that outgrows the filter does not scan `live_ids` again in the
//! writer's transaction: the ids it moved go into the old filter, which is
//! then fuller than it was sized for (more ids reach a probe, none is
//! missed), and a thread of its own scans `live_ids` for a larger filter on
//! a read-only connection, from the committed file, beside the writer. The
//! writer takes that filter at a group's start if no merge came after the
//! scan's snapshot. Those scans were a quarter of what a 10M import spends
//! beyond a 1M one's per event (docs/performance.md).

use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params_from_iter, Connection, InterruptHandle, OpenFlags, OptionalExtension};
use uuid::Uuid;

use super::archived::insert_ids_of;
use super::schema::SCHEMA;
use super::{placeholders, ID_CHUNK};
use crate::store::idfilter::IdFilter;

/// `recent_ids` is merged into `live_ids` when a group commits with at
/// least this many ids in it: about 25 MB of index, well inside the cache.
pub(super) const MERGE_IDS: i64 = 1_000_000;

/// What one connection knows of the id index.
pub(super) struct LiveIds {
    /// [`MERGE_IDS`], smaller in tests.
    merge_ids: i64,
    /// The filter over `live_ids` and the `generation` it is complete for.
    filter: Option<(i64, IdFilter)>,
    /// Events appended while there was no filter: once they are an eighth
    /// of `live_ids`, scanning it for a filter costs less than the probes
    /// it spares, so a small import into a large store does not pay the
    /// scan.
    unfiltered: u64,
    /// The `seq` the next inserted event takes, read at each group's start.
    next_seq: i64,
    /// The scan for a larger filter once merges outgrew this one, running
    /// on a connection of its own; it gives the filter with the
    /// `generation` of the snapshot it read.
    scan: Option<Scan>,
}

/// `(generation, merged)` of the stored index: how many merges there have
/// been and how many ids `live_ids` holds.
fn state(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    Ok(conn
        .query_row(
            "SELECT generation, merged FROM live_ids_state WHERE k = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, 0)))
}

fn set_state(conn: &Connection, generation: i64, merged: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO live_ids_state (k, generation, merged) VALUES (0, ?1, ?2)
         ON CONFLICT(k) DO UPDATE SET generation = excluded.generation, merged = excluded.merged",
        [generation, merged],
    )?;
    Ok(())
}

/// Bits per id of the filter over `live_ids`: half the archived-id
/// filter's load, 16 MiB at 10M ids (32 took a 10M import past its 150 MB
/// bound); it lets 1 to 4% of new ids through to a probe (the test in
/// idfilter.rs).
const BITS_PER_ID: u64 = 8;

/// A filter over every id in `live_ids`, sized for `merged` ids and one
/// more merge of `merge_ids`.
fn scan_filter(conn: &Connection, merged: i64, merge_ids: i64) -> anyhow::Result<IdFilter> {
    let mut filter = IdFilter::for_load((merged + merge_ids) as u64, BITS_PER_ID);
    insert_ids_of(conn, "live_ids", &mut filter)?;
    Ok(filter)
}

/// [`scan_filter`] running on a read-only connection of its own.
struct Scan {
    /// The filter and the `generation` of the snapshot it was read from.
    thread: JoinHandle<anyhow::Result<(i64, IdFilter)>>,
    /// Stops the scan when the store closes.
    interrupt: InterruptHandle,
}

impl Scan {
    /// Starts the scan: one read transaction, so the `generation` it
    /// returns is the one its ids are complete for. In WAL mode it reads
    /// the last commit while the writer goes on.
    fn start(path: &str, merge_ids: i64) -> anyhow::Result<Scan> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let interrupt = conn.get_interrupt_handle();
        let thread = std::thread::Builder::new()
            .name("sqlite-id-scan".into())
            .spawn(move || {
                conn.execute_batch("BEGIN")?;
                let (generation, merged) = state(&conn)?;
                let filter = scan_filter(&conn, merged, merge_ids)?;
                conn.execute_batch("COMMIT")?;
                Ok((generation, filter))
            })?;
        Ok(Scan { thread, interrupt })
    }
}

impl LiveIds {
    pub(super) fn new() -> LiveIds {
        LiveIds {
            merge_ids: MERGE_IDS,
            filter: None,
            unfiltered: 0,
            next_seq: 1,
            scan: None,
        }
    }

    /// At the start of a write transaction: where the next event goes, and
    /// whether the filter still covers `live_ids`. `path` is the store's
    /// file, for a scan on a connection of its own.
    pub(super) fn begin(&mut self, conn: &Connection, path: &str) -> anyhow::Result<()> {
        self.next_seq =
            conn.query_row("SELECT coalesce(max(seq), 0) + 1 FROM events", [], |r| {
                r.get(0)
            })?;
        let (generation, merged) = state(conn)?;
        if self
            .scan
            .as_ref()
            .is_some_and(|scan| scan.thread.is_finished())
        {
            let scan = self.scan.take().expect("checked").thread.join();
            match scan {
                // Taken only when no merge came after its snapshot (one
                // of this connection's since then starts another below).
                Ok(Ok((g, filter))) if g == generation => {
                    self.filter = Some((g, filter));
                    self.unfiltered = 0;
                }
                Ok(Ok(_)) => {}
                // A scan that could not run (the file unreadable to a
                // second connection, say) is made here, as before.
                Ok(Err(_)) | Err(_) => {
                    self.filter = Some((generation, scan_filter(conn, merged, self.merge_ids)?));
                    self.unfiltered = 0;
                }
            }
        }
        if self.filter.as_ref().is_some_and(|(g, _)| *g != generation) {
            self.filter = None;
            self.unfiltered = 0;
        }
        if self.filter.is_none() && self.unfiltered.saturating_mul(8) >= merged as u64 {
            self.filter = Some((generation, scan_filter(conn, merged, self.merge_ids)?));
            self.unfiltered = 0;
        }
        // The writer holds its lock from here, so the scan reads the
        // commit this group starts from.
        let outgrown = |(_, f): &(i64, IdFilter)| merged as u64 > f.capacity();
        if self.scan.is_none() && self.filter.as_ref().is_some_and(outgrown) {
            // One that cannot start is tried again at the next group; the
            // outgrown filter serves meanwhile.
            self.scan = Scan::start(path, self.merge_ids).ok();
        }
        Ok(())
    }

    /// Stops a scan under way, before the store's writer closes: the
    /// writer, as the last connection, then checkpoints and removes the
    /// WAL.
    pub(super) fn stop_scan(&mut self) {
        if let Some(scan) = self.scan.take() {
            scan.interrupt.interrupt();
            let _ = scan.thread.join();
        }
    }

    /// Drops the filter, after a merge that may not have committed.
    pub(super) fn forget(&mut self) {
        self.filter = None;
        self.unfiltered = 0;
    }

    /// The filter over `live_ids`, when this connection has one.
    pub(super) fn filter(&self) -> Option<&IdFilter> {
        self.filter.as_ref().map(|(_, f)| f)
    }

    /// Counts events appended without a filter.
    pub(super) fn appended(&mut self, events: usize) {
        if self.filter.is_none() {
            self.unfiltered += events as u64;
        }
    }

    /// The `seq` for the next inserted event.
    pub(super) fn take_seq(&mut self) -> i64 {
        self.next_seq += 1;
        self.next_seq - 1
    }

    /// Before a group commits, inside its transaction: merges `recent_ids`
    /// into `live_ids` once it holds [`MERGE_IDS`] ids, so the merge
    /// commits or rolls back with the events it indexes.
    pub(super) fn merge_if_due(&mut self, conn: &Connection) -> anyhow::Result<()> {
        let recent: i64 = conn.query_row("SELECT count(*) FROM recent_ids", [], |r| r.get(0))?;
        if recent < self.merge_ids {
            return Ok(());
        }
        let (generation, merged) = state(conn)?;
        let merged = merged + recent;
        // A filter another connection's merge made stale stays dropped.
        let current = match self.filter.take() {
            Some((g, filter)) if g == generation => Some(filter),
            _ => None,
        };
        if let Some(mut filter) = current {
            // Outgrown, it still takes the ids: fuller than it was sized
            // for, it lets more new ids through to a probe, and a larger
            // one is scanned for beside the writer once this commits
            // (`begin`).
            insert_ids_of(conn, "recent_ids", &mut filter)?;
            self.filter = Some((generation + 1, filter));
        }
        let into_empty: bool =
            conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM live_ids)", [], |r| {
                r.get(0)
            })?;
        if into_empty {
            // The first merge of a store (a bulk load into a new one, say)
            // renames `recent_ids` rather than copying it: the tables are
            // alike, and a new empty `recent_ids` (and the view, which
            // names both) comes from the schema.
            conn.execute_batch(
                "DROP VIEW event_ids;
                 DROP TABLE live_ids;
                 ALTER TABLE recent_ids RENAME TO live_ids;",
            )?;
            conn.execute_batch(SCHEMA)?;
        } else {
            Self::merge_into(conn)?;
        }
        set_state(conn, generation + 1, merged)?;
        Ok(())
    }

    /// Moves every id of `recent_ids` into a `live_ids` that holds some.
    fn merge_into(conn: &Connection) -> anyhow::Result<()> {
        // Both tables are read and written in id order: each leaf of
        // `live_ids` is written once, and clearing `recent_ids` frees its
        // pages without visiting its rows. `OR ROLLBACK`: an id already in
        // `live_ids` (which the append never lets happen) fails the whole
        // group. A plain INSERT of many rows could be undone alone, so
        // SQLite would keep the old copy of every page it changes in a
        // statement journal, in memory here (`temp_store`): 300 MB for a
        // million ids merged into ten.
        conn.execute_batch(
            "INSERT OR ROLLBACK INTO live_ids (id, seq) SELECT id, seq FROM recent_ids;
             DELETE FROM recent_ids;",
        )?;
        Ok(())
    }
}

/// Deletes the live events whose id is one of `ids`, with their entries in
/// the id index; returns how many events were deleted. The caller holds the
/// transaction; `done` hears how many ids have been handled so far.
///
/// Both phases go in key order: the ids out of the id index sorted by id,
/// then their events by `seq`, which is the order the events table was
/// written in. In the callers' order (the scan's, `(received_at, id)`) each
/// id is a probe at a random leaf of the id index, and the whole delete
/// took about 1.4 times as long (docs/performance.md, "Schema version 4").
pub(super) fn delete_events<'a>(
    conn: &Connection,
    ids: impl IntoIterator<Item = &'a Uuid>,
    done: &mut dyn FnMut(usize),
) -> anyhow::Result<u64> {
    let mut ids: Vec<&Uuid> = ids.into_iter().collect();
    ids.sort_unstable();
    // Most deletes (the archive's) come after a merge, with `recent_ids`
    // empty: then only `live_ids` is asked.
    let any_recent: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM recent_ids)", [], |r| r.get(0))?;
    let tables: &[&str] = if any_recent {
        &["recent_ids", "live_ids"]
    } else {
        &["live_ids"]
    };
    let mut seqs: Vec<i64> = Vec::with_capacity(ids.len());
    let mut merged_gone = 0i64;
    for (n, chunk) in ids.chunks(ID_CHUNK).enumerate() {
        let list = placeholders(chunk.len());
        for table in tables {
            let before = seqs.len();
            let mut stmt = conn.prepare_cached(&format!(
                "DELETE FROM {table} WHERE id IN ({list}) RETURNING seq"
            ))?;
            let mut rows =
                stmt.query(params_from_iter(chunk.iter().map(|id| &id.as_bytes()[..])))?;
            while let Some(row) = rows.next()? {
                seqs.push(row.get(0)?);
            }
            if *table == "live_ids" {
                merged_gone += (seqs.len() - before) as i64;
            }
        }
        done(n * ID_CHUNK);
    }
    drop(ids);
    // `merged` sizes the filter and decides when to scan for one: after an
    // archive run took most live events, it should not still count them.
    if merged_gone > 0 {
        conn.execute(
            "UPDATE live_ids_state SET merged = max(0, merged - ?1) WHERE k = 0",
            [merged_gone],
        )?;
    }
    seqs.sort_unstable();
    let mut deleted = 0u64;
    for chunk in seqs.chunks(ID_CHUNK) {
        let mut stmt = conn.prepare_cached(&format!(
            "DELETE FROM events WHERE seq IN ({})",
            placeholders(chunk.len())
        ))?;
        deleted += stmt.execute(params_from_iter(chunk.iter()))? as u64;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use uuid::Uuid;

    use super::super::SqliteStore;
    use crate::event::Event;
    use crate::store::{AppendOutcome, Store};

    fn event(n: u128, payload: &str) -> Event {
        Event {
            // Spread over the id space, as random ids are.
            id: Uuid::from_u128(n.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)),
            service: "core".into(),
            event_type: "t".into(),
            created_at: 1_000 + n as i64,
            received_at: Some(2_000 + n as i64),
            aggregate_id: None,
            correlation_id: None,
            payload: payload.into(),
        }
    }

    fn store_path(dir: &tempfile::TempDir) -> String {
        dir.path().join("store.db").to_str().unwrap().to_string()
    }

    fn open(path: &str, merge_ids: i64) -> SqliteStore {
        let mut store = SqliteStore::open(path).unwrap();
        store.ids.merge_ids = merge_ids;
        store
    }

    /// "i" inserted, "d" duplicate, "c" conflict, "a" archived.
    fn outcomes(store: &mut SqliteStore, events: &[Event]) -> String {
        let out = store.append(events).unwrap();
        store.flush().unwrap();
        out.iter()
            .map(|o| match o {
                AppendOutcome::Inserted => 'i',
                AppendOutcome::Duplicate => 'd',
                AppendOutcome::Conflict { .. } => 'c',
                _ => 'a',
            })
            .collect()
    }

    fn count(path: &str, sql: &str) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    /// (events, distinct ids, ids in `live_ids`, ids in `recent_ids`).
    fn tables(path: &str) -> (i64, i64, i64, i64) {
        (
            count(path, "SELECT count(*) FROM events"),
            count(path, "SELECT count(DISTINCT id) FROM events"),
            count(path, "SELECT count(*) FROM live_ids"),
            count(path, "SELECT count(*) FROM recent_ids"),
        )
    }

    #[test]
    fn ids_stay_taken_across_merges_and_other_connections_merges() {
        let dir = tempfile::tempdir().unwrap();
        let path = &store_path(&dir);
        let mut a = open(path, 3);
        let first: Vec<Event> = (1..=5).map(|n| event(n, "{}")).collect();
        assert_eq!(outcomes(&mut a, &first), "iiiii");
        assert_eq!(tables(path), (5, 5, 5, 0), "merged at the commit");
        let again = [
            event(2, "{}"),
            event(3, r#"{"x":1}"#),
            event(6, "{}"),
            event(6, "{}"),
            event(7, r#"{"x":1}"#),
            event(7, "{}"),
        ];
        assert_eq!(outcomes(&mut a, &again), "dcidic");
        assert_eq!(tables(path), (7, 7, 5, 2));

        // Another connection merges: `a`'s filter no longer covers
        // `live_ids`, and must not be trusted for 8 and 9.
        let mut b = open(path, 3);
        let theirs: Vec<Event> = (8..=9).map(|n| event(n, "{}")).collect();
        assert_eq!(outcomes(&mut b, &theirs), "ii");
        assert_eq!(tables(path), (9, 9, 9, 0));
        let mine = [event(8, "{}"), event(9, r#"{"x":1}"#), event(10, "{}")];
        assert_eq!(outcomes(&mut a, &mine), "dci");
        assert_eq!(outcomes(&mut b, &[event(10, "{}")]), "d");

        // Found and deleted wherever the id is indexed; a deleted id is
        // free again.
        let ids: Vec<Uuid> = [1, 6, 10].map(|n| event(n, "{}").id).to_vec();
        let mut found: Vec<Uuid> = a.get_many(&ids).unwrap().iter().map(|e| e.id).collect();
        found.sort();
        let mut wanted = ids.clone();
        wanted.sort();
        assert_eq!(found, wanted);
        assert_eq!(count(path, "SELECT merged FROM live_ids_state"), 9);
        assert_eq!(a.delete_ids(&ids).unwrap(), 3);
        assert!(a.get_many(&ids).unwrap().is_empty());
        assert_eq!(tables(path), (7, 7, 7, 0));
        assert_eq!(count(path, "SELECT merged FROM live_ids_state"), 7);
        assert_eq!(outcomes(&mut b, &[event(1, r#"{"x":1}"#)]), "i");
        assert_eq!(outcomes(&mut a, &[event(1, r#"{"x":1}"#)]), "d");
    }

    /// Waits for the connection's filter scan, if one runs.
    fn scan_finished(store: &SqliteStore) {
        while store
            .ids
            .scan
            .as_ref()
            .is_some_and(|s| !s.thread.is_finished())
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// A store that merges in every group (each scan started at a group's
    /// start is then made stale by that group's merge), filled with ids
    /// `0..n` in groups of 10,000, each scan finished before the next
    /// group (which must not take it); returns how many groups started one.
    fn fill_merging_every_group(path: &str, n: u128) -> (SqliteStore, Vec<Event>, usize) {
        let mut store = open(path, 10_000);
        let all: Vec<Event> = (0..n).map(|n| event(n, "{}")).collect();
        let mut scans = 0;
        for batch in all.chunks(10_000) {
            assert!(outcomes(&mut store, batch).chars().all(|c| c == 'i'));
            scans += usize::from(store.ids.scan.is_some());
            scan_finished(&store);
        }
        (store, all, scans)
    }

    /// Merges past the filter's capacity make this connection scan
    /// `live_ids` again, larger, beside the writer: every id stays found
    /// while the outgrown filter is in use, a scan whose snapshot a later
    /// merge made stale is not taken, and the larger filter is.
    #[test]
    fn a_filter_outgrown_by_merges_is_scanned_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = &store_path(&dir);
        let (mut store, all, scans) = fill_merging_every_group(path, 300_000);
        assert!(scans > 0, "no scan beside the writer");
        for batch in all.chunks(10_000) {
            assert!(outcomes(&mut store, batch).chars().all(|c| c == 'd'));
        }
        let (events, distinct, live, recent) = tables(path);
        assert_eq!(
            (events, distinct, live + recent),
            (300_000, 300_000, 300_000)
        );
        // The first filter was sized for 131,072 ids (its least size);
        // the one scanned last is taken at the next group's start.
        scan_finished(&store);
        assert_eq!(outcomes(&mut store, &all[..1]), "d");
        let capacity = store.ids.filter().unwrap().capacity();
        assert!(
            capacity >= live as u64 && live > 131_072,
            "{capacity} {live}"
        );
    }

    /// A store closed while its scan runs stops the scan first, so that
    /// the writer is the last connection: it checkpoints and removes the
    /// WAL, as it would without the scan.
    #[test]
    fn a_scan_under_way_is_stopped_when_the_store_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = &store_path(&dir);
        let (mut store, _, _) = fill_merging_every_group(path, 200_000);
        // The last scan is stale (its group merged): this group starts
        // another, and the store closes while it reads 200,000 ids.
        store.append(&[event(200_000, "{}")]).unwrap();
        assert!(store.ids.scan.is_some(), "no scan under way");
        drop(store);
        assert!(!std::path::Path::new(&format!("{path}-wal")).exists());
        let mut again = SqliteStore::open(path).unwrap();
        assert_eq!(outcomes(&mut again, &[event(200_000, "{}")]), "d");
    }

    /// A merge that fails (here an id already in `live_ids`, which only a
    /// hand-made change can cause) rolls back the whole group, says so, and
    /// leaves the store as its last commit left it.
    #[test]
    fn a_failed_merge_rolls_back_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = &store_path(&dir);
        let mut store = open(path, 3);
        assert_eq!(
            outcomes(&mut store, &[event(1, "{}"), event(2, "{}")]),
            "ii"
        );
        Connection::open(path)
            .unwrap()
            .execute(
                "INSERT INTO live_ids (id, seq) VALUES (?1, 999)",
                [&event(3, "{}").id.as_bytes()[..]],
            )
            .unwrap();
        store.append(&[event(3, "{}"), event(4, "{}")]).unwrap();
        let err = store.flush().unwrap_err();
        assert!(format!("{err:#}").contains("rolled back"), "{err:#}");
        assert_eq!(tables(path), (2, 2, 1, 2));
        assert!(store.ids.filter().is_none(), "the filter was kept");
        // The next group starts from the committed state.
        assert_eq!(
            outcomes(&mut store, &[event(4, "{}"), event(2, "{}")]),
            "id"
        );
    }

    /// A group whose start failed after its `BEGIN` (here the id index's
    /// state cannot be read) is never appended to: it never learnt whether
    /// its filter still covers `live_ids`. The next append rolls it back.
    #[test]
    fn a_group_that_failed_to_start_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = &store_path(&dir);
        let mut store = open(path, 3);
        assert_eq!(outcomes(&mut store, &[event(1, "{}")]), "i");
        Connection::open(path)
            .unwrap()
            .execute_batch("ALTER TABLE live_ids_state RENAME TO hidden")
            .unwrap();
        assert!(store.append(&[event(2, "{}")]).is_err());
        assert!(
            store.append(&[event(3, "{}")]).is_err(),
            "appended into a group that never read the id index's state"
        );
    }
}
