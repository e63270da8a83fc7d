//! `chronicle rebuild NAME --emit-sql duckdb|spark`: the SQL that computes a
//! `table` or `latest` projection from the Hive-partitioned archive plus a
//! live part exported with `chronicle export`, for users whose archive has
//! outgrown one machine (docs/scale-out.md). The SQL must give exactly the
//! rows chronicle's own rebuild writes, so it reproduces chronicle's rules
//! rather than the engines' defaults:
//!
//! - decimals are exact: values are `DECIMAL(38,18)` and every decimal keeps
//!   the scale chronicle gives it (the largest scale of a sum's terms, the
//!   scale of the chosen value for `min`/`max`), carried beside the value and
//!   applied when the value is written as text;
//! - timestamps are chronicle's text form (`2016-01-01T12:00:00.000Z`, UTC),
//!   whose text order is time order;
//! - `min`/`max` of decimals keep the earliest of equal values in
//!   `(received_at, id)` order, as the fold does (`3.0` and `3.00` are equal
//!   but print differently);
//! - an id both archived and live counts once, in its archived version.
//!
//! What SQL cannot reproduce exactly (multiplication, whose scale would
//! depend on the data beyond what a static SQL type holds, and `exec`
//! projections) is refused with an error naming the definition key.

use std::fmt::Write as _;

use super::config::{Column, KindDef, LatestDef, ProjectionDef, SqlType, TableDef};
use super::expr::{AggFn, RowArith, RowExpr, StaticType, TimePart};
use crate::event::{format_millis, Millis};

/// The engines whose dialect is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    Duckdb,
    Spark,
}

/// Where the emitted SQL reads from, and up to when.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The archive root as the engine names it (a folder, `s3://…`).
    pub archive: String,
    /// The live part: `chronicle export` JSON lines.
    pub live: String,
    /// Only events received before this instant (the rebuild's stable time).
    pub until: Millis,
}

/// The SQL script for `def`, or an error naming the definition key that
/// SQL cannot express.
pub fn emit(def: &ProjectionDef, engine: Engine, inputs: &Inputs) -> anyhow::Result<String> {
    let e = Dialect(engine);
    let mut out = header(def, engine, inputs);
    let until = format_millis(inputs.until);
    let types = def
        .types
        .iter()
        .map(|t| e.lit(t))
        .collect::<Vec<_>>()
        .join(", ");
    out.push_str(&e.sources(inputs, &types, &until));
    let body = match &def.kind {
        KindDef::Table(t) => table(&e, &def.name, t)?,
        KindDef::Latest(l) => latest(&e, l),
        KindDef::Exec(_) => anyhow::bail!(
            "projections.{}.kind: an exec projection runs a program of its own; only table and latest projections can be emitted as SQL",
            def.name
        ),
    };
    out.push_str(&body);
    out.push_str(";\n");
    Ok(out)
}

fn header(def: &ProjectionDef, engine: Engine, inputs: &Inputs) -> String {
    let engine_name = match engine {
        Engine::Duckdb => "duckdb",
        Engine::Spark => "spark",
    };
    let until = format_millis(inputs.until);
    format!(
        "-- chronicle rebuild {name} --emit-sql {engine_name}: the {kind} projection `{name}`
-- from the archive {archive} and the live part {live},
-- events received before {until} (the stable time), each id once.
-- Make the live part right after emitting this, with the same stable time:
--   chronicle export --until {until} --type {types} -o {live}
-- Decimal columns are exact text (as chronicle writes them to SQLite).
",
        name = def.name,
        kind = def.kind.name(),
        archive = inputs.archive,
        live = inputs.live,
        types = def.types.join(" --type "),
    )
}

/// Per-engine spelling of the few things DuckDB and Spark SQL write
/// differently; everything else is emitted once for both.
struct Dialect(Engine);

/// A value of one event in SQL: text, or a decimal given by the text it is
/// parsed from (its scale is read off that text, as `Decimal::parse` does).
enum Sql {
    Text(String),
    Decimal(String),
}

const CANONICAL_DUCKDB: &str = "'%Y-%m-%dT%H:%M:%S.%gZ'";
const CANONICAL_SPARK: &str = "\"yyyy-MM-dd'T'HH:mm:ss.SSS'Z'\"";

impl Dialect {
    fn spark(&self) -> bool {
        self.0 == Engine::Spark
    }

