//! Writes the drafted mapping as commented TOML. Every decision that needs
//! a person (service, type, key, time zone, and a missing timestamp) gets a
//! working default and a `# TODO` comment above it; every payload key says
//! what the sample showed (type, empty ratio, an example).

use std::fmt::Write as _;
use std::path::Path;

use super::csv::CsvSniff;
use super::profile::{ColumnReport, ColumnType};

pub struct Input<'a> {
    pub file: &'a Path,
    pub format: &'a str,
    pub table: Option<&'a str>,
    pub csv: Option<&'a CsvSniff>,
    pub records: u64,
    pub columns: &'a [ColumnReport],
}

pub struct Rendered {
    pub text: String,
    pub candidate_keys: Vec<String>,
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        name.to_string()
    } else {
        quote(name)
    }
}

/// `legacy-payments.csv.gz` -> `legacy-payments`; a table wins for dumps.
fn service_name(file: &Path, table: Option<&str>) -> String {
    let base = match table {
        Some(t) => t.rsplit('.').next().unwrap_or(t).to_string(),
        None => {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.split('.').next().unwrap_or("").to_string()
        }
    };
    let mut out = String::new();
    for c in base.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "legacy".into()
    } else {
        out
    }
}

/// Higher is a better `created_at` by name.
fn time_name_rank(name: &str) -> u8 {
    let n = name.to_ascii_lowercase();
    if n.starts_with("created") || n == "ts" || n == "timestamp" {
        3
    } else if n.ends_with("_at") || n.contains("date") || n.contains("time") {
        2
    } else {
        1
    }
}

/// The timestamp source for `created_at`: (column, format, values that do
/// not fit).
fn pick_created_at(columns: &[ColumnReport]) -> Option<(&ColumnReport, String, u64)> {
    let mut best: Option<(u8, &ColumnReport, String, u64)> = None;
    for c in columns {
        let candidate = match (&c.column_type, &c.mostly_time, c.unix) {
            (ColumnType::Timestamp { format }, _, _) => Some((4, format.clone(), 0)),
            (_, Some((format, misfits)), _) => Some((2, format.clone(), *misfits)),
            (_, _, Some(unix)) => Some((1, unix.to_string(), 0)),
            _ => None,
        };
        if let Some((class, format, misfits)) = candidate {
            let rank = class * 4 + time_name_rank(&c.name);
            if best.as_ref().is_none_or(|(r, ..)| rank > *r) {
                best = Some((rank, c, format, misfits));
            }
        }
    }
    best.map(|(_, c, f, m)| (c, f, m))
}

/// Columns unique in the sample that could be a natural key, best first.
fn candidate_keys(columns: &[ColumnReport]) -> Vec<&ColumnReport> {
    let mut keys: Vec<(u8, usize, &ColumnReport)> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.unique)
        .filter(|(_, c)| matches!(c.column_type, ColumnType::String | ColumnType::Int))
        .map(|(i, c)| {
            let n = c.name.to_ascii_lowercase();
            let rank = if n == "_id" || n == "id" {
                3
            } else if n.ends_with("_id") || n.ends_with("id") || n.ends_with("key") {
                2
            } else {
                1
            };
            (rank, i, c)
        })
        .collect();
    keys.sort_by_key(|(rank, i, _)| (std::cmp::Reverse(*rank), *i));
    keys.into_iter().map(|(_, _, c)| c).collect()
}

fn describe(c: &ColumnReport) -> String {
    let mut d = match &c.column_type {
        ColumnType::Decimal { scale } => format!("decimal, scale {scale}"),
        ColumnType::Timestamp { format } => format!("timestamp `{format}`"),
        other => other.name().to_string(),
    };
    let _ = write!(d, ", {:.0}% empty", c.empty_ratio * 100.0);
    if c.unique {
        d.push_str(", unique");
    }
    if let Some(e) = &c.example {
        let short: String = e.chars().take(30).collect();
        let short = short.replace(['\n', '\r'], " ");
        let _ = write!(d, ", e.g. {short:?}");
    }
    d
}

