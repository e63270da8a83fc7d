//! SQL sinks of `table` and `latest` projections (the database named by a
//! projection's `target` key): a trait with one module per database, plus
//! the bookkeeping every sink holds: the
//! `chronicle_projections` table with each projection's checkpoint, written
//! in the same transaction as the projection's rows.
//!
//! The trait is deliberately small (transactions, statements, queries);
//! the few spots where SQLite and PostgreSQL differ are in [`Dialect`].

pub mod postgres;
pub mod sqlite;

use serde::{Deserialize, Serialize};

use super::config::SqlType;
use crate::event::Millis;

/// A value bound to or read from a statement. Exact decimals travel as
/// text; the placeholder's cast (see [`Dialect::param`]) makes them NUMERIC
/// in PostgreSQL.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
}

impl SqlValue {
    pub fn text(value: Option<String>) -> SqlValue {
        value.map(SqlValue::Text).unwrap_or(SqlValue::Null)
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            SqlValue::Int(n) => Some(*n),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The `n`th (1-based) placeholder for a value of type `ty`.
    pub fn param(self, n: usize, ty: SqlType) -> String {
        match (self, ty) {
            (Dialect::Sqlite, _) => format!("?{n}"),
            (Dialect::Postgres, SqlType::Int) => format!("${n}::int8"),
            (Dialect::Postgres, SqlType::Text) => format!("${n}::text"),
            (Dialect::Postgres, SqlType::Numeric) => format!("${n}::text::numeric"),
        }
    }

    pub fn column_type(self, ty: SqlType) -> &'static str {
        match (self, ty) {
            (Dialect::Sqlite, SqlType::Int) => "INTEGER",
            (Dialect::Postgres, SqlType::Int) => "BIGINT",
            (_, SqlType::Text) => "TEXT",
            // SQLite has no exact decimal type: the exact text is kept.
            (Dialect::Sqlite, SqlType::Numeric) => "TEXT",
            (Dialect::Postgres, SqlType::Numeric) => "NUMERIC",
        }
    }

    /// A column as it must be selected to read it back as [`SqlValue`].
    pub fn select(self, column: &str, ty: SqlType) -> String {
        match (self, ty) {
            (Dialect::Postgres, SqlType::Numeric) => format!("{}::text", quote(column)),
            _ => quote(column),
        }
    }

    /// Equality that treats two NULLs as equal.
    pub fn null_safe_eq(self) -> &'static str {
        match self {
            Dialect::Sqlite => "IS",
            Dialect::Postgres => "IS NOT DISTINCT FROM",
        }
    }
}

/// Quotes an identifier (names are validated by the config already).
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL database that a projection writes to.
pub trait SqlSink: Send {
    fn describe(&self) -> String;
    fn dialect(&self) -> Dialect;
    fn begin(&mut self) -> anyhow::Result<()>;
    fn commit(&mut self) -> anyhow::Result<()>;
    fn rollback(&mut self) -> anyhow::Result<()>;
    /// Runs one statement; returns the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> anyhow::Result<u64>;
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> anyhow::Result<Vec<Vec<SqlValue>>>;
    fn table_exists(&mut self, table: &str) -> anyhow::Result<bool>;
}

/// The number of rows in `table`.
pub fn count_rows(sink: &mut dyn SqlSink, table: &str) -> anyhow::Result<u64> {
    let rows = sink.query(&format!("SELECT COUNT(*) FROM {}", quote(table)), &[])?;
    match rows
        .first()
        .and_then(|r| r.first())
        .and_then(SqlValue::as_int)
    {
        Some(n) => Ok(n as u64),
        None => anyhow::bail!("{}: cannot count the rows of {table}", sink.describe()),
    }
}

/// True for a `sqlite:FILE` target whose file does not exist yet.
pub fn sqlite_file_missing(uri: &str) -> bool {
    matches!(crate::store::sqlite_path(uri), Ok(Some(path)) if !std::path::Path::new(path).exists())
}

