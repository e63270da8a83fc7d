//! `kind = "latest"`: one row per `meta.aggregate_id` holding the chosen
//! fields and the type of the aggregate's latest event, where latest means
//! greatest (created_at, received_at, id) — not last to arrive. A late
//! delivery of an older event therefore never overwrites a newer state.
//!
//! Rows are upserted in batches with a guard (`WHERE excluded.(...) >
//! stored.(...)`), so the database keeps the latest row whatever order the
//! events come in; a rebuild (into a shadow table) and incremental runs use
//! the very same statement and end with the same rows.

use std::collections::HashMap;

use super::config::{LatestDef, SqlType};
use super::sink::{quote, SqlSink, SqlValue};
use super::types::event_context;
use crate::event::{format_millis, Event, Millis};

/// Rows per multi-row upsert: well under SQLite's variable limit.
const BATCH: usize = 256;

struct Row {
    type_: String,
    fields: Vec<Option<String>>,
    order: (Millis, Millis, String),
}

pub struct LatestWriter<'d> {
    def: &'d LatestDef,
    table: String,
    pending: HashMap<String, Row>,
    pub rows_written: u64,
    pub without_aggregate: u64,
}

impl<'d> LatestWriter<'d> {
    /// Writes into `table` (the live table, or a rebuild's shadow).
    pub fn new(def: &'d LatestDef, table: String) -> LatestWriter<'d> {
        LatestWriter {
            def,
            table,
            pending: HashMap::new(),
            rows_written: 0,
            without_aggregate: 0,
        }
    }

    /// Creates the table, replacing any table of that name (used for the
    /// shadow of a rebuild, and for a first incremental run).
    pub fn create(&self, sink: &mut dyn SqlSink, generation: i64) -> anyhow::Result<()> {
        let mut cols = vec![
            "aggregate_id TEXT NOT NULL".to_string(),
            "type TEXT NOT NULL".to_string(),
        ];
        cols.extend(
            self.def
                .fields
                .iter()
                .map(|(name, _)| format!("{} TEXT", quote(name))),
        );
        cols.push("created_at TEXT NOT NULL".into());
        cols.push("received_at TEXT NOT NULL".into());
        cols.push("event_id TEXT NOT NULL".into());
        // A named constraint: PostgreSQL names the index after it, and the
        // name must not clash with the live table's when the shadow is built.
        cols.push(format!(
            "CONSTRAINT {} PRIMARY KEY (aggregate_id)",
            quote(&format!("{}_pk{generation}", self.def.table))
        ));
        sink.execute(&format!("DROP TABLE IF EXISTS {}", quote(&self.table)), &[])?;
        sink.execute(
            &format!("CREATE TABLE {} ({})", quote(&self.table), cols.join(", ")),
            &[],
        )?;
        Ok(())
    }

    pub fn add(&mut self, sink: &mut dyn SqlSink, event: &Event) -> anyhow::Result<()> {
        let Some(aggregate) = &event.aggregate_id else {
            self.without_aggregate += 1;
            return Ok(());
        };
        let order = (
            event.created_at,
            event.received_at.unwrap_or_default(),
            event.id.hyphenated().to_string(),
        );
        if let Some(existing) = self.pending.get(aggregate) {
            if existing.order >= order {
                return Ok(());
            }
        }
        let mut fields = Vec::with_capacity(self.def.fields.len());
        for (name, expr) in &self.def.fields {
            let value = expr.eval(event.view()).map_err(|e| {
                anyhow::anyhow!("{}: field `{name}`: {e}", event_context(event.view()))
            })?;
            fields.push(value.to_text());
        }
        self.pending.insert(
            aggregate.clone(),
            Row {
                type_: event.event_type.clone(),
                fields,
                order,
            },
        );
        if self.pending.len() >= BATCH {
            self.flush(sink)?;
        }
        Ok(())
    }

    pub fn flush(&mut self, sink: &mut dyn SqlSink) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let d = sink.dialect();
        let width = self.def.fields.len() + 5;
        let mut names = vec!["aggregate_id".to_string(), "type".to_string()];
        names.extend(self.def.fields.iter().map(|(n, _)| quote(n)));
        names.extend(["created_at", "received_at", "event_id"].map(String::from));
        let mut rows: Vec<(String, Row)> = self.pending.drain().collect();
        // A stable statement order keeps lock order deterministic.
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let tuples: Vec<String> = (0..rows.len())
            .map(|r| {
                let ps: Vec<String> = (1..=width)
                    .map(|c| d.param(r * width + c, SqlType::Text))
                    .collect();
                format!("({})", ps.join(", "))
            })
            .collect();
        let t = quote(&self.table);
        let updates: Vec<String> = names
            .iter()
            .skip(1)
            .map(|n| format!("{n} = excluded.{n}"))
            .collect();
        let sql = format!(
            "INSERT INTO {t} ({}) VALUES {} ON CONFLICT (aggregate_id) DO UPDATE SET {} \
             WHERE (excluded.created_at, excluded.received_at, excluded.event_id) > ({t}.created_at, {t}.received_at, {t}.event_id)",
            names.join(", "),
            tuples.join(", "),
            updates.join(", ")
        );
        let mut params = Vec::with_capacity(rows.len() * width);
        for (aggregate, row) in rows.iter() {
            params.push(SqlValue::Text(aggregate.clone()));
            params.push(SqlValue::Text(row.type_.clone()));
            params.extend(row.fields.iter().cloned().map(SqlValue::text));
            // Fixed-width RFC 3339 text orders like the instants it names.
            params.push(SqlValue::Text(format_millis(row.order.0)));
            params.push(SqlValue::Text(format_millis(row.order.1)));
            params.push(SqlValue::Text(row.order.2.clone()));
        }
        self.rows_written += sink.execute(&sql, &params)?;
        Ok(())
    }
}