fn is_naive(format: &str) -> bool {
    !(format == "rfc3339" || format.starts_with("unix") || format.contains('z'))
}

fn payload_spec(c: &ColumnReport) -> String {
    let mut parts = vec![format!("column = {}", quote(&c.name))];
    let typed = !matches!(c.column_type, ColumnType::String);
    match &c.column_type {
        ColumnType::String => {}
        ColumnType::Decimal { scale } => {
            parts.push("type = \"decimal\"".into());
            parts.push(format!("scale = {scale}"));
        }
        ColumnType::Timestamp { format } => {
            parts.push("type = \"timestamp\"".into());
            if format != "rfc3339" {
                parts.push(format!("format = {}", quote(format)));
            }
            if is_naive(format) {
                parts.push("timezone = \"UTC\"".into());
            }
        }
        other => parts.push(format!("type = {}", quote(other.name()))),
    }
    if c.empties > 0 {
        // Typed values would reject an empty by default; the sample has
        // some, so they are kept as null (strings are left out).
        parts.push(
            if typed {
                "empty = \"null\""
            } else {
                "empty = \"omit\""
            }
            .into(),
        );
    }
    format!("{{ {} }}", parts.join(", "))
}

pub fn render(input: &Input<'_>) -> Rendered {
    let mut t = String::new();
    let file = input.file.display();
    let name = input
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let command = if input.format == "csv" { "csv" } else { "dump" };
    let _ = writeln!(
        t,
        "# Drafted by `chronicle mapping draft` from {name} ({} records sampled).\n\
         # Each TODO marks a choice only you can make; the value under it is a\n\
         # default that imports as it is. Try it without writing anything:\n\
         #   chronicle import {command} {file} --mapping THIS.toml --dry-run --show 5\n\
         # docs/mapping.md describes every key.",
        input.records
    );
    t.push_str("\n[source]\n");
    let _ = writeln!(t, "format = {}", quote(input.format));
    if let Some(table) = input.table {
        let _ = writeln!(t, "table = {}", quote(table));
    }
    if let Some(csv) = input.csv {
        let _ = writeln!(
            t,
            "encoding = {}{}",
            quote(csv.encoding),
            match (csv.encoding, csv.bom) {
                ("utf-8", true) => "   # valid UTF-8, with a byte-order mark",
                ("utf-8", false) => "   # valid UTF-8",
                _ => "   # not UTF-8: read as Windows-1252 (what \"ISO-8859-1\" exports are)",
            }
        );
        let delimiter = match csv.delimiter {
            b'\t' => "tab".to_string(),
            d => char::from(d).to_string(),
        };
        let _ = writeln!(
            t,
            "delimiter = {}   # {} fields in {} of {} sampled records",
            quote(&delimiter),
            csv.fields,
            input.records,
            input.records + csv.irregular
        );
        let _ = writeln!(
            t,
            "quote = {}   # {}",
            quote(&char::from(csv.quote).to_string()),
            if csv.quoted {
                "quoted fields seen (RFC 4180: \"\" inside quotes)"
            } else {
                "no quoted fields seen"
            }
        );
        let _ = writeln!(
            t,
            "has_header = {}   # {}",
            csv.has_header,
            if csv.has_header {
                "the first row names the columns"
            } else {
                "the first row is data; the columns are named below"
            }
        );
        if !csv.has_header {
            let names: Vec<String> = csv.columns.iter().map(|c| quote(c)).collect();
            let _ = writeln!(t, "columns = [{}]", names.join(", "));
        }
    }

    t.push_str("\n[event]\n");
    let service = service_name(input.file, input.table);
    let _ = writeln!(
        t,
        "# TODO service: the service that emitted these events (taken from the file name).\nservice = {}",
        quote(&service)
    );
    let type_column = input
        .columns
        .iter()
        .filter(|c| {
            c.column_type == ColumnType::String
                && c.empties == 0
                && c.few_values.as_ref().is_some_and(|v| v.len() > 1)
        })
        .max_by_key(|c| {
            let n = c.name.to_ascii_lowercase();
            let hinted = ["status", "type", "kind", "state", "event", "action"]
                .iter()
                .any(|h| n.contains(h));
            (
                hinted,
                std::cmp::Reverse(c.few_values.as_ref().map_or(0, Vec::len)),
            )
        });
    match type_column {
        Some(c) => {
            let values = c.few_values.as_deref().unwrap_or_default().join(", ");
            let _ = writeln!(
                t,
                "# TODO type: one name for all, or a template; `{}` has the values {values}:\n#   type = {}",
                c.name,
                quote(&format!("{service}-{{{}}}", c.name))
            );
        }
        None => {
            t.push_str("# TODO type: one name for all, or a template such as \"order-{status}\".\n")
        }
    }
    let _ = writeln!(t, "type = {}", quote(&service));

    let keys = candidate_keys(input.columns);
    let key_names: Vec<String> = keys.iter().map(|c| c.name.clone()).collect();
    match keys.first() {
        Some(k) => {
            let _ = writeln!(
                t,
                "# TODO key: the natural key of a record; unique in the sample: {}.\n\
                 # Without `key`, the id is a hash of the whole record (exact copies collapse).\n\
                 key = {}",
                key_names.join(", "),
                quote(&format!("{{{}}}", k.name))
            );
        }
        None => t.push_str(
            "# TODO key: no column is unique in the sample, so the id is a hash of the\n\
             # whole record (exact copies collapse). Name a natural key if there is one:\n\
             # key = \"{column}\"\n",
        ),
    }

    let created = pick_created_at(input.columns);
    match &created {
        Some((c, format, misfits)) => {
            if *misfits > 0 {
                let _ = writeln!(
                    t,
                    "# {misfits} sampled value(s) of `{}` do not fit `{format}`: those records are rejected, with the reason.",
                    c.name
                );
            }
            if c.empties > 0 {
                let _ = writeln!(
                    t,
                    "# `{}` is empty in {} sampled record(s): those records are rejected.",
                    c.name, c.empties
                );
            }
            let mut parts = vec![format!("column = {}", quote(&c.name))];
            if format != "rfc3339" {
                parts.push(format!("format = {}", quote(format)));
            }
            if format.starts_with("unix") {
                let _ = writeln!(
                    t,
                    "# TODO created_at: `{}` looks like Unix time ({format}); check that it is the time the event happened.",
                    c.name
                );
            }
            if is_naive(format) {
                let _ = writeln!(
                    t,
                    "# TODO time zone: `{}` holds local times without an offset; they are read as UTC\n\
                     # until you name the zone they were written in (e.g. \"Europe/Berlin\").",
                    c.name
                );
                parts.push("timezone = \"UTC\"".into());
            }
            let _ = writeln!(t, "created_at = {{ {} }}", parts.join(", "));
        }
        None => {
            t.push_str(
                "# TODO created_at: no column in the sample holds timestamps. Until you name one,\n\
                 # e.g. { column = \"created\", format = \"%Y-%m-%d %H:%M:%S\", timezone = \"Europe/Berlin\" },\n\
                 # every event gets this constant time.\n\
                 created_at = { value = \"1970-01-01T00:00:00Z\" }\n",
            );
        }
    }

    t.push_str("\n[payload]\n# key = source   # what the sample showed\n");
    let created_name = created.as_ref().map(|(c, ..)| c.name.as_str());
    let mut used = std::collections::HashSet::new();
    for c in input.columns {
        if Some(c.name.as_str()) == created_name {
            continue;
        }
        let mut payload_key = c.name.replace('.', "_");
        while !used.insert(payload_key.clone()) {
            payload_key.push('_');
        }
        let _ = writeln!(
            t,
            "{} = {}   # {}",
            key(&payload_key),
            payload_spec(c),
            describe(c)
        );
    }
    Rendered {
        text: t,
        candidate_keys: key_names,
    }
}
