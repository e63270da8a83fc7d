//! `import dump`: picks the reader for a database dump from `[source] format`
//! or, when it is omitted, from the file's name and first bytes, and checks
//! that the `[source]` keys make sense for it. pg_dump's custom, directory
//! and tar formats are recognised and refused with the command that
//! converts them to the plain format chronicle reads.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::bail;

use super::bson::{collection_file, collection_name, BsonSource};
use super::extjson::ExtJsonSource;
use super::mysqldump::MySqlDumpSource;
use super::pgdump::PgDumpSource;
use super::{empty_input_reason, open_input, EventSource, InputMeter};
use crate::mapping::Mapping;

/// The dump formats `import dump` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    PgDump,
    MySqlDump,
    MongoDump,
    MongoExport,
}

impl DumpFormat {
    pub fn name(self) -> &'static str {
        match self {
            DumpFormat::PgDump => "pgdump",
            DumpFormat::MySqlDump => "mysqldump",
            DumpFormat::MongoDump => "mongodump",
            DumpFormat::MongoExport => "mongoexport",
        }
    }

    fn parse(name: &str) -> Option<DumpFormat> {
        Some(match name {
            "pgdump" | "pg_dump" | "postgres" | "postgresql" => DumpFormat::PgDump,
            "mysqldump" | "mysql" | "mariadb" | "mariadb-dump" => DumpFormat::MySqlDump,
            "mongodump" | "bson" => DumpFormat::MongoDump,
            "mongoexport" | "extjson" | "json" => DumpFormat::MongoExport,
            _ => return None,
        })
    }
}

/// An opened dump, ready for the import pipeline.
pub struct OpenedDump {
    /// The file actually read (a mongodump directory resolves to a file).
    pub path: PathBuf,
    pub format: DumpFormat,
    pub source: Box<dyn EventSource>,
    pub meter: InputMeter,
    pub size: Option<u64>,
}

fn pg_restore_hint(path: &Path, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is a pg_dump {what} archive; chronicle reads the plain SQL format. Convert it with `pg_restore -f - {} > dump.sql` (add `-t TABLE` for one table) and import dump.sql",
        path.display(),
        path.display()
    )
}

/// Checks `[source]` for a dump and returns the explicit format, if any.
fn check_source(mapping: &Mapping) -> anyhow::Result<Option<DumpFormat>> {
    let s = &mapping.file.source;
    let csv_only = [
        ("delimiter", s.delimiter.is_some()),
        ("quote", s.quote.is_some()),
        ("encoding", s.encoding.is_some()),
        ("has_header", s.has_header.is_some()),
        ("columns", s.columns.is_some()),
        ("trim", s.trim.is_some()),
        ("lenient_quotes", s.lenient_quotes.is_some()),
        ("max_field_lines", s.max_field_lines.is_some()),
        ("max_field_bytes", s.max_field_bytes.is_some()),
    ];
    if let Some((key, _)) = csv_only.iter().find(|(_, set)| *set) {
        bail!(
            "mapping {}: source.{key} applies only to CSV; dumps name their own columns and encoding",
            mapping.path
        );
    }
    match s.format.as_deref() {
        None => Ok(None),
        Some("csv") => bail!(
            "mapping {}: source.format is `csv`; use `chronicle import csv` for CSV files",
            mapping.path
        ),
        Some(name) => DumpFormat::parse(name).map(Some).ok_or_else(|| {
            anyhow::anyhow!(
                "mapping {}: source.format: unknown format `{name}`; expected pgdump, mysqldump, mongodump or mongoexport",
                mapping.path
            )
        }),
    }
}

