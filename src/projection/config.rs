//! Typed projection definitions, parsed from `[projections.NAME]` tables of
//! chronicle.toml. Every error names the full key
//! (`projections.revenue.columns[2].value`) and the reason, because a
//! definition is usually edited by someone who did not write the tool.

use std::collections::BTreeMap;

use crate::duration::parse_duration_ms;

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

struct Ctx<'a> {
    key: String,
    table: &'a toml::Table,
}

fn fail<T>(key: &str, reason: impl std::fmt::Display) -> anyhow::Result<T> {
    anyhow::bail!("config: {key}: {reason}")
}

impl<'a> Ctx<'a> {
    fn sub(&self, field: &str) -> String {
        format!("{}.{field}", self.key)
    }

    fn check_keys(&self, allowed: &[&str]) -> anyhow::Result<()> {
        for key in self.table.keys() {
            if !allowed.contains(&key.as_str()) {
                return fail(
                    &self.sub(key),
                    format!("unknown key (allowed here: {})", allowed.join(", ")),
                );
            }
        }
        Ok(())
    }

    fn string(&self, field: &str) -> anyhow::Result<Option<String>> {
        match self.table.get(field) {
            None => Ok(None),
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(toml::Value::String(_)) => fail(&self.sub(field), "must not be empty"),
            Some(other) => fail(
                &self.sub(field),
                format!("must be a string, not {}", other.type_str()),
            ),
        }
    }

    fn required_string(&self, field: &str) -> anyhow::Result<String> {
        match self.string(field)? {
            Some(s) => Ok(s),
            None => fail(&self.sub(field), "is missing"),
        }
    }

    fn strings(&self, field: &str) -> anyhow::Result<Option<Vec<String>>> {
        match self.table.get(field) {
            None => Ok(None),
            Some(toml::Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        toml::Value::String(s) if !s.is_empty() => out.push(s.clone()),
                        _ => {
                            return fail(
                                &format!("{}[{i}]", self.sub(field)),
                                "must be a non-empty string",
                            )
                        }
                    }
                }
                if out.is_empty() {
                    return fail(&self.sub(field), "must not be empty");
                }
                Ok(Some(out))
            }
            Some(other) => fail(
                &self.sub(field),
                format!("must be an array of strings, not {}", other.type_str()),
            ),
        }
    }

    fn tables(&self, field: &str) -> anyhow::Result<Vec<Ctx<'a>>> {
        match self.table.get(field) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    toml::Value::Table(t) => Ok(Ctx {
                        key: format!("{}[{i}]", self.sub(field)),
                        table: t,
                    }),
                    _ => fail(
                        &format!("{}[{i}]", self.sub(field)),
                        "must be a table such as { name = \"...\", value = \"...\" }",
                    ),
                })
                .collect(),
            Some(other) => fail(
                &self.sub(field),
                format!("must be an array of tables, not {}", other.type_str()),
            ),
        }
    }
}

fn parse_def(name: &str, value: &toml::Value) -> anyhow::Result<ProjectionDef> {
    let key = format!("projections.{name}");
    if !is_identifier(name) {
        return fail(
            &key,
            "a projection name may hold only letters, digits, `_` and `-`",
        );
    }
    let toml::Value::Table(table) = value else {
        return fail(&key, "must be a table");
    };
    let ctx = Ctx { key, table };
    let kind = ctx.required_string("kind")?;
    if !["table", "latest", "exec"].contains(&kind.as_str()) {
        return fail(
            &ctx.sub("kind"),
            format!("unknown kind `{kind}` (expected table, latest or exec)"),
        );
    }
    let common = ["kind", "types", "lag"];
    let types = match ctx.strings("types")? {
        Some(t) => t,
        None => return fail(&ctx.sub("types"), "is missing (the event types to read)"),
    };
    let lag_ms = match table.get("lag") {
        None => DEFAULT_LAG_MS,
        Some(toml::Value::String(s)) => match parse_duration_ms(s) {
            Ok(ms) => ms,
            Err(e) => return fail(&ctx.sub("lag"), e),
        },
        Some(other) => {
            return fail(
                &ctx.sub("lag"),
                format!(
                    "must be a duration string such as \"5m\", not {}",
                    other.type_str()
                ),
            )
        }
    };
    fn allowed<'a>(common: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        common.iter().chain(extra.iter()).copied().collect()
    }
    let kind = match kind.as_str() {
        "table" => {
            ctx.check_keys(&allowed(&common, &["target", "table", "group", "columns"]))?;
            KindDef::Table(parse_table(&ctx, name, &types)?)
        }
        "latest" => {
            ctx.check_keys(&allowed(&common, &["target", "table", "fields"]))?;
            KindDef::Latest(parse_latest(&ctx, name)?)
        }
        "exec" => {
            ctx.check_keys(&allowed(&common, &["command", "reset"]))?;
            let command = match ctx.strings("command")? {
                Some(c) => c,
                None => {
                    return fail(
                        &ctx.sub("command"),
                        "is missing (e.g. [\"python3\", \"build.py\"])",
                    )
                }
            };
            KindDef::Exec(ExecDef {
                command,
                reset: ctx.strings("reset")?,
            })
        }
        other => {
            return fail(
                &ctx.sub("kind"),
                format!("unknown kind `{other}` (expected table, latest or exec)"),
            )
        }
    };
    Ok(ProjectionDef {
        name: name.to_string(),
        types,
        lag_ms,
        kind,
    })
}