/// Connects to `sqlite:FILE` or `postgres://...`.
pub fn open(uri: &str) -> anyhow::Result<Box<dyn SqlSink>> {
    if let Some(path) = crate::store::sqlite_path(uri)? {
        return Ok(Box::new(sqlite::SqliteTarget::open(path)?));
    }
    if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
        return Ok(Box::new(postgres::PostgresTarget::open(uri)?));
    }
    anyhow::bail!(
        "unsupported projection target `{}` (expected sqlite:FILE or postgres://...)",
        crate::redact::redact_uri(uri)
    )
}

/// What a target (or, for `exec`, the store) remembers of a projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectionState {
    /// Every event received before this instant has been applied.
    pub checkpoint: Millis,
    pub last_run_at: Millis,
    /// `rebuild` or `project`.
    pub last_run: String,
    pub last_run_events: u64,
}

const META: &str = "chronicle_projections";

pub fn ensure_meta(sink: &mut dyn SqlSink) -> anyhow::Result<()> {
    let int = sink.dialect().column_type(SqlType::Int);
    sink.execute(
        &format!(
            "CREATE TABLE IF NOT EXISTS {META} (
                name TEXT PRIMARY KEY,
                checkpoint {int} NOT NULL,
                last_run_at {int} NOT NULL,
                last_run TEXT NOT NULL,
                last_run_events {int} NOT NULL
            )"
        ),
        &[],
    )?;
    Ok(())
}

pub fn read_state(sink: &mut dyn SqlSink, name: &str) -> anyhow::Result<Option<ProjectionState>> {
    if !sink.table_exists(META)? {
        return Ok(None);
    }
    let d = sink.dialect();
    let rows = sink.query(
        &format!(
            "SELECT checkpoint, last_run_at, last_run, last_run_events FROM {META} WHERE name = {}",
            d.param(1, SqlType::Text)
        ),
        &[SqlValue::Text(name.to_string())],
    )?;
    Ok(rows.into_iter().next().map(|row| ProjectionState {
        checkpoint: row[0].as_int().unwrap_or_default(),
        last_run_at: row[1].as_int().unwrap_or_default(),
        last_run: row[2].as_text().unwrap_or_default().to_string(),
        last_run_events: row[3].as_int().unwrap_or_default() as u64,
    }))
}

pub fn write_state(
    sink: &mut dyn SqlSink,
    name: &str,
    state: &ProjectionState,
) -> anyhow::Result<()> {
    let d = sink.dialect();
    let (i, t) = (SqlType::Int, SqlType::Text);
    sink.execute(
        &format!(
            "INSERT INTO {META} (name, checkpoint, last_run_at, last_run, last_run_events)
             VALUES ({}, {}, {}, {}, {})
             ON CONFLICT (name) DO UPDATE SET checkpoint = excluded.checkpoint,
                last_run_at = excluded.last_run_at, last_run = excluded.last_run,
                last_run_events = excluded.last_run_events",
            d.param(1, t),
            d.param(2, i),
            d.param(3, i),
            d.param(4, t),
            d.param(5, i)
        ),
        &[
            SqlValue::Text(name.to_string()),
            SqlValue::Int(state.checkpoint),
            SqlValue::Int(state.last_run_at),
            SqlValue::Text(state.last_run.clone()),
            SqlValue::Int(state.last_run_events as i64),
        ],
    )?;
    Ok(())
}

/// Replaces `live` by `shadow` (inside the caller's transaction, so readers
/// see either the old table or the new one, never neither).
pub fn swap(sink: &mut dyn SqlSink, shadow: &str, live: &str) -> anyhow::Result<()> {
    sink.execute(&format!("DROP TABLE IF EXISTS {}", quote(live)), &[])?;
    sink.execute(
        &format!("ALTER TABLE {} RENAME TO {}", quote(shadow), quote(live)),
        &[],
    )?;
    Ok(())
}
