//! Opening an SQLite store: the schema and its version, the read-write
//! connection (WAL, schema created when missing) and the read-only one
//! (immutable when the folder is read-only), and the check that refuses a
//! file written by a newer chronicle.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::ids::LiveIds;
use super::SqliteStore;
use crate::fault::fault;
use crate::store::OpenMode;

/// 2 added `archived_ids`; a chronicle that only knows version 1 would not
/// look there and would re-import archived ids, so it must refuse the file.
/// 3 dropped the `(type, received_at, id)` index and moved the archived-id
/// filter's bitmap into a table of its own ([`upgrade_to_v3`]); a chronicle
/// that only knows version 2 names that index in its scans and the bitmap's
/// old column, so it must refuse the file too.
/// 4 moved the id index out of the `events` table into `recent_ids` and
/// `live_ids` ([`upgrade_to_v4`]); a chronicle that only knows version 3
/// would find no unique index on `events.id` and insert every id again.
pub(super) const SCHEMA_VERSION: i64 = 4;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq            INTEGER PRIMARY KEY,
    id             BLOB NOT NULL,
    received_at    INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    service        TEXT NOT NULL,
    type           TEXT NOT NULL,
    aggregate_id   TEXT,
    correlation_id TEXT,
    payload        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_received ON events(received_at, id);
CREATE TABLE IF NOT EXISTS live_ids (
    id  BLOB PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recent_ids (
    id  BLOB PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS live_ids_state (
    k          INTEGER PRIMARY KEY CHECK (k = 0),
    generation INTEGER NOT NULL,
    merged     INTEGER NOT NULL
);
CREATE VIEW IF NOT EXISTS event_ids AS
    SELECT id, seq FROM recent_ids UNION ALL SELECT id, seq FROM live_ids;
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
    records INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS archived_filter_bits (
    k    INTEGER PRIMARY KEY CHECK (k = 0),
    bits BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS locks (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
";

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
            ids: LiveIds::new(),
            checkpointer: None,
        })
    }
}

pub(super) fn open_read_write(path: &str) -> anyhow::Result<Connection> {
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
    upgrade_to_v3(&conn, path)?;
    upgrade_to_v4(&conn, path)?;
    conn.execute_batch(SCHEMA)
        .with_context(|| format!("cannot create the schema in sqlite:{path}"))?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
        .with_context(|| format!("cannot write to store sqlite:{path}"))?;
    Ok(conn)
}

/// Whether the file has a table or an index (`kind`) of this name: files of
/// older schema versions, opened read-only, lack some.
pub(super) fn has_object(conn: &Connection, kind: &str, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = ?1 AND name = ?2)",
        [kind, name],
        |r| r.get(0),
    )
}

/// Whether the file has the `(type, received_at, id)` index of schema
/// versions 1 and 2, which single-type scans then walk.
pub(super) fn has_type_index(conn: &Connection) -> rusqlite::Result<bool> {
    has_object(conn, "index", "events_type_received")
}

/// Upgrades a version 1 or 2 file, in one transaction with the version
/// number: a crash or a kill leaves the file as it was, and the next
/// writable open upgrades it. It drops the `(type, received_at, id)` index
/// and the archived-id filter, whose bitmap was a column of the row that
/// holds its version: every update of the version made SQLite read and
/// rewrite the whole bitmap, two transient copies of it in memory (64 MiB
/// at 10M archived ids, which took the archive past its 300 MB bound). The
/// filter is derived from the `archived_ids` records, and the next append
/// or archive run builds it again in its new table, in its own transaction.
/// Dropping frees pages without touching the events, so this takes seconds
/// even for a large store. Read-only opens leave old files as they are
/// (every query runs with or without the index; without the new filter
/// table, every id is looked up).
///
/// Why: every appended event paid a fourth b-tree insert for an index that
/// only single-type scans used: 21% of a 1M-event import's wall time, 28% of
/// a replay's, 7% of an archive's (docs/performance.md, "Schema version
/// 3"). A single-type scan now reads every row of its window and tests the
/// type: as fast as the index's walk for a type of 11% of the events (the
/// per-event work after SQLite dominates), about 0.2 s per million events
/// of the window for a rare one; `status`'s per-month counts take 0.1 s
/// more per million events.
fn upgrade_to_v3(conn: &Connection, path: &str) -> anyhow::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    // A new file gets the current schema as it is.
    if version >= 3 || !has_object(conn, "table", "events")? {
        return Ok(());
    }
    upgrade(conn, path, 3, || {
        // The filter's version goes on from the old one's rather than
        // starting again at 0, so that no connection that cached the old
        // filter can take the new one for its own.
        let old_version: Option<i64> = if has_object(conn, "table", "archived_filter")? {
            conn.query_row("SELECT version FROM archived_filter WHERE k = 0", [], |r| {
                r.get(0)
            })
            .optional()?
        } else {
            None
        };
        conn.execute_batch(
            "DROP INDEX IF EXISTS events_type_received;
             DROP TABLE IF EXISTS archived_filter;",
        )?;
        conn.execute_batch(SCHEMA)?;
        if let Some(version) = old_version {
            // No bitmap: read as "no filter", so every id is looked up
            // until the next append or archive run builds it again.
            conn.execute(
                "INSERT INTO archived_filter (k, version, records) VALUES (0, ?1, 0)",
                [version + 1],
            )?;
        }
        Ok(())
    })
}

