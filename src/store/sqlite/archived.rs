//! Archived-id records in an SQLite store: the cached id filter (read,
//! refreshed, extended in the caller's transaction), the lookups inside a
//! read snapshot, and the compact integer form of partition names.

use rusqlite::{params, params_from_iter, Connection, DatabaseName, OptionalExtension, Row};
use uuid::Uuid;

use super::schema::has_object;
use super::{placeholders, SqliteStore, ID_CHUNK};
use crate::store::idfilter::IdFilter;
use crate::store::ArchivedId;

impl SqliteStore {
    /// False for a store written before archived-id records, opened read
    /// only (the schema is only created by a writable open): it has none.
    pub(super) fn has_archived_ids(&self) -> anyhow::Result<bool> {
        Ok(has_object(&self.conn, "table", "archived_ids")?)
    }

    pub(super) fn any_archived_ids(&self) -> anyhow::Result<bool> {
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
    pub(super) fn refresh_filter(&mut self, rebuild: bool) -> anyhow::Result<()> {
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

    /// [`crate::store::Store::get_archived`] inside the caller's read transaction.
    pub(super) fn archived_in_snapshot(&mut self, ids: &[Uuid]) -> anyhow::Result<Vec<ArchivedId>> {
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
}

/// The stored filter: (version, filter, records it was told about); version
/// -1 and no filter when the store has none, no filter when it is stored in
/// another format (see [`IdFilter::from_bytes`]) or its bitmap is missing
/// (a version-2 file opened read-only keeps it in its old column).
pub(super) fn read_filter(conn: &Connection) -> anyhow::Result<(i64, Option<IdFilter>, u64)> {
    let row: Option<(i64, i64)> = conn
        .query_row(
            "SELECT version, records FROM archived_filter WHERE k = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match row {
        Some((version, records)) if bits_len(conn)?.is_some() => {
            // Through the incremental blob API: straight from the pages into
            // one buffer, where reading the column would first assemble a
            // second copy of the whole bitmap (32 MiB at 10M archived ids).
            let blob = conn.blob_open(DatabaseName::Main, BITS_TABLE, "bits", 0, true)?;
            let mut bits = vec![0; blob.len()];
            blob.read_at_exact(&mut bits, 0)?;
            (version, IdFilter::from_bytes(bits), records as u64)
        }
        Some((version, records)) => (version, None, records as u64),
        None => (-1, None, 0),
    })
}

/// The table of the filter's bitmap: one row, apart from the row of its
/// version and record count, so that updating those never rewrites the
/// bitmap (an update of a row re-reads and re-encodes all of its columns).
const BITS_TABLE: &str = "archived_filter_bits";

/// The stored bitmap's length; none when there is no bitmap, or no table
/// for it (a file of schema version 2 or older, opened read-only).
fn bits_len(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    if !has_object(conn, "table", BITS_TABLE)? {
        return Ok(None);
    }
    // `length` of a blob reads the record's header, not the bitmap.
    conn.query_row(
        "SELECT length(bits) FROM archived_filter_bits WHERE k = 0",
        [],
        |r| r.get(0),
    )
    .optional()
}

/// Stores `filter` as the bitmap, with its version and record count. The
/// bytes are written through the incremental blob API rather than bound as
/// a parameter, which would cost two transient copies of the bitmap
/// (SQLite's copy of the parameter and the record built from it): 64 MiB at
/// 10M archived ids, at the archive's busiest moment (docs/archive.md,
/// "Memory").
fn write_filter(
    conn: &Connection,
    version: i64,
    records: u64,
    filter: &IdFilter,
) -> anyhow::Result<()> {
    let bytes = filter.as_bytes();
    conn.execute(
        "INSERT INTO archived_filter (k, version, records) VALUES (0, ?1, ?2)
         ON CONFLICT(k) DO UPDATE SET version = excluded.version, records = excluded.records",
        params![version, records as i64],
    )?;
    // Same size: the bitmap is overwritten in place. Otherwise (a first
    // filter, or one rebuilt larger) the old row goes and a zero-filled blob
    // of the new size comes; SQLite writes those zeros without a buffer. (An
    // upsert would read the old bitmap first.)
    if bits_len(conn)? != Some(bytes.len() as i64) {
        conn.execute("DELETE FROM archived_filter_bits WHERE k = 0", [])?;
        conn.execute(
            "INSERT INTO archived_filter_bits (k, bits) VALUES (0, zeroblob(?1))",
            [bytes.len() as i64],
        )?;
    }
    let mut blob = conn.blob_open(DatabaseName::Main, BITS_TABLE, "bits", 0, false)?;
    blob.write_at(bytes, 0)?;
    Ok(())
}

/// Adds `ids` (just recorded) to the stored filter, inside the caller's
/// transaction; the filter is rebuilt from every record when it is missing,
/// in another format, or would be over its capacity. `cached` is the connection's copy of the
/// filter: when it is still the stored version it is updated in place
/// rather than read again, so that memory holds one filter (32 MiB at 10M
/// archived ids), not two. Returns the new (version, filter).
pub(super) fn add_to_filter<'a>(
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
        outgrown => {
            // The old filter goes first: at 10M archived ids it is 16 MiB
            // beside the new one's 32.
            drop(outgrown);
            let n: i64 = conn.query_row("SELECT count(*) FROM archived_ids", [], |r| r.get(0))?;
            let mut f = IdFilter::for_records(n as u64);
            insert_ids_of(conn, "archived_ids", &mut f)?;
            (f, n as u64)
        }
    };
    let version = version + 1;
    write_filter(conn, version, records, &filter)?;
    Ok((version, filter))
}

/// Sets the filter's bits for every id in `table` (one with an `id`
/// column of 16-byte blobs), read straight from SQLite's pages.
pub(super) fn insert_ids_of(
    conn: &Connection,
    table: &str,
    filter: &mut IdFilter,
) -> anyhow::Result<()> {
    let mut stmt = conn.prepare(&format!("SELECT id FROM {table}"))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        filter.insert(&Uuid::from_slice(row.get_ref(0)?.as_blob()?)?);
    }
    Ok(())
}

/// Partitions are kept as integers (`2016-01` as 201601, `2016-01-05` as
/// 20160105): 3 or 4 bytes a record instead of 7 or 10.
pub(super) fn partition_code(partition: &str) -> anyhow::Result<i64> {
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

pub(super) fn partition_name(code: i64) -> String {
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

pub(super) fn archived_from_row(row: &Row<'_>) -> rusqlite::Result<ArchivedId> {
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
