//! `kind = "table"`: a grouped aggregation. Events are folded in memory into
//! one accumulator per group (memory grows with the number of groups, not
//! of events), then written to the sink:
//!
//! - by a rebuild, into a shadow table swapped in with the checkpoint in one
//!   transaction;
//! - by an incremental run, merged into the existing rows of the touched
//!   groups, again in the transaction that moves the checkpoint.
//!
//! Both paths share [`Acc::merge`], so a rebuild and any sequence of
//! incremental runs over the same events produce the same rows.
//! `count_distinct` needs the distinct values themselves to merge, so they
//! are kept in a side table `TABLE__distinct`.
//!
//! Folding is cut in two: [`TableRows::prepare`] evaluates an event's group
//! key and aggregate arguments (JSON fields, time parts, money) on a reader
//! thread, and [`TableFold::apply`] only finds the group and adds, on the
//! fold thread.

mod prepare;

use prepare::decode_key;
pub use prepare::{Arg, Prepared, TableRows};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::config::{Column, SqlType, TableDef};
use super::expr::AggFn;
use super::sink::{quote, swap, Dialect, SqlSink, SqlValue};
use crate::decimal::Decimal;

/// The state of one aggregate column of one group.
#[derive(Debug, Clone, PartialEq)]
enum AggState {
    Count(i64),
    Sum(Decimal),
    Extreme(Option<Ordered>),
    Distinct(HashSet<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ordered {
    Decimal(Decimal),
    Text(String),
}

impl Ordered {
    fn less(&self, other: &Ordered) -> bool {
        match (self, other) {
            (Ordered::Decimal(a), Ordered::Decimal(b)) => a < b,
            (Ordered::Text(a), Ordered::Text(b)) => a < b,
            _ => false,
        }
    }

    fn to_sql(&self) -> SqlValue {
        match self {
            Ordered::Decimal(d) => SqlValue::Text(d.to_string()),
            Ordered::Text(s) => SqlValue::Text(s.clone()),
        }
    }
}

/// One group's accumulators, one per aggregate column (derived columns are
/// computed when the row is written).
#[derive(Debug, Clone)]
struct Acc {
    key: Vec<Option<String>>,
    states: Vec<AggState>,
}

/// The groups' hasher: SipHash, std's default, was a twentieth of a
/// rebuild's fold; group keys come from the store's own events.
type Groups = HashMap<String, Acc, ahash::RandomState>;

/// The compiled fold of one `table` definition.
pub struct TableFold {
    def: Arc<TableDef>,
    groups: Groups,
}

fn new_states(def: &TableDef) -> Vec<AggState> {
    def.columns
        .iter()
        .filter_map(|c| match c {
            Column::Aggregate { func, .. } => Some(match func {
                AggFn::Count => AggState::Count(0),
                AggFn::Sum => AggState::Sum(Decimal::ZERO),
                AggFn::Min | AggFn::Max => AggState::Extreme(None),
                AggFn::CountDistinct => AggState::Distinct(HashSet::new()),
            }),
            Column::Derived { .. } => None,
        })
        .collect()
}

fn aggregates(
    def: &TableDef,
) -> impl Iterator<Item = (&str, AggFn, &Option<super::expr::RowExpr>, SqlType)> {
    def.columns.iter().filter_map(|c| match c {
        Column::Aggregate {
            name,
            func,
            arg,
            sql,
            ..
        } => Some((name.as_str(), *func, arg, *sql)),
        Column::Derived { .. } => None,
    })
}

impl TableFold {
    pub fn new(def: Arc<TableDef>) -> TableFold {
        TableFold {
            def,
            groups: Groups::default(),
        }
    }

    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Folds one prepared event; `context` names it in errors.
    pub fn apply(
        &mut self,
        prepared: Prepared,
        context: impl Fn() -> String,
    ) -> anyhow::Result<()> {
        if let Some(e) = prepared.error {
            anyhow::bail!(e);
        }
        let acc = match self.groups.get_mut(prepared.key.as_str()) {
            Some(acc) => acc,
            None => {
                let key = decode_key(&prepared.key);
                self.groups.entry(prepared.key).or_insert_with(|| Acc {
                    key,
                    states: new_states(&self.def),
                })
            }
        };
        for ((state, arg), (name, func, _, _)) in acc
            .states
            .iter_mut()
            .zip(prepared.args)
            .zip(aggregates(&self.def))
        {
            match (state, arg) {
                (_, Arg::Skip) => {}
                (AggState::Count(n), Arg::Count(counts)) => {
                    if counts {
                        *n += 1;
                    }
                }
                (AggState::Sum(total), Arg::Sum(value)) => {
                    if let Some(d) = value {
                        *total = total.checked_add(&d).ok_or_else(|| {
                            anyhow::anyhow!(
                                "{}: column `{name}`: decimal overflow adding {d}",
                                context()
                            )
                        })?;
                    }
                }
                (AggState::Extreme(current), Arg::Extreme(candidate)) => {
                    if let Some(c) = candidate {
                        let replace = match current {
                            None => true,
                            Some(cur) if func == AggFn::Min => c.less(cur),
                            Some(cur) => cur.less(&c),
                        };
                        if replace {
                            *current = Some(c);
                        }
                    }
                }
                (AggState::Distinct(set), Arg::Distinct(value)) => {
                    if let Some(text) = value {
                        set.insert(text);
                    }
                }
                _ => unreachable!("arguments are prepared from the same definition"),
            }
        }
        Ok(())
    }

    /// Adds a fold of *later* events (the next window in (received_at, id)
    /// order) to this one; the result equals folding both windows in turn.
    pub fn absorb(&mut self, later: TableFold) -> anyhow::Result<()> {
        let funcs: Vec<(&str, AggFn)> = aggregates(&self.def).map(|(n, f, _, _)| (n, f)).collect();
        for (key, acc) in later.groups {
            match self.groups.get_mut(&key) {
                None => {
                    self.groups.insert(key, acc);
                }
                Some(mine) => {
                    for ((a, b), (name, func)) in mine.states.iter_mut().zip(acc.states).zip(&funcs)
                    {
                        match (a, b) {
                            (AggState::Count(n), AggState::Count(m)) => *n += m,
                            (AggState::Sum(x), AggState::Sum(y)) => {
                                *x = x.checked_add(&y).ok_or_else(|| {
                                    anyhow::anyhow!(
                                        "column `{name}`: decimal overflow adding {y} to {x}"
                                    )
                                })?
                            }
                            (AggState::Extreme(x), AggState::Extreme(Some(y))) => {
                                // On ties the earlier value stays, as in one fold.
                                let replace = match x {
                                    None => true,
                                    Some(cur) if *func == AggFn::Min => y.less(cur),
                                    Some(cur) => cur.less(&y),
                                };
                                if replace {
                                    *x = Some(y);
                                }
                            }
                            (AggState::Extreme(_), AggState::Extreme(None)) => {}
                            (AggState::Distinct(x), AggState::Distinct(y)) => x.extend(y),
                            _ => unreachable!("both folds come from one definition"),
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Rebuild: writes every group into a fresh shadow table and swaps it in.
    /// The caller owns the transaction.
    pub fn write_fresh(self, sink: &mut dyn SqlSink, generation: i64) -> anyhow::Result<u64> {
        let table = &self.def.table;
        let shadow = format!("{table}__shadow");
        let distinct_shadow = format!("{table}__distinct__shadow");
        let has_distinct = has_distinct(&self.def);
        create_tables(sink, &self.def, &shadow, &distinct_shadow, generation)?;
        let insert = insert_sql(sink.dialect(), &self.def, &shadow);
        let mut rows = 0u64;
        let mut groups: Vec<Acc> = self.groups.into_values().collect();
        groups.sort_by(|a, b| a.key.cmp(&b.key));
        for acc in &groups {
            let counts = distinct_counts(&acc.states);
            sink.execute(&insert, &row_values(&self.def, acc, &counts)?)?;
            if has_distinct {
                insert_distinct(sink, &self.def, &distinct_shadow, acc, None)?;
            }
            rows += 1;
        }
        swap(sink, &shadow, table)?;
        if has_distinct {
            swap(sink, &distinct_shadow, &format!("{table}__distinct"))?;
        }
        Ok(rows)
    }

    /// Incremental run: merges the folded groups into the existing rows.
    /// The caller owns the transaction.
    pub fn merge_into(self, sink: &mut dyn SqlSink, generation: i64) -> anyhow::Result<u64> {
        let def = &*self.def;
        let table = &def.table;
        let distinct_table = format!("{table}__distinct");
        if !sink.table_exists(table)? {
            create_tables(sink, def, table, &distinct_table, generation)?;
        }
        let d = sink.dialect();
        let where_key = key_condition(d, def, 1);
        let select = format!(
            "SELECT {} FROM {} WHERE {where_key}",
            aggregates(def)
                .map(|(name, _, _, sql)| d.select(name, sql))
                .collect::<Vec<_>>()
                .join(", "),
            quote(table)
        );
        let delete = format!("DELETE FROM {} WHERE {where_key}", quote(table));
        let insert = insert_sql(d, def, table);
        let mut rows = 0u64;
        let mut groups: Vec<Acc> = self.groups.into_values().collect();
        groups.sort_by(|a, b| a.key.cmp(&b.key));
        for mut acc in groups {
            let key: Vec<SqlValue> = acc.key.iter().cloned().map(SqlValue::text).collect();
            let existing = sink.query(&select, &key)?;
            if let Some(row) = existing.first() {
                merge_existing(def, &mut acc, row)?;
                sink.execute(&delete, &key)?;
            }
            let counts = if has_distinct(def) {
                insert_distinct(sink, def, &distinct_table, &acc, Some(&where_key))?
            } else {
                Vec::new()
            };
            sink.execute(&insert, &row_values(def, &acc, &counts)?)?;
            rows += 1;
        }
        Ok(rows)
    }
}

fn has_distinct(def: &TableDef) -> bool {
    aggregates(def).any(|(_, f, _, _)| f == AggFn::CountDistinct)
}

fn distinct_counts(states: &[AggState]) -> Vec<i64> {
    states
        .iter()
        .filter_map(|s| match s {
            AggState::Distinct(set) => Some(set.len() as i64),
            _ => None,
        })
        .collect()
}

fn create_tables(
    sink: &mut dyn SqlSink,
    def: &TableDef,
    table: &str,
    distinct_table: &str,
    generation: i64,
) -> anyhow::Result<()> {
    let d = sink.dialect();
    let mut cols: Vec<String> = def
        .group
        .iter()
        .map(|g| format!("{} TEXT", quote(&g.name)))
        .collect();
    cols.extend(
        def.columns
            .iter()
            .map(|c| format!("{} {}", quote(c.name()), d.column_type(c.sql_type()))),
    );
    sink.execute(&format!("DROP TABLE IF EXISTS {}", quote(table)), &[])?;
    sink.execute(
        &format!("CREATE TABLE {} ({})", quote(table), cols.join(", ")),
        &[],
    )?;
    let group_cols = def
        .group
        .iter()
        .map(|g| quote(&g.name))
        .collect::<Vec<_>>()
        .join(", ");
    if !def.group.is_empty() {
        // Index names are schema-wide; the generation keeps the shadow's
        // from clashing with the live table's.
        sink.execute(
            &format!(
                "CREATE INDEX {} ON {} ({group_cols})",
                quote(&format!("{}_g{generation}", def.table)),
                quote(table)
            ),
            &[],
        )?;
    }
    if has_distinct(def) {
        let mut dcols: Vec<String> = def
            .group
            .iter()
            .map(|g| format!("{} TEXT", quote(&g.name)))
            .collect();
        dcols.push("chronicle_column TEXT NOT NULL".into());
        dcols.push("chronicle_value TEXT NOT NULL".into());
        sink.execute(
            &format!("DROP TABLE IF EXISTS {}", quote(distinct_table)),
            &[],
        )?;
        sink.execute(
            &format!(
                "CREATE TABLE {} ({})",
                quote(distinct_table),
                dcols.join(", ")
            ),
            &[],
        )?;
        let sep = if group_cols.is_empty() { "" } else { ", " };
        sink.execute(
            &format!(
                "CREATE INDEX {} ON {} ({group_cols}{sep}chronicle_column, chronicle_value)",
                quote(&format!("{}_d{generation}", def.table)),
                quote(distinct_table)
            ),
            &[],
        )?;
    }
    Ok(())
}

/// `"g1" IS ?1 AND "g2" IS ?2` (null-safe), starting at placeholder `first`.
fn key_condition(d: Dialect, def: &TableDef, first: usize) -> String {
    if def.group.is_empty() {
        return "1=1".into();
    }
    def.group
        .iter()
        .enumerate()
        .map(|(i, g)| {
            format!(
                "{} {} {}",
                quote(&g.name),
                d.null_safe_eq(),
                d.param(first + i, SqlType::Text)
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn insert_sql(d: Dialect, def: &TableDef, table: &str) -> String {
    let mut names = Vec::new();
    let mut params = Vec::new();
    for g in &def.group {
        names.push(quote(&g.name));
        params.push(d.param(params.len() + 1, SqlType::Text));
    }
    for c in &def.columns {
        names.push(quote(c.name()));
        params.push(d.param(params.len() + 1, c.sql_type()));
    }
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(table),
        names.join(", "),
        params.join(", ")
    )
}

/// The row to write: group key, aggregate values, derived values.
fn row_values(def: &TableDef, acc: &Acc, distinct_counts: &[i64]) -> anyhow::Result<Vec<SqlValue>> {
    let mut out: Vec<SqlValue> = acc.key.iter().cloned().map(SqlValue::text).collect();
    let mut numeric: Vec<Option<Decimal>> = Vec::with_capacity(def.columns.len());
    let mut states = acc.states.iter();
    let mut distinct = distinct_counts.iter();
    for column in &def.columns {
        match column {
            Column::Aggregate { .. } => {
                let state = states.next().expect("one state per aggregate");
                let (value, number) = match state {
                    AggState::Count(n) => (SqlValue::Int(*n), Some(Decimal::from_int(*n))),
                    AggState::Sum(d) => (SqlValue::Text(d.to_string()), Some(*d)),
                    AggState::Extreme(None) => (SqlValue::Null, None),
                    AggState::Extreme(Some(o)) => (
                        o.to_sql(),
                        match o {
                            Ordered::Decimal(d) => Some(*d),
                            Ordered::Text(_) => None,
                        },
                    ),
                    AggState::Distinct(_) => {
                        let n = *distinct.next().expect("one count per distinct column");
                        (SqlValue::Int(n), Some(Decimal::from_int(n)))
                    }
                };
                out.push(value);
                numeric.push(number);
            }
            Column::Derived { name, expr } => {
                let value = expr
                    .eval(&numeric)
                    .map_err(|e| anyhow::anyhow!("column `{name}` of group {:?}: {e}", acc.key))?;
                out.push(SqlValue::text(value.map(|d| d.to_string())));
                numeric.push(value);
            }
        }
    }
    Ok(out)
}

/// Adds the stored aggregate values of a group to `acc`. The stored row
/// holds older events than `acc`, so on ties of min/max it wins, as the
/// earlier event does in a rebuild.
fn merge_existing(def: &TableDef, acc: &mut Acc, row: &[SqlValue]) -> anyhow::Result<()> {
    let bad = |name: &str, v: &SqlValue| {
        anyhow::anyhow!(
            "table {}: column `{name}` holds {v:?}, which chronicle did not write; rebuild the projection",
            def.table
        )
    };
    for (i, (name, func, _, sql)) in aggregates(def).enumerate() {
        let stored = &row[i];
        match (&mut acc.states[i], stored) {
            (AggState::Count(n), SqlValue::Int(m)) => *n += m,
            (AggState::Sum(total), SqlValue::Text(s)) => {
                let d = Decimal::parse(s).ok_or_else(|| bad(name, stored))?;
                *total = d
                    .checked_add(total)
                    .ok_or_else(|| anyhow::anyhow!("decimal overflow in `{name}`"))?;
            }
            (AggState::Extreme(_), SqlValue::Null) => {}
            (AggState::Extreme(current), SqlValue::Text(s)) => {
                let old = if sql == SqlType::Numeric {
                    Ordered::Decimal(Decimal::parse(s).ok_or_else(|| bad(name, stored))?)
                } else {
                    Ordered::Text(s.clone())
                };
                let keep_new = match current {
                    None => false,
                    Some(new) if func == AggFn::Min => new.less(&old),
                    Some(new) => old.less(new),
                };
                if !keep_new {
                    *current = Some(old);
                }
            }
            // Recounted from the side table.
            (AggState::Distinct(_), _) => {}
            _ => return Err(bad(name, stored)),
        }
    }
    Ok(())
}

/// Writes a group's distinct values (those not yet stored when
/// `where_key` is given) and returns the stored count per distinct column.
fn insert_distinct(
    sink: &mut dyn SqlSink,
    def: &TableDef,
    table: &str,
    acc: &Acc,
    where_key: Option<&str>,
) -> anyhow::Result<Vec<i64>> {
    let d = sink.dialect();
    let n = def.group.len();
    let mut names: Vec<String> = def.group.iter().map(|g| quote(&g.name)).collect();
    names.push("chronicle_column".into());
    names.push("chronicle_value".into());
    let params: Vec<String> = (1..=n + 2).map(|i| d.param(i, SqlType::Text)).collect();
    let insert = match where_key {
        None => format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote(table),
            names.join(", "),
            params.join(", ")
        ),
        Some(where_key) => format!(
            "INSERT INTO {t} ({}) SELECT {} WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {where_key} AND chronicle_column = {} AND chronicle_value = {})",
            names.join(", "),
            params.join(", "),
            params[n],
            params[n + 1],
            t = quote(table)
        ),
    };
    let count = format!(
        "SELECT count(*) FROM {} WHERE {} AND chronicle_column = {}",
        quote(table),
        key_condition(d, def, 1),
        d.param(n + 1, SqlType::Text)
    );
    let key: Vec<SqlValue> = acc.key.iter().cloned().map(SqlValue::text).collect();
    let mut counts = Vec::new();
    for (i, (name, func, _, _)) in aggregates(def).enumerate() {
        if func != AggFn::CountDistinct {
            continue;
        }
        let AggState::Distinct(set) = &acc.states[i] else {
            unreachable!("count_distinct keeps a set")
        };
        let mut values: Vec<&String> = set.iter().collect();
        values.sort();
        for value in values {
            let mut params = key.clone();
            params.push(SqlValue::Text(name.to_string()));
            params.push(SqlValue::Text(value.clone()));
            sink.execute(&insert, &params)?;
        }
        if where_key.is_some() {
            let mut params = key.clone();
            params.push(SqlValue::Text(name.to_string()));
            let rows = sink.query(&count, &params)?;
            counts.push(rows.first().and_then(|r| r[0].as_int()).unwrap_or(0));
        } else {
            counts.push(set.len() as i64);
        }
    }
    Ok(counts)
}