    /// A string literal.
    fn lit(&self, text: &str) -> String {
        if self.spark() {
            // Spark reads backslash escapes inside literals.
            format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
        } else {
            format!("'{}'", text.replace('\'', "''"))
        }
    }

    fn ident(&self, name: &str) -> String {
        // Names passed `is_sql_name`: letters, digits and `_` only.
        if self.spark() {
            format!("`{name}`")
        } else {
            format!("\"{name}\"")
        }
    }

    /// A timestamp column as chronicle's text form.
    fn canonical(&self, ts: &str) -> String {
        if self.spark() {
            format!("date_format({ts}, {CANONICAL_SPARK})")
        } else {
            format!("strftime({ts}, {CANONICAL_DUCKDB})")
        }
    }

    /// RFC 3339 text with any offset as chronicle's text form, in UTC.
    fn reformat_time(&self, text: &str) -> String {
        if self.spark() {
            self.canonical(&format!("CAST({text} AS TIMESTAMP)"))
        } else {
            self.canonical(&format!("CAST({text} AS TIMESTAMPTZ)"))
        }
    }

    fn json_field(&self, path: &[String]) -> String {
        // Keys hold letters, digits, `_` and `-` only (the expression
        // tokenizer allows nothing else), so no escaping is needed.
        if self.spark() {
            let steps: String = path.iter().map(|k| format!("['{k}']")).collect();
            // A double-quoted literal: the path itself holds single quotes.
            format!("get_json_object(payload, \"${steps}\")")
        } else {
            let steps: String = path.iter().map(|k| format!(".\"{k}\"")).collect();
            format!("json_extract_string(payload, '${steps}')")
        }
    }

