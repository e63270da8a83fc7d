//! PostgreSQL as a projection target, through the synchronous `postgres`
//! client. Transactions are plain BEGIN/COMMIT statements so that the trait
//! can span several calls; DDL is transactional in PostgreSQL, which is what
//! makes the blue/green swap atomic.

use std::collections::HashMap;

use anyhow::Context;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Statement};

use super::{Dialect, SqlSink, SqlValue};
use crate::redact::redact_uri as redact;

pub struct PostgresTarget {
    uri: String,
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PostgresTarget {
    pub fn open(uri: &str) -> anyhow::Result<PostgresTarget> {
        let client = Client::connect(uri, NoTls)
            .with_context(|| format!("cannot connect to projection target {}", redact(uri)))?;
        Ok(PostgresTarget {
            uri: uri.to_string(),
            client,
            statements: HashMap::new(),
        })
    }

    fn prepare(&mut self, sql: &str) -> anyhow::Result<Statement> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self
            .client
            .prepare(sql)
            .with_context(|| format!("{}: cannot prepare {sql}", redact(&self.uri)))?;
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

/// Binds values by the type PostgreSQL inferred for each placeholder (the
/// dialect casts every placeholder, so only int8 and text occur).
fn bind(stmt: &Statement, params: &[SqlValue]) -> anyhow::Result<Vec<Box<dyn ToSql + Sync>>> {
    let mut out: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(params.len());
    for (value, ty) in params.iter().zip(stmt.params()) {
        out.push(match (value, ty) {
            (SqlValue::Null, &Type::INT8) => Box::new(None::<i64>),
            (SqlValue::Null, _) => Box::new(None::<String>),
            (SqlValue::Int(n), &Type::INT8) => Box::new(*n),
            (SqlValue::Int(n), _) => Box::new(n.to_string()),
            (SqlValue::Text(s), &Type::INT8) => Box::new(
                s.parse::<i64>()
                    .with_context(|| format!("`{s}` is not an integer"))?,
            ),
            (SqlValue::Text(s), _) => Box::new(s.clone()),
        });
    }
    Ok(out)
}

impl SqlSink for PostgresTarget {
    fn describe(&self) -> String {
        redact(&self.uri)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn begin(&mut self) -> anyhow::Result<()> {
        self.client.batch_execute("BEGIN")?;
        Ok(())
    }

    fn commit(&mut self) -> anyhow::Result<()> {
        self.client.batch_execute("COMMIT")?;
        Ok(())
    }

    fn rollback(&mut self) -> anyhow::Result<()> {
        self.client.batch_execute("ROLLBACK")?;
        Ok(())
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> anyhow::Result<u64> {
        if params.is_empty() {
            // DDL: not worth a prepared statement, and a cached plan would
            // outlive the table it names.
            self.client
                .batch_execute(sql)
                .with_context(|| format!("{}: {sql}", redact(&self.uri)))?;
            return Ok(0);
        }
        let stmt = self.prepare(sql)?;
        let values = bind(&stmt, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
        Ok(self.client.execute(&stmt, &refs)?)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> anyhow::Result<Vec<Vec<SqlValue>>> {
        let stmt = self.prepare(sql)?;
        let values = bind(&stmt, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
        let rows = self.client.query(&stmt, &refs)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                values.push(
                    match *column.type_() {
                        Type::INT8 => row.get::<_, Option<i64>>(i).map(SqlValue::Int),
                        Type::INT4 => row
                            .get::<_, Option<i32>>(i)
                            .map(|n| SqlValue::Int(n as i64)),
                        Type::TEXT | Type::VARCHAR | Type::NAME => {
                            row.get::<_, Option<String>>(i).map(SqlValue::Text)
                        }
                        ref other => anyhow::bail!("unexpected column type {other} in {sql}"),
                    }
                    .unwrap_or(SqlValue::Null),
                );
            }
            out.push(values);
        }
        Ok(out)
    }

    fn table_exists(&mut self, table: &str) -> anyhow::Result<bool> {
        let row = self.client.query_one(
            "SELECT count(*) FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name = $1",
            &[&table],
        )?;
        Ok(row.get::<_, i64>(0) > 0)
    }
}