fn target_and_table(ctx: &Ctx<'_>, name: &str) -> anyhow::Result<(String, String)> {
    let target = ctx.required_string("target")?;
    if !(target.starts_with("sqlite:")
        || target.starts_with("postgres://")
        || target.starts_with("postgresql://"))
    {
        return fail(
            &ctx.sub("target"),
            format!(
                "`{}` is not a target (expected sqlite:FILE or postgres://USER@HOST/DB)",
                crate::redact::redact_uri(&target)
            ),
        );
    }
    let table = ctx
        .string("table")?
        .unwrap_or_else(|| name.replace('-', "_"));
    if !is_sql_name(&table) {
        return fail(
            &ctx.sub("table"),
            format!("`{table}` is not a usable table name (letters, digits and `_`, at most 40 characters, not starting with a digit)"),
        );
    }
    Ok((target, table))
}

fn parse_table(ctx: &Ctx<'_>, name: &str, types: &[String]) -> anyhow::Result<TableDef> {
    let (target, table) = target_and_table(ctx, name)?;
    let mut seen: Vec<String> = Vec::new();
    let mut check_name = |c: &Ctx<'_>| -> anyhow::Result<String> {
        let n = c.required_string("name")?;
        if !is_sql_name(&n) {
            return fail(&c.sub("name"), format!("`{n}` is not a usable column name"));
        }
        if seen.contains(&n) {
            return fail(&c.sub("name"), format!("column `{n}` is defined twice"));
        }
        seen.push(n.clone());
        Ok(n)
    };
    let mut group = Vec::new();
    for g in ctx.tables("group")? {
        g.check_keys(&["name", "value"])?;
        let name = check_name(&g)?;
        let text = g.required_string("value")?;
        let expr = parse(&text)
            .and_then(|ast| RowExpr::compile(&ast))
            .or_else(|e| fail(&g.sub("value"), e))?;
        group.push(GroupCol { name, expr });
    }
    let column_ctxs = ctx.tables("columns")?;
    if column_ctxs.is_empty() {
        return fail(
            &ctx.sub("columns"),
            "is missing (at least one column such as { name = \"events\", value = \"count()\" })",
        );
    }
    let mut columns: Vec<Column> = Vec::new();
    for c in column_ctxs {
        c.check_keys(&["name", "value", "types"])?;
        let name = check_name(&c)?;
        let text = c.required_string("value")?;
        let ast = parse(&text).or_else(|e| fail(&c.sub("value"), e))?;
        let col_types = c.strings("types")?;
        if let Some(col_types) = &col_types {
            for t in col_types {
                if !types.contains(t) {
                    return fail(
                        &c.sub("types"),
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
                    (_, [arg]) => {
                        Some(RowExpr::compile(arg).or_else(|e| fail(&c.sub("value"), e))?)
                    }
                    _ => {
                        return fail(
                            &c.sub("value"),
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
                        &c.sub("value"),
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
                        &c.sub("types"),
                        "only aggregate columns (count, sum, min, max, count_distinct) can be restricted to types",
                    );
                }
                let known: Vec<(String, bool)> = columns
                    .iter()
                    .map(|col| (col.name().to_string(), col.sql_type() != SqlType::Text))
                    .collect();
                let expr = RowArith::compile(&ast, &known).or_else(|e| fail(&c.sub("value"), e))?;
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

fn parse_latest(ctx: &Ctx<'_>, name: &str) -> anyhow::Result<LatestDef> {
    let (target, table) = target_and_table(ctx, name)?;
    let mut fields: Vec<(String, RowExpr)> = Vec::new();
    let items = match ctx.table.get("fields") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items.clone(),
        Some(other) => {
            return fail(
                &ctx.sub("fields"),
                format!("must be an array, not {}", other.type_str()),
            )
        }
    };
    for (i, item) in items.iter().enumerate() {
        let key = format!("{}[{i}]", ctx.sub("fields"));
        let (column, text) = match item {
            // "amount" or "customer.country": a payload path; the column is
            // named after it with dots as underscores.
            toml::Value::String(path) => (path.replace(['.', '-'], "_"), format!("payload.{path}")),
            toml::Value::Table(t) => {
                let c = Ctx {
                    key: key.clone(),
                    table: t,
                };
                c.check_keys(&["name", "value"])?;
                (c.required_string("name")?, c.required_string("value")?)
            }
            _ => {
                return fail(
                    &key,
                    "must be a payload path string or { name = \"...\", value = \"...\" }",
                )
            }
        };
        if !is_sql_name(&column) {
            return fail(&key, format!("`{column}` is not a usable column name"));
        }
        if LATEST_FIXED.contains(&column.as_str()) || fields.iter().any(|(c, _)| *c == column) {
            return fail(
                &key,
                format!(
                    "column `{column}` clashes with another column (every latest table has {})",
                    LATEST_FIXED.join(", ")
                ),
            );
        }
        let expr = parse(&text)
            .and_then(|ast| RowExpr::compile(&ast))
            .or_else(|e| fail(&key, e))?;
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
        ];
        for (body, expected) in cases {
            let err = load(&format!("[projections.p]\n{body}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "expected `{expected}` in `{err}`");
        }
    }
}
