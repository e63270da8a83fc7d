//! Typed projection definitions, parsed from `[projections.NAME]` tables of
//! chronicle.toml. Every error names the full key
//! (`projections.revenue.columns[2].value`) and the reason, because a
//! definition is usually edited by someone who did not write the tool.
//!
//! serde reads the shape (one struct per kind, unknown keys refused); the
//! conversion to [`ProjectionDef`] checks what serde cannot: expressions,
//! column and table names, targets.

mod raw;

use std::collections::BTreeMap;

use serde::Deserialize;

use self::raw::{explain, RawDef, RawField, RawLatest, RawTable, Text};
use super::expr::{parse, AggFn, RowArith, RowExpr, StaticType};

/// The lag used when a definition gives none.
pub const DEFAULT_LAG_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct ProjectionDef {
    pub name: String,
    pub types: Vec<String>,
    pub lag_ms: i64,
    pub kind: KindDef,
}

#[derive(Debug, Clone)]
pub enum KindDef {
    Table(TableDef),
    Latest(LatestDef),
    Exec(ExecDef),
}

impl KindDef {
    pub fn name(&self) -> &'static str {
        match self {
            KindDef::Table(_) => "table",
            KindDef::Latest(_) => "latest",
            KindDef::Exec(_) => "exec",
        }
    }
}

/// Column types of SQL targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Int,
    Text,
    /// Exact decimal: NUMERIC in PostgreSQL, TEXT in SQLite (which has no
    /// exact decimal type).
    Numeric,
}

#[derive(Debug, Clone)]
pub struct TableDef {
    pub target: String,
    pub table: String,
    pub group: Vec<GroupCol>,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone)]
pub struct GroupCol {
    pub name: String,
    pub expr: RowExpr,
}

#[derive(Debug, Clone)]
pub enum Column {
    Aggregate {
        name: String,
        func: AggFn,
        /// `None` only for `count()`.
        arg: Option<RowExpr>,
        /// Restricts the events folded into this column; `None` = all types
        /// of the projection.
        types: Option<Vec<String>>,
        sql: SqlType,
    },
    Derived {
        name: String,
        expr: RowArith,
    },
}

impl Column {
    pub fn name(&self) -> &str {
        match self {
            Column::Aggregate { name, .. } | Column::Derived { name, .. } => name,
        }
    }

