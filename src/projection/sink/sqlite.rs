//! SQLite as a projection target: a file that reporting tools open directly.
//! WAL mode lets readers keep querying the old table while a rebuild fills
//! its shadow table in one long transaction.

use std::time::Duration;

use anyhow::Context;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params_from_iter, Connection};

use super::{Dialect, SqlSink, SqlValue};

pub struct SqliteTarget {
    path: String,
    conn: Connection,
}

impl SqliteTarget {
    pub fn open(path: &str) -> anyhow::Result<SqliteTarget> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open projection target sqlite:{path}"))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .with_context(|| format!("sqlite:{path} is not a usable SQLite database"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(SqliteTarget {
            path: path.to_string(),
            conn,
        })
    }
}

fn to_value(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Int(n) => Value::Integer(*n),
        SqlValue::Text(s) => Value::Text(s.clone()),
    }
}

impl SqlSink for SqliteTarget {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn begin(&mut self) -> anyhow::Result<()> {
        // IMMEDIATE: take the write lock now rather than fail half-way.
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    fn commit(&mut self) -> anyhow::Result<()> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    fn rollback(&mut self) -> anyhow::Result<()> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> anyhow::Result<u64> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .with_context(|| format!("sqlite:{}: cannot prepare {sql}", self.path))?;
        Ok(stmt.execute(params_from_iter(params.iter().map(to_value)))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> anyhow::Result<Vec<Vec<SqlValue>>> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .with_context(|| format!("sqlite:{}: cannot prepare {sql}", self.path))?;
        let n = stmt.column_count();
        let mut rows = stmt.query(params_from_iter(params.iter().map(to_value)))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(n) => SqlValue::Int(n),
                    ValueRef::Real(f) => SqlValue::Text(f.to_string()),
                    ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => SqlValue::Text(hex::encode(b)),
                });
            }
            out.push(values);
        }
        Ok(out)
    }

    fn table_exists(&mut self, table: &str) -> anyhow::Result<bool> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }
}