    /// The extreme of `fields` in their order (a struct compares field by
    /// field), and then its last field. One plain `min`/`max` of a struct
    /// rather than `min_by`/`max_by`: with pyspark 4.3.0, `max_by` over a
    /// struct key gave a wrong row when other aggregates shared the query
    /// (tests/spark.rs caught it; the struct `max` is right in both engines).
    /// Rows where `cond` is false have no struct at all (a struct holding
    /// NULL would still compare).
    fn extreme(&self, func: &str, cond: &str, fields: &[String]) -> String {
        let last = fields.len() - 1;
        if self.spark() {
            let named: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| format!("'k{i}', {f}"))
                .collect();
            format!(
                "{func}(CASE WHEN {cond} THEN named_struct({}) END).k{last}",
                named.join(", ")
            )
        } else {
            let named: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| format!("k{i} := {f}"))
                .collect();
            format!(
                "struct_extract({func}(CASE WHEN {cond} THEN struct_pack({}) END), 'k{last}')",
                named.join(", ")
            )
        }
    }

    fn text_type(&self) -> &'static str {
        if self.spark() {
            "STRING"
        } else {
            "VARCHAR"
        }
    }

    /// The events CTEs: `archived`, `live` (minus ids also archived) and
    /// `events`, with every timestamp as canonical text and the payload as
    /// its JSON text.
    fn sources(&self, inputs: &Inputs, types: &str, until: &str) -> String {
        let mut out = String::new();
        let archived_cols = format!(
            "id, service, type, aggregate_id, correlation_id,\n         {} AS created_at,\n         {} AS received_at,\n         CAST(payload AS {}) AS payload",
            self.canonical("created_at"),
            self.canonical("received_at"),
            self.text_type()
        );
        let live_cols = "id, meta.service AS service, meta.type AS type, meta.aggregate_id AS aggregate_id,\n         meta.correlation_id AS correlation_id, meta.created_at AS created_at,\n         meta.received_at AS received_at, CAST(payload AS TEXT_TYPE) AS payload"
            .replace("TEXT_TYPE", self.text_type());
        if self.spark() {
            // Timestamps are formatted in the session's zone: make it UTC.
            out.push_str("SET spark.sql.session.timeZone = UTC;\n");
            // Open-source Spark reads S3 through Hadoop's `s3a` file system;
            // `s3://` names no file system there.
            let archive = match inputs.archive.strip_prefix("s3://") {
                Some(rest) => format!("s3a://{rest}"),
                None => inputs.archive.clone(),
            };
            let _ = writeln!(
                out,
                "CREATE OR REPLACE TEMPORARY VIEW chronicle_archive USING parquet OPTIONS (path {});",
                self.lit(&archive)
            );
            // The schema is given so that the payload stays one JSON text.
            let _ = writeln!(
                out,
                "CREATE OR REPLACE TEMPORARY VIEW chronicle_live (id STRING, meta STRUCT<service: STRING, type: STRING, created_at: STRING, received_at: STRING, aggregate_id: STRING, correlation_id: STRING>, payload STRING) USING json OPTIONS (path {});",
                self.lit(&inputs.live)
            );
            let _ = write!(
                out,
                "WITH archived AS (\n  SELECT {archived_cols}\n  FROM chronicle_archive\n  WHERE type IN ({types})\n),\n"
            );
            let _ = write!(
                out,
                "live AS (\n  SELECT {live_cols}\n  FROM chronicle_live\n  WHERE meta.type IN ({types})\n),\n"
            );
        } else {
            out.push_str("SET TimeZone = 'UTC';\n");
            let glob = format!("{}/**/*.parquet", inputs.archive.trim_end_matches('/'));
            let _ = write!(
                out,
                "WITH archived AS (\n  SELECT {archived_cols}\n  FROM read_parquet({}, hive_partitioning = false)\n  WHERE type IN ({types})\n),\n",
                self.lit(&glob)
            );
            let _ = write!(
                out,
                "live AS (\n  SELECT {live_cols}\n  FROM read_json({}, format = 'newline_delimited', columns = {{id: 'VARCHAR', meta: 'STRUCT(service VARCHAR, type VARCHAR, created_at VARCHAR, received_at VARCHAR, aggregate_id VARCHAR, correlation_id VARCHAR)', payload: 'JSON'}})\n  WHERE meta.type IN ({types})\n),\n",
                self.lit(&inputs.live)
            );
        }
        let _ = write!(
            out,
            "events AS (\n  SELECT * FROM archived WHERE received_at < '{until}'\n  UNION ALL\n  SELECT * FROM live l\n  WHERE received_at < '{until}'\n    AND NOT EXISTS (SELECT 1 FROM archived a WHERE a.id = l.id)\n),\n"
        );
        out
    }

    /// A row expression of one event.
    fn row(&self, expr: &RowExpr) -> Sql {
        match expr {
            RowExpr::Id => Sql::Text("id".into()),
            RowExpr::Type => Sql::Text("type".into()),
            RowExpr::Service => Sql::Text("service".into()),
            RowExpr::AggregateId => Sql::Text("aggregate_id".into()),
            RowExpr::CorrelationId => Sql::Text("correlation_id".into()),
            RowExpr::CreatedAt => Sql::Text("created_at".into()),
            RowExpr::ReceivedAt => Sql::Text("received_at".into()),
            RowExpr::Payload(path) => Sql::Text(self.json_field(path)),
            RowExpr::Part(part, inner) => {
                let len = match part {
                    TimePart::Year => 4,
                    TimePart::Month => 7,
                    TimePart::Day => 10,
                    TimePart::Hour => 13,
                };
                let canonical = match **inner {
                    RowExpr::CreatedAt | RowExpr::ReceivedAt => self.text(inner),
                    _ => self.reformat_time(&self.text(inner)),
                };
                Sql::Text(format!("substr({canonical}, 1, {len})"))
            }
            RowExpr::Amount(inner) => Sql::Decimal(format!(
                "trim(regexp_extract({}, '^(.*)/[^/]*$', 1))",
                self.text(inner)
            )),
            RowExpr::Currency(inner) => Sql::Text(format!(
                "trim(regexp_extract({}, '/([^/]*)$', 1))",
                self.text(inner)
            )),
            RowExpr::Number(inner) => Sql::Decimal(format!("trim({})", self.text(inner))),
        }
    }

    /// The text form of a row expression (what a TEXT column receives).
    fn text(&self, expr: &RowExpr) -> String {
        match self.row(expr) {
            Sql::Text(t) => t,
            Sql::Decimal(src) => self.format(&value(&src), &scale(&src)),
        }
    }

    /// A row expression as a number (`sum`, numeric `min`/`max`): payload
    /// fields are parsed as `to_decimal` does.
    fn decimal_source(&self, expr: &RowExpr) -> String {
        match self.row(expr) {
            Sql::Text(t) => format!("trim({t})"),
            Sql::Decimal(src) => src,
        }
    }

    /// A `DECIMAL(38,18)` value written with exactly `scale` fractional
    /// digits: the cast to text gives all 18, of which the ones past the
    /// scale are zeros by construction, so cutting them is exact.
    fn format(&self, value: &str, scale: &str) -> String {
        let text = format!("CAST({value} AS {})", self.text_type());
        format!(
            "CASE WHEN {scale} = 0 THEN substr({text}, 1, instr({text}, '.') - 1) ELSE substr({text}, 1, instr({text}, '.') + {scale}) END"
        )
    }
}