/// Guesses the format from the file name and its first (decompressed) bytes.
pub fn detect(name: &str, head: &[u8]) -> Option<DumpFormat> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".bson") || lower.ends_with(".bson.gz") {
        return Some(DumpFormat::MongoDump);
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(8192)]);
    if text.contains("PostgreSQL database dump") {
        return Some(DumpFormat::PgDump);
    }
    if text.contains("-- MySQL dump") || text.contains("-- MariaDB dump") {
        return Some(DumpFormat::MySqlDump);
    }
    match text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .next()
    {
        Some('{') | Some('[') => return Some(DumpFormat::MongoExport),
        _ => {}
    }
    if lower.ends_with(".json") || lower.ends_with(".jsonl") || lower.ends_with(".json.gz") {
        return Some(DumpFormat::MongoExport);
    }
    if text.contains("FROM stdin;") || text.contains("standard_conforming_strings") {
        return Some(DumpFormat::PgDump);
    }
    if text.contains("/*!40") || text.contains("INSERT INTO `") {
        return Some(DumpFormat::MySqlDump);
    }
    // A BSON document: a plausible length, then a known element type.
    if head.len() >= 5 {
        let len = i32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        let known = matches!(head[4], 0x00..=0x13 | 0x7f | 0xff);
        if (5..=48 << 20).contains(&len) && known {
            return Some(DumpFormat::MongoDump);
        }
    }
    None
}

/// Opens one dump and builds its source. The mapping is compiled here for
/// documents, and when the table's columns are reached for SQL dumps.
pub fn open_dump(path: &Path, mapping: &Mapping) -> anyhow::Result<OpenedDump> {
    let explicit = check_source(mapping)?;
    let table = mapping.file.source.table.clone();
    let mut path = path.to_path_buf();
    if path.is_dir() {
        if path.join("toc.dat").is_file() {
            return Err(pg_restore_hint(&path, "directory-format"));
        }
        if matches!(
            explicit,
            Some(DumpFormat::PgDump | DumpFormat::MySqlDump | DumpFormat::MongoExport)
        ) {
            bail!("{} is a directory; give the dump file", path.display());
        }
        path = collection_file(&path, table.as_deref())?;
    }
    let mut input = open_input(&path)?;
    let head = input.reader.fill_buf()?.to_vec();
    if head.is_empty() {
        bail!(
            "{} {}",
            path.display(),
            empty_input_reason(input.size, input.gzip, "data")
        );
    }
    if head.starts_with(b"PGDMP") {
        return Err(pg_restore_hint(&path, "custom-format"));
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        if head.starts_with(b"toc.dat") {
            return Err(pg_restore_hint(&path, "tar-format"));
        }
        bail!(
            "{} is a tar archive; unpack it and import the dump inside",
            path.display()
        );
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let format = match explicit.or_else(|| detect(&name, &head)) {
        Some(f) => f,
        None => bail!(
            "cannot tell what kind of dump {} is; set source.format in the mapping to pgdump, mysqldump, mongodump or mongoexport",
            path.display()
        ),
    };
    let reader: Box<dyn std::io::Read + Send> = Box::new(input.reader);
    let source: Box<dyn EventSource> = match format {
        DumpFormat::PgDump => Box::new(PgDumpSource::new(reader, mapping)?),
        DumpFormat::MySqlDump => Box::new(MySqlDumpSource::new(reader, mapping)?),
        DumpFormat::MongoDump => {
            if let Some(table) = &table {
                let collection = collection_name(&path)?;
                if &collection != table {
                    bail!(
                        "{} holds the collection `{collection}`, but source.table is \"{table}\"",
                        path.display()
                    );
                }
            }
            Box::new(BsonSource::new(reader, mapping)?)
        }
        DumpFormat::MongoExport => {
            if table.is_some() {
                bail!(
                    "mapping {}: source.table does not apply to mongoexport files, which hold one collection each",
                    mapping.path
                );
            }
            Box::new(ExtJsonSource::new(reader, mapping)?)
        }
    };
    Ok(OpenedDump {
        path,
        format,
        source,
        meter: input.meter,
        size: input.size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        let pg = b"--\n-- PostgreSQL database dump\n--\n";
        assert_eq!(detect("x.sql", pg), Some(DumpFormat::PgDump));
        let my = b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19\n";
        assert_eq!(detect("x.sql", my), Some(DumpFormat::MySqlDump));
        assert_eq!(
            detect("a.json", b"  [{\"a\":1}]"),
            Some(DumpFormat::MongoExport)
        );
        assert_eq!(detect("orders.bson.gz", b""), Some(DumpFormat::MongoDump));
        let mut bson = 12i32.to_le_bytes().to_vec();
        bson.extend_from_slice(b"\x10a\0\x01\0\0\0\0");
        assert_eq!(detect("orders", &bson), Some(DumpFormat::MongoDump));
        assert_eq!(detect("notes.txt", b"hello"), None);
    }
}
