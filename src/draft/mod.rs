//! `chronicle mapping draft`: sniffs a bounded sample of an input (CSV or a
//! database dump) and writes a commented mapping that `import` accepts as
//! it is. Where only a person can decide (service, type, key, time zone) the
//! draft fills in a working default and marks it with a `# TODO` comment, so
//! the file stays valid TOML that imports.
//!
//! The draft is checked before it is returned: it is parsed and run over
//! the same sample through the import's own reader, and the result (mapped,
//! rejected, first reason) is part of the report.

mod csv;
mod profile;
mod render;
mod sample;

use std::path::Path;

use serde::Serialize;

pub use profile::{ColumnReport, ColumnType};

use crate::mapping::Mapping;
use crate::source::csv::CsvSource;
use crate::source::dump::{open_dump, DumpFormat};
use crate::source::{EventSource, Item};

/// Records read for the profiles (and the check) at most.
pub const SAMPLE_RECORDS: usize = 10_000;

/// What to draft from.
#[derive(Debug, Clone, Default)]
pub struct DraftOptions {
    /// `csv`, `pgdump`, `mysqldump`, `bson` (mongodump), `extjson`
    /// (mongoexport); detected when `None`.
    pub format: Option<String>,
    /// The dump's table or collection.
    pub table: Option<String>,
    pub sample: usize,
}

/// The CSV dialect found, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct CsvDialectReport {
    pub encoding: String,
    pub delimiter: String,
    pub quote: String,
    pub has_header: bool,
    pub fields: usize,
    /// Sampled records with another number of fields (rejected at import).
    pub irregular_records: u64,
}

/// How the draft fared on the sample.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DraftCheck {
    pub read: u64,
    pub mapped: u64,
    pub rejected: u64,
    pub skipped: u64,
    /// The first reject's reason, with its line.
    pub first_reject: Option<String>,
}

/// A drafted mapping and what the sample showed.
#[derive(Debug, Clone, Serialize)]
pub struct Draft {
    pub file: String,
    pub format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvDialectReport>,
    pub records_sampled: u64,
    pub columns: Vec<ColumnReport>,
    pub candidate_keys: Vec<String>,
    pub check: DraftCheck,
    /// The mapping file's text.
    pub mapping: String,
}

fn parse_format(name: &str) -> anyhow::Result<Option<DumpFormat>> {
    Ok(Some(match name {
        "csv" => return Ok(None),
        "pgdump" | "pg_dump" => DumpFormat::PgDump,
        "mysqldump" | "mariadb" => DumpFormat::MySqlDump,
        "bson" | "mongodump" => DumpFormat::MongoDump,
        "extjson" | "mongoexport" | "json" => DumpFormat::MongoExport,
        other => anyhow::bail!(
            "unknown format `{other}`: expected csv, pgdump, mysqldump, bson or extjson"
        ),
    }))
}

/// Whether `path` is a dump rather than CSV, judged as `import dump` does.
fn looks_like_dump(path: &Path) -> anyhow::Result<bool> {
    if path.is_dir() {
        return Ok(true);
    }
    use std::io::BufRead;
    let mut input = crate::source::open_input(path)?;
    let head = input.reader.fill_buf()?.to_vec();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(crate::source::dump::detect(&name, &head).is_some() || head.starts_with(b"PGDMP"))
}

/// Drafts a mapping for `path`.
pub fn draft(path: &Path, options: &DraftOptions) -> anyhow::Result<Draft> {
    if path == Path::new("-") {
        anyhow::bail!(
            "mapping draft reads its input twice (to sniff, then to check the draft); save stdin to a file and draft from that"
        );
    }
    let sample = if options.sample == 0 {
        SAMPLE_RECORDS
    } else {
        options.sample
    };
    let dump_format = match options.format.as_deref() {
        Some(name) => parse_format(name)?,
        None => None,
    };
    let is_csv = match options.format.as_deref() {
        Some(name) => dump_format.is_none() && name == "csv",
        None => !looks_like_dump(path)?,
    };
    if is_csv {
        if options.table.is_some() {
            anyhow::bail!(
                "--table applies only to dumps; {} is read as CSV",
                path.display()
            );
        }
        let sniff = csv::sniff(path, sample)?;
        let columns = sniff.profiler.reports();
        let rendered = render::render(&render::Input {
            file: path,
            format: "csv",
            table: None,
            csv: Some(&sniff),
            records: sniff.profiler.records,
            columns: &columns,
        });
        let mapping = Mapping::parse("(drafted mapping)", &rendered.text)?;
        let (source, _, _) = CsvSource::open(path, &mapping)?;
        let check = check(Box::new(source), sample)?;
        Ok(Draft {
            file: path.display().to_string(),
            format: "csv".into(),
            csv: Some(CsvDialectReport {
                encoding: sniff.encoding.into(),
                delimiter: char::from(sniff.delimiter).to_string(),
                quote: char::from(sniff.quote).to_string(),
                has_header: sniff.has_header,
                fields: sniff.fields,
                irregular_records: sniff.irregular,
            }),
            records_sampled: sniff.profiler.records,
            columns,
            candidate_keys: rendered.candidate_keys,
            check,
            mapping: rendered.text,
        })
    } else {
        let dump = sample::sample_dump(path, dump_format, options.table.as_deref(), sample)?;
        let columns = dump.profiler.reports();
        let rendered = render::render(&render::Input {
            file: path,
            format: dump.format.name(),
            table: options.table.as_deref(),
            csv: None,
            records: dump.profiler.records,
            columns: &columns,
        });
        let mapping = Mapping::parse("(drafted mapping)", &rendered.text)?;
        let opened = open_dump(path, &mapping)?;
        let check = check(opened.source, sample)?;
        Ok(Draft {
            file: dump.path.display().to_string(),
            format: dump.format.name().into(),
            csv: None,
            records_sampled: dump.profiler.records,
            columns,
            candidate_keys: rendered.candidate_keys,
            check,
            mapping: rendered.text,
        })
    }
}

/// Runs the draft over the sample through the import's reader.
fn check(mut source: Box<dyn EventSource>, max: usize) -> anyhow::Result<DraftCheck> {
    let mut check = DraftCheck::default();
    while check.read < max as u64 {
        let Some(item) = source.next_item()? else {
            break;
        };
        check.read += 1;
        match item {
            Item::Event { .. } => check.mapped += 1,
            Item::Skipped => check.skipped += 1,
            Item::Rejected(r) => {
                check.rejected += 1;
                if check.first_reject.is_none() {
                    check.first_reject = Some(format!("line {}: {}", r.line, r.reason));
                }
            }
        }
    }
    Ok(check)
}