/// Decimal text as `DECIMAL(38,18)`.
fn value(src: &str) -> String {
    format!("CAST({src} AS DECIMAL(38,18))")
}

/// The scale `Decimal::parse` gives decimal text: its fractional digits
/// minus its exponent, at least 0.
fn scale(src: &str) -> String {
    format!(
        "greatest(length(regexp_extract({src}, '^[-+]?[0-9]*[.]([0-9]*)', 1)) - coalesce(CAST(nullif(regexp_extract({src}, '[eE]([-+]?[0-9]+)$', 1), '') AS INT), 0), 0)"
    )
}

/// Reversed text order of canonical timestamps and ids (same length, same
/// layout): the `max` of a struct holding it picks the earliest of equal
/// values.
fn reversed(text: &str) -> String {
    format!("translate({text}, '0123456789abcdef', 'fedcba9876543210')")
}

/// The per-event columns of a `table` query, in three steps so that each
/// decimal's text is written once: the text a decimal is parsed from
/// (`X_src`), its value and scale (`X_v`, `X_s`), and its text (`X_t`).
#[derive(Default)]
struct Layers {
    extracted: Vec<String>,
    typed: Vec<String>,
    formatted: Vec<String>,
}

impl Layers {
    fn decimal(&mut self, e: &Dialect, alias: &str, src: &str, formatted: bool) {
        self.extracted.push(format!("{src} AS {alias}_src"));
        self.typed
            .push(format!("{} AS {alias}_v", value(&format!("{alias}_src"))));
        self.typed
            .push(format!("{} AS {alias}_s", scale(&format!("{alias}_src"))));
        if formatted {
            self.formatted.push(format!(
                "{} AS {alias}_t",
                e.format(&format!("{alias}_v"), &format!("{alias}_s"))
            ));
        }
    }

    fn sql(&self) -> String {
        let step = |name: &str, from: &str, cols: &[String], base: &str| {
            let mut all = vec![base.to_string()];
            all.extend(cols.iter().cloned());
            format!(
                "{name} AS (\n  SELECT {}\n  FROM {from}\n),\n",
                all.join(",\n         ")
            )
        };
        step(
            "extracted",
            "events",
            &self.extracted,
            "id, received_at, type",
        ) + &step("typed", "extracted", &self.typed, "*")
            + &step("per_event", "typed", &self.formatted, "*")
    }
}