    pub fn sql_type(&self) -> SqlType {
        match self {
            Column::Aggregate { sql, .. } => *sql,
            Column::Derived { .. } => SqlType::Numeric,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LatestDef {
    pub target: String,
    pub table: String,
    /// Output column name and the expression read from the latest event.
    pub fields: Vec<(String, RowExpr)>,
}

/// Columns every `latest` table has besides the chosen fields.
pub const LATEST_FIXED: [&str; 5] = [
    "aggregate_id",
    "type",
    "created_at",
    "received_at",
    "event_id",
];

#[derive(Debug, Clone)]
pub struct ExecDef {
    pub command: Vec<String>,
    pub reset: Option<Vec<String>>,
}

/// Every projection of the config, by name.
pub fn parse_all(
    projections: &BTreeMap<String, toml::Value>,
) -> anyhow::Result<BTreeMap<String, ProjectionDef>> {
    let mut out = BTreeMap::new();
    for (name, value) in projections {
        out.insert(name.clone(), parse_def(name, value)?);
    }
    Ok(out)
}

/// The definition of `name`, or an error listing the defined ones.
pub fn find(
    projections: &BTreeMap<String, toml::Value>,
    name: &str,
) -> anyhow::Result<ProjectionDef> {
    match projections.get(name) {
        Some(value) => parse_def(name, value),
        None if projections.is_empty() => anyhow::bail!(
            "no projection `{name}`: the config defines none (add a [projections.{name}] table to chronicle.toml; see docs/projections.md)"
        ),
        None => anyhow::bail!(
            "no projection `{name}` in the config (defined: {})",
            projections.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

fn fail<T>(key: &str, reason: impl std::fmt::Display) -> anyhow::Result<T> {
    anyhow::bail!("config: {key}: {reason}")
}

fn parse_def(name: &str, value: &toml::Value) -> anyhow::Result<ProjectionDef> {
    let key = format!("projections.{name}");
    if !is_identifier(name) {
        return fail(
            &key,
            "a projection name may hold only letters, digits, `_` and `-`",
        );
    }
    let raw = match RawDef::deserialize(value.clone()) {
        Ok(raw) => raw,
        Err(_) => return Err(explain(&key, value)),
    };
    let (types, lag, kind) = match raw {
        RawDef::Table(t) => (
            t.types.0.clone(),
            t.lag.as_ref().map(|l| l.0),
            KindDef::Table(convert_table(&key, name, t)?),
        ),
        RawDef::Latest(l) => (
            l.types.0.clone(),
            l.lag.as_ref().map(|l| l.0),
            KindDef::Latest(convert_latest(&key, name, l)?),
        ),
        RawDef::Exec(e) => (
            e.types.0,
            e.lag.map(|l| l.0),
            KindDef::Exec(ExecDef {
                command: e.command.0,
                reset: e.reset.map(|r| r.0),
            }),
        ),
    };
    Ok(ProjectionDef {
        name: name.to_string(),
        types,
        lag_ms: lag.unwrap_or(DEFAULT_LAG_MS),
        kind,
    })
}

fn target_and_table(
    key: &str,
    name: &str,
    target: Text,
    table: Option<Text>,
) -> anyhow::Result<(String, String)> {
    let target = target.0;
    if !(target.starts_with("sqlite:")
        || target.starts_with("postgres://")
        || target.starts_with("postgresql://"))
    {
        return fail(
            &format!("{key}.target"),
            format!(
                "`{}` is not a target (expected sqlite:FILE or postgres://USER@HOST/DB)",
                crate::redact::redact_uri(&target)
            ),
        );
    }
    let table = table.map_or_else(|| name.replace('-', "_"), |t| t.0);
    if !is_sql_name(&table) {
        return fail(
            &format!("{key}.table"),
            format!("`{table}` is not a usable table name (letters, digits and `_`, at most 40 characters, not starting with a digit)"),
        );
    }
    Ok((target, table))
}

fn convert_table(key: &str, name: &str, raw: RawTable) -> anyhow::Result<TableDef> {
    let types = &raw.types.0;
    let (target, table) = target_and_table(key, name, raw.target, raw.table)?;
    let mut seen: Vec<String> = Vec::new();
    let mut check_name = |at: &str, n: String| -> anyhow::Result<String> {
        if !is_sql_name(&n) {
            return fail(
                &format!("{at}.name"),
                format!("`{n}` is not a usable column name"),
            );
        }
        if seen.contains(&n) {
            return fail(
                &format!("{at}.name"),
                format!("column `{n}` is defined twice"),
            );
        }
        seen.push(n.clone());
        Ok(n)
    };
    let mut group = Vec::new();
    for (i, g) in raw.group.into_iter().enumerate() {
        let at = format!("{key}.group[{i}]");
        let name = check_name(&at, g.name.0)?;
        let expr = parse(&g.value.0)
            .and_then(|ast| RowExpr::compile(&ast))
            .or_else(|e| fail(&format!("{at}.value"), e))?;
        group.push(GroupCol { name, expr });
    }
    if raw.columns.is_empty() {
        return fail(
            &format!("{key}.columns"),
            "is missing (at least one column such as { name = \"events\", value = \"count()\" })",
        );
    }
    let mut columns: Vec<Column> = Vec::new();
    for (i, c) in raw.columns.into_iter().enumerate() {
        let at = format!("{key}.columns[{i}]");
        let value_key = format!("{at}.value");
        let types_key = format!("{at}.types");
        let name = check_name(&at, c.name.0)?;
        let ast = parse(&c.value.0).or_else(|e| fail(&value_key, e))?;
        let col_types = c.types.map(|t| t.0);
        if let Some(col_types) = &col_types {
            for t in col_types {
                if !types.contains(t) {
                    return fail(
                        &types_key,
                        format!(
                            "`{t}` is not one of the projection's types ({})",
                            types.join(", ")
                        ),
                    );
                }
            }
        }
        let aggregate = match &ast {
            super::expr::Ast::Call(f, args) => {
                let func = match f.as_str() {
                    "count" => Some(AggFn::Count),
                    "sum" => Some(AggFn::Sum),
                    "min" => Some(AggFn::Min),
                    "max" => Some(AggFn::Max),
                    "count_distinct" => Some(AggFn::CountDistinct),
                    _ => None,
                };
                func.map(|func| (func, args))
            }
            _ => None,
        };
        let column = match aggregate {
            Some((func, args)) => {
                let arg = match (func, args.as_slice()) {
                    (AggFn::Count, []) => None,
                    (_, [arg]) => Some(RowExpr::compile(arg).or_else(|e| fail(&value_key, e))?),
                    _ => {
                        return fail(
                            &value_key,
                            "an aggregate takes one argument (count() may take none)",
                        )
                    }
                };
                let sql = match func {
                    AggFn::Count | AggFn::CountDistinct => SqlType::Int,
                    AggFn::Sum => SqlType::Numeric,
                    AggFn::Min | AggFn::Max => match arg.as_ref().map(RowExpr::static_type) {
                        Some(StaticType::Decimal) => SqlType::Numeric,
                        _ => SqlType::Text,
                    },
                };
                if func == AggFn::Sum
                    && matches!(
                        arg.as_ref().map(RowExpr::static_type),
                        Some(StaticType::Text) | Some(StaticType::Time)
                    )
                {
                    return fail(
                        &value_key,
                        "sum() needs numbers: use amount(...) for money strings or number(...) for numeric fields",
                    );
                }
                Column::Aggregate {
                    name,
                    func,
                    arg,
                    types: col_types,
                    sql,
                }
            }
            None => {
                if col_types.is_some() {
                    return fail(
                        &types_key,
                        "only aggregate columns (count, sum, min, max, count_distinct) can be restricted to types",
                    );
                }
                let known: Vec<(String, bool)> = columns
                    .iter()
                    .map(|col| (col.name().to_string(), col.sql_type() != SqlType::Text))
                    .collect();
                let expr = RowArith::compile(&ast, &known).or_else(|e| fail(&value_key, e))?;
                Column::Derived { name, expr }
            }
        };
        columns.push(column);
    }
    Ok(TableDef {
        target,
        table,
        group,
        columns,
    })
}

fn convert_latest(key: &str, name: &str, raw: RawLatest) -> anyhow::Result<LatestDef> {
    let (target, table) = target_and_table(key, name, raw.target, raw.table)?;
    let mut fields: Vec<(String, RowExpr)> = Vec::new();
    for (i, item) in raw.fields.into_iter().enumerate() {
        let at = format!("{key}.fields[{i}]");
        let (column, text) = match item {
            // "amount" or "customer.country": a payload path; the column is
            // named after it with dots as underscores.
            RawField::Path(path) => (path.replace(['.', '-'], "_"), format!("payload.{path}")),
            RawField::Named(n) => (n.name.0, n.value.0),
        };
        if !is_sql_name(&column) {
            return fail(&at, format!("`{column}` is not a usable column name"));
        }
        if LATEST_FIXED.contains(&column.as_str()) || fields.iter().any(|(c, _)| *c == column) {
            return fail(
                &at,
                format!(
                    "column `{column}` clashes with another column (every latest table has {})",
                    LATEST_FIXED.join(", ")
                ),
            );
        }
        let expr = parse(&text)
            .and_then(|ast| RowExpr::compile(&ast))
            .or_else(|e| fail(&at, e))?;
        fields.push((column, expr));
    }
    Ok(LatestDef {
        target,
        table,
        fields,
    })
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Names chronicle will put into SQL, always quoted as well.
pub fn is_sql_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> anyhow::Result<BTreeMap<String, ProjectionDef>> {
        #[derive(serde::Deserialize)]
        struct File {
            projections: BTreeMap<String, toml::Value>,
        }
        let file: File = toml::from_str(text).unwrap();
        parse_all(&file.projections)
    }

    #[test]
    fn parses_the_revenue_report() {
        let defs = load(
            r#"
            [projections.revenue]
            kind = "table"
            types = ["payment-completed", "payment-refunded"]
            target = "sqlite:reports.db"
            group = [
              { name = "month", value = "month(meta.created_at)" },
              { name = "currency", value = "currency(payload.amount)" },
            ]
            columns = [
              { name = "completed", value = "count()", types = ["payment-completed"] },
              { name = "completed_amount", value = "sum(amount(payload.amount))", types = ["payment-completed"] },
              { name = "refunded_amount", value = "sum(amount(payload.amount))", types = ["payment-refunded"] },
              { name = "net_revenue", value = "completed_amount - refunded_amount" },
            ]
            "#,
        )
        .unwrap();
        let def = &defs["revenue"];
        assert_eq!(def.lag_ms, DEFAULT_LAG_MS);
        let KindDef::Table(t) = &def.kind else {
            panic!()
        };
        assert_eq!(t.table, "revenue");
        assert_eq!(t.group.len(), 2);
        assert_eq!(t.columns[3].sql_type(), SqlType::Numeric);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (r#"kind = "tabel""#, "projections.p.kind: unknown kind"),
            (r#"kind = "exec""#, "projections.p.types: is missing"),
            (
                r#"kind = "exec"
                types = ["a"]
                lag = "5 minutes""#,
                "projections.p.lag:",
            ),
            (
                r#"kind = "exec"
                types = ["a"]
                comand = ["x"]"#,
                "projections.p.comand: unknown key",
            ),
            (
                r#"kind = "table"
                types = ["a"]
                target = "sqlite:x.db"
                columns = [{ name = "n", value = "count()" }, { name = "s", value = "sum(payload.a)", types = ["b"] }]"#,
                "projections.p.columns[1].types: `b` is not one of",
            ),
            (
                r#"kind = "table"
                types = ["a"]
                target = "sqlite:x.db"
                columns = [{ name = "n", value = "sum(moth(meta.created_at))" }]"#,
                "projections.p.columns[0].value: unknown function `moth`",
            ),
            (
                r#"kind = "table"
                types = ["a"]
                target = "mysql://x"
                columns = [{ name = "n", value = "count()" }]"#,
                "projections.p.target:",
            ),
            (
                r#"kind = "latest"
                types = ["a"]
                target = "sqlite:x.db"
                fields = ["type"]"#,
                "projections.p.fields[0]: column `type` clashes",
            ),
            // Paths inside lists, types and empty values.
            (
                r#"kind = "table"
                types = ["a"]
                target = "sqlite:x.db"
                columns = [{ name = "n", value = "count()" }, { name = "m", vlue = "count()" }]"#,
                "projections.p.columns[1].vlue: unknown key (allowed here: name, value, types)",
            ),
            (
                r#"kind = "latest"
                types = ["a"]
                target = "sqlite:x.db"
                fields = ["amount", { name = "c", value = "" }]"#,
                "projections.p.fields[1].value: must not be empty",
            ),
            (
                r#"kind = "latest"
                types = ["a", ""]
                target = "sqlite:x.db""#,
                "projections.p.types[1]: must not be empty",
            ),
            (
                r#"kind = "table"
                types = ["a"]
                target = 3"#,
                "projections.p.target: invalid type: integer `3`, expected a string",
            ),
            (
                r#"kind = "exec"
                types = ["a"]"#,
                "projections.p.command: is missing",
            ),
            (r#"types = ["a"]"#, "projections.p.kind: is missing"),
            (
                r#"kind = "exec"
                types = ["a"]
                command = ["x"]
                lag = "2y""#,
                "projections.p.lag: `2y`: unknown unit `y`",
            ),
        ];
        for (body, expected) in cases {
            let err = load(&format!("[projections.p]\n{body}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "expected `{expected}` in `{err}`");
        }
    }
}