/// Runs `step`, the upgrade to schema version `to`, in one transaction with
/// the version number: a crash or a kill leaves the file as it was, and the
/// next writable open upgrades it. Another process may have upgraded the
/// file while this one waited for the transaction; then there is nothing
/// left to do (and doing it again would, for version 3, restart the
/// archived-id filter's version numbers under connections that cache it by
/// version).
fn upgrade(
    conn: &Connection,
    path: &str,
    to: i64,
    step: impl FnOnce() -> rusqlite::Result<()>,
) -> anyhow::Result<()> {
    let run = || -> rusqlite::Result<()> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let now: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if now >= to {
            return conn.execute_batch("COMMIT");
        }
        step()?;
        conn.pragma_update(None, "user_version", to)?;
        fault("mid-upgrade");
        conn.execute_batch("COMMIT")
    };
    run().map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        anyhow::Error::new(e).context(format!(
            "cannot upgrade sqlite:{path} to schema version {to}, so it was left as it was"
        ))
    })
}

/// Upgrades a version 3 file ([`upgrade`]). SQLite drops the unique index
/// of a column only with its table, so the events are copied once into a
/// table without it, and their ids, read in order from that index, go into
/// `live_ids`. That takes about as long as importing the events again, and
/// the WAL grows to about the size of the file until the next checkpoint.
/// An index the owner created on `events` (docs/stores.md) is created again.
///
/// Why: see [`super::ids`]: the unique index took every new id at a random
/// leaf, which made a 10M-event import run at a third of a 1M one's rate.
fn upgrade_to_v4(conn: &Connection, path: &str) -> anyhow::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != 3 {
        return Ok(());
    }
    upgrade(conn, path, 4, || {
        let owners_indexes: Vec<String> = conn
            .prepare(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'
                 AND sql IS NOT NULL AND name != 'events_received'",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let new_events = SCHEMA
            .split_once("CREATE INDEX")
            .expect("the schema creates the events table first")
            .0
            .replace("IF NOT EXISTS events", "events_v4");
        conn.execute_batch(&new_events)?;
        // `OR ROLLBACK` spares a statement journal of every page these
        // statements change (see `ids::LiveIds::merge_if_due`).
        conn.execute_batch(
            "INSERT OR ROLLBACK INTO events_v4 SELECT seq, id, received_at, created_at, service, type,
                 aggregate_id, correlation_id, payload FROM events ORDER BY seq;",
        )?;
        // The rest of the schema (the id tables among it) is created here,
        // on the old table, and the ids are read off its unique index.
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(
            "INSERT OR ROLLBACK INTO live_ids (id, seq) SELECT id, seq FROM events ORDER BY id;
             INSERT INTO live_ids_state (k, generation, merged)
                 SELECT 0, 1, count(*) FROM live_ids;
             DROP TABLE events;
             ALTER TABLE events_v4 RENAME TO events;",
        )?;
        conn.execute_batch(SCHEMA)?;
        for sql in owners_indexes {
            conn.execute_batch(&sql)?;
        }
        Ok(())
    })
}

/// A read-only connection: nothing is created or changed, so status and
/// export work on a file the user may only read. A WAL database needs its
/// `-shm` index; when that cannot be created (the folder is read-only too)
/// the file is opened as immutable, which is safe because no writer can
/// work in such a folder either (it could not create its `-wal`).
pub(super) fn open_read_only(path: &str) -> anyhow::Result<Connection> {
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
    let has_schema = has_object(&conn, "table", "events")
        .with_context(|| format!("cannot read store sqlite:{path}"))?;
    anyhow::ensure!(
        has_schema,
        "sqlite:{path} is not a chronicle store (it has no events table)"
    );
    // A file older than version 4 keeps its ids in a unique index of
    // `events`: the view every id lookup reads is made over that, in the
    // connection's own temporary schema, so the file stays as it is.
    let has_view = has_object(&conn, "view", "event_ids")
        .with_context(|| format!("cannot read store sqlite:{path}"))?;
    if !has_view {
        conn.execute_batch("CREATE TEMP VIEW event_ids AS SELECT id, seq FROM main.events")
            .with_context(|| format!("cannot read store sqlite:{path}"))?;
    }
    Ok(conn)
}

/// Refuses a file written by a newer chronicle; any other failure to read
/// the header means the file is not a usable database.
pub(super) fn check_version(conn: &Connection, path: &str) -> anyhow::Result<()> {
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
pub(super) fn uri_escape(path: &str) -> String {
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