fn table(e: &Dialect, name: &str, def: &TableDef) -> anyhow::Result<String> {
    let key = |i: usize| format!("projections.{name}.columns[{i}].value");
    let mut layers = Layers::default();
    let mut groups: Vec<String> = Vec::new();
    for (i, g) in def.group.iter().enumerate() {
        let alias = format!("g{i}");
        match e.row(&g.expr) {
            Sql::Text(t) => {
                layers.extracted.push(format!("{t} AS {alias}"));
                groups.push(alias);
            }
            Sql::Decimal(src) => {
                layers.decimal(e, &alias, &src, true);
                groups.push(format!("{alias}_t"));
            }
        }
    }
    let mut aggs: Vec<String> = groups.clone();
    // Per column: the numeric value and scale of the output row, used by
    // derived columns (None for text columns).
    let mut numeric: Vec<Option<(String, String)>> = Vec::new();
    let mut outputs: Vec<String> = groups
        .iter()
        .zip(&def.group)
        .map(|(g, col)| format!("{g} AS {}", e.ident(&col.name)))
        .collect();
    for (i, column) in def.columns.iter().enumerate() {
        let c = format!("c{i}");
        match column {
            Column::Aggregate {
                name,
                func,
                arg,
                types,
                sql,
            } => {
                let cond = match types {
                    Some(types) => format!(
                        "type IN ({})",
                        types
                            .iter()
                            .map(|t| e.lit(t))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => "TRUE".into(),
                };
                layers.extracted.push(format!("{cond} AS {c}_on"));
                let when = |x: &str| format!("CASE WHEN {c}_on THEN {x} END");
                let out = e.ident(name);
                match (func, arg) {
                    (AggFn::Count, None) => {
                        aggs.push(format!("count({}) AS {c}", when("1")));
                        outputs.push(format!("{c} AS {out}"));
                        numeric.push(Some((value(&c), "0".into())));
                    }
                    (AggFn::Count, Some(arg)) => {
                        let present = match e.row(arg) {
                            Sql::Text(t) | Sql::Decimal(t) => t,
                        };
                        layers.extracted.push(format!("{present} AS {c}_x"));
                        aggs.push(format!("count({}) AS {c}", when(&format!("{c}_x"))));
                        outputs.push(format!("{c} AS {out}"));
                        numeric.push(Some((value(&c), "0".into())));
                    }
                    (AggFn::Sum, Some(arg)) => {
                        layers.decimal(e, &c, &e.decimal_source(arg), false);
                        aggs.push(format!(
                            "coalesce(sum({}), CAST(0 AS DECIMAL(38,18))) AS {c}_v",
                            when(&format!("{c}_v"))
                        ));
                        aggs.push(format!(
                            "coalesce(max({}), 0) AS {c}_s",
                            when(&format!("{c}_s"))
                        ));
                        outputs.push(format!(
                            "{} AS {out}",
                            e.format(&format!("{c}_v"), &format!("{c}_s"))
                        ));
                        numeric.push(Some((format!("{c}_v"), format!("{c}_s"))));
                    }
                    (AggFn::Min | AggFn::Max, Some(arg)) if *sql == SqlType::Numeric => {
                        layers.decimal(e, &c, &e.decimal_source(arg), true);
                        // The earliest of equal values in (received_at, id)
                        // order wins, as in the fold: `3.0` and `3.00` are
                        // equal but print differently.
                        let cond = format!("{c}_on AND {c}_v IS NOT NULL");
                        let fields = if *func == AggFn::Min {
                            [
                                format!("{c}_v"),
                                "received_at".into(),
                                "id".into(),
                                format!("{c}_t"),
                            ]
                        } else {
                            [
                                format!("{c}_v"),
                                reversed("received_at"),
                                reversed("id"),
                                format!("{c}_t"),
                            ]
                        };
                        let f = if *func == AggFn::Min { "min" } else { "max" };
                        let extreme = e.extreme(f, &cond, &fields);
                        aggs.push(format!("{extreme} AS {c}"));
                        outputs.push(format!("{c} AS {out}"));
                        numeric.push(Some((value(&c), scale(&c))));
                    }
                    (AggFn::Min | AggFn::Max, Some(arg)) => {
                        layers.extracted.push(format!("{} AS {c}_t", e.text(arg)));
                        let f = if *func == AggFn::Min { "min" } else { "max" };
                        aggs.push(format!("{f}({}) AS {c}", when(&format!("{c}_t"))));
                        outputs.push(format!("{c} AS {out}"));
                        numeric.push(None);
                    }
                    (AggFn::CountDistinct, Some(arg)) => {
                        match (arg.static_type(), e.row(arg)) {
                            // Decimals count by value: 3.0 and 3.00 are one.
                            (StaticType::Decimal, Sql::Decimal(src)) => {
                                layers.decimal(e, &c, &src, false);
                                layers.formatted.push(format!(
                                    "TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({c}_v AS {}))) AS {c}_x",
                                    e.text_type()
                                ));
                            }
                            _ => layers.extracted.push(format!("{} AS {c}_x", e.text(arg))),
                        }
                        aggs.push(format!(
                            "count(DISTINCT {}) AS {c}",
                            when(&format!("{c}_x"))
                        ));
                        outputs.push(format!("{c} AS {out}"));
                        numeric.push(Some((value(&c), "0".into())));
                    }
                    (_, None) => anyhow::bail!("{}: only count() takes no argument", key(i)),
                }
            }
            Column::Derived { name, expr } => {
                let (v, s) =
                    arith(expr, &numeric).map_err(|e| anyhow::anyhow!("{}: {e}", key(i)))?;
                outputs.push(format!("{} AS {}", e.format(&v, &s), e.ident(name)));
                numeric.push(Some((v, s)));
            }
        }
    }
    let mut out = layers.sql();
    let grouping = if groups.is_empty() {
        // One row over all events, and none when there are no events (as
        // chronicle writes no group without events).
        "HAVING count(*) > 0".to_string()
    } else {
        format!("GROUP BY {}", groups.join(", "))
    };
    let _ = write!(
        out,
        "grouped AS (\n  SELECT {}\n  FROM per_event\n  {grouping}\n)\nSELECT {}\nFROM grouped",
        aggs.join(",\n         "),
        outputs.join(",\n       ")
    );
    if !groups.is_empty() {
        let _ = write!(out, "\nORDER BY {}", groups.join(", "));
    }
    Ok(out)
}

/// A derived column's value and scale, following `Decimal`'s rules: a sum
/// or difference keeps the larger scale; a null operand gives null.
fn arith(
    expr: &RowArith,
    columns: &[Option<(String, String)>],
) -> Result<(String, String), String> {
    Ok(match expr {
        RowArith::Column(i) => columns
            .get(*i)
            .cloned()
            .flatten()
            .ok_or("refers to a column that is not numeric")?,
        RowArith::Number(d) => (
            format!("CAST('{d}' AS DECIMAL(38,18))"),
            d.scale().to_string(),
        ),
        RowArith::Negate(inner) => {
            let (v, s) = arith(inner, columns)?;
            (format!("(-{v})"), s)
        }
        RowArith::Binary(op @ ('+' | '-'), a, b) => {
            let (va, sa) = arith(a, columns)?;
            let (vb, sb) = arith(b, columns)?;
            (format!("({va} {op} {vb})"), format!("greatest({sa}, {sb})"))
        }
        RowArith::Binary(op, ..) => {
            return Err(format!(
                "`{op}` cannot be emitted as SQL: the scale of an exact product depends on the data, which a SQL decimal type cannot follow; rebuild this projection with chronicle"
            ))
        }
    })
}

fn latest(e: &Dialect, def: &LatestDef) -> String {
    let mut fields = Vec::new();
    for (name, expr) in &def.fields {
        fields.push(format!("{} AS {}", e.text(expr), e.ident(name)));
    }
    let fields = if fields.is_empty() {
        String::new()
    } else {
        format!("{},\n       ", fields.join(",\n       "))
    };
    format!(
        "ranked AS (\n  SELECT *, row_number() OVER (PARTITION BY aggregate_id ORDER BY created_at DESC, received_at DESC, id DESC) AS chronicle_rank\n  FROM events\n  WHERE aggregate_id IS NOT NULL\n)\nSELECT aggregate_id, type AS {},\n       {fields}created_at, received_at, id AS event_id\nFROM ranked\nWHERE chronicle_rank = 1\nORDER BY aggregate_id",
        e.ident("type")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(toml_text: &str) -> ProjectionDef {
        let value: toml::Value = toml::from_str(toml_text).unwrap();
        let mut map = std::collections::BTreeMap::new();
        map.insert("p".to_string(), value);
        super::super::config::find(&map, "p").unwrap()
    }

    fn inputs() -> Inputs {
        Inputs {
            archive: "archive".into(),
            live: "live.jsonl".into(),
            until: 0,
        }
    }

    #[test]
    fn multiplication_is_refused_naming_the_column() {
        let d = def(r#"
kind = "table"
types = ["a"]
target = "sqlite:r.db"
columns = [
  { name = "n", value = "count()" },
  { name = "twice", value = "n * 2" },
]"#);
        for engine in [Engine::Duckdb, Engine::Spark] {
            let err = emit(&d, engine, &inputs()).unwrap_err().to_string();
            assert!(
                err.starts_with("projections.p.columns[1].value: `*`"),
                "{err}"
            );
        }
    }

    #[test]
    fn exec_is_refused() {
        let d = def(r#"
kind = "exec"
types = ["a"]
command = ["true"]"#);
        let err = emit(&d, Engine::Duckdb, &inputs()).unwrap_err().to_string();
        assert!(err.starts_with("projections.p.kind:"), "{err}");
    }

    #[test]
    fn spark_reads_s3_through_s3a() {
        let d = def(r#"
kind = "latest"
types = ["a"]
target = "sqlite:r.db"
fields = ["x"]"#);
        let mut on_s3 = inputs();
        on_s3.archive = "s3://bucket/archive".into();
        let spark = emit(&d, Engine::Spark, &on_s3).unwrap();
        assert!(spark.contains("(path 's3a://bucket/archive')"), "{spark}");
        let duckdb = emit(&d, Engine::Duckdb, &on_s3).unwrap();
        assert!(duckdb.contains("read_parquet('s3://bucket/archive/**/*.parquet'"));
    }

    #[test]
    fn literals_are_escaped_per_engine() {
        assert_eq!(Dialect(Engine::Duckdb).lit("it's"), "'it''s'");
        assert_eq!(Dialect(Engine::Spark).lit("it's\\"), "'it\\'s\\\\'");
    }
}
