//! CSV exports (RFC 4180): quoted fields with delimiters, quotes and line
//! breaks, LF or CRLF, an optional UTF-8 BOM, legacy encodings, and gzip.
//! `csv_split` cuts the input into records (strict quoting, bounded
//! fields, recovery from stray quotes); this module decodes their values
//! and maps them one at a time, so memory does not depend on the file size.
//!
//! Records are split on the input's own bytes when its encoding is
//! ASCII-compatible (UTF-8, windows-1252, Shift_JIS, ...), so a rejected
//! record is written back byte for byte; UTF-16 input is decoded to UTF-8
//! first.

use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context;

use super::csv_split::{
    Split, SplitOptions, Splitter, DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_FIELD_LINES,
};
use super::row::Row;
use super::{
    empty_input_reason, open_input, CsvRejects, EventSource, InputMeter, Item, RawRecord, Reject,
    RejectsFormat,
};
use crate::mapping::{CompiledMapping, Mapped, Mapping, SourceSection};

pub struct CsvSource {
    splitter: Splitter,
    columns: Vec<String>,
    mapping: CompiledMapping,
    encoding: &'static encoding_rs::Encoding,
    trim: bool,
    row: Row,
    scratch: String,
    rejects: CsvRejects,
}

/// What the `[source]` section says about reading CSV.
struct CsvDialect {
    delimiter: u8,
    quote: u8,
    has_header: bool,
    trim: bool,
    encoding: &'static encoding_rs::Encoding,
    lenient_quotes: bool,
    max_field_lines: u64,
    max_field_bytes: usize,
}

fn single_byte(
    mapping: &Mapping,
    key: &str,
    value: &Option<String>,
    default: u8,
) -> anyhow::Result<u8> {
    match value.as_deref() {
        None => Ok(default),
        Some("\\t") | Some("tab") | Some("\t") => Ok(b'\t'),
        Some(s) if s.len() == 1 => Ok(s.as_bytes()[0]),
        Some(s) => anyhow::bail!(
            "mapping {}: source.{key}: `{s}` must be a single ASCII character (or \"tab\")",
            mapping.path
        ),
    }
}

fn dialect(mapping: &Mapping) -> anyhow::Result<CsvDialect> {
    let source: &SourceSection = &mapping.file.source;
    if let Some(format) = source.format.as_deref() {
        if format != "csv" {
            anyhow::bail!(
                "mapping {}: source.format is `{format}`, but `import csv` reads only csv (use `import dump` for dumps)",
                mapping.path
            );
        }
    }
    if source.table.is_some() {
        anyhow::bail!(
            "mapping {}: source.table applies only to dumps",
            mapping.path
        );
    }
    let label = source.encoding.as_deref().unwrap_or("utf-8");
    // "latin1" is a WHATWG label for windows-1252, which is what old
    // exports labelled ISO-8859-1 almost always are.
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
        anyhow::anyhow!(
            "mapping {}: source.encoding: unknown encoding `{label}` (try utf-8, windows-1252 or latin1)",
            mapping.path
        )
    })?;
    Ok(CsvDialect {
        delimiter: single_byte(mapping, "delimiter", &source.delimiter, b',')?,
        quote: single_byte(mapping, "quote", &source.quote, b'"')?,
        has_header: source.has_header.unwrap_or(true),
        trim: source.trim.unwrap_or(false),
        encoding,
        lenient_quotes: source.lenient_quotes.unwrap_or(false),
        max_field_lines: match source.max_field_lines {
            Some(0) => anyhow::bail!(
                "mapping {}: source.max_field_lines must be at least 1",
                mapping.path
            ),
            Some(n) => n,
            None => DEFAULT_MAX_FIELD_LINES,
        },
        max_field_bytes: match source.max_field_bytes {
            Some(0) => anyhow::bail!(
                "mapping {}: source.max_field_bytes must be at least 1",
                mapping.path
            ),
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => DEFAULT_MAX_FIELD_BYTES,
        },
    })
}

impl CsvSource {
    /// Opens `path`, reads its header and compiles the mapping against it.
    pub fn open(
        path: &Path,
        mapping: &Mapping,
    ) -> anyhow::Result<(CsvSource, InputMeter, Option<u64>)> {
        let dialect = dialect(mapping)?;
        let input = open_input(path)?;
        let (reader, encoding): (Box<dyn BufRead + Send>, _) =
            if dialect.encoding.is_ascii_compatible() {
                (input.reader, dialect.encoding)
            } else {
                let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .encoding(Some(dialect.encoding))
                    .build(input.reader);
                (
                    Box::new(BufReader::with_capacity(256 * 1024, decoded)),
                    encoding_rs::UTF_8,
                )
            };
        let mut splitter = Splitter::new(
            reader,
            SplitOptions {
                delimiter: dialect.delimiter,
                quote: dialect.quote,
                trim: dialect.trim,
                lenient_quotes: dialect.lenient_quotes,
                max_field_lines: dialect.max_field_lines,
                max_field_bytes: dialect.max_field_bytes,
            },
        );
        let name = path.display().to_string();
        let mut header = Vec::new();
        let mut header_raw = Vec::new();
        if dialect.has_header {
            match splitter
                .next_record()
                .with_context(|| format!("cannot read the header of {name}"))?
            {
                None => anyhow::bail!(
                    "{name} {}",
                    empty_input_reason(input.size, input.gzip, "header line")
                ),
                Some(Split::Malformed(reason)) => {
                    anyhow::bail!(
                        "the header of {name} (line {}) is malformed: {reason}",
                        splitter.line
                    )
                }
                Some(Split::Record) => {
                    header = (0..splitter.len())
                        .map(|i| {
                            let (text, _, _) = encoding.decode(splitter.value(i));
                            text.trim().to_string()
                        })
                        .collect();
                    header_raw = splitter.raw().to_vec();
                }
            }
        }
        let columns = match (&mapping.file.source.columns, dialect.has_header) {
            (Some(names), true) if names.len() != header.len() => anyhow::bail!(
                "mapping {}: source.columns names {} columns, but the header of {} has {}: {}",
                mapping.path,
                names.len(),
                path.display(),
                header.len(),
                header.join(", ")
            ),
            (Some(names), _) => names.clone(),
            (None, true) => header,
            (None, false) => anyhow::bail!(
                "mapping {}: source.has_header is false, so source.columns = [\"a\", \"b\", ...] must name the columns",
                mapping.path
            ),
        };
        let compiled = mapping.compile(&columns)?;
        if !dialect.has_header {
            let joined = columns.join(&char::from(dialect.delimiter).to_string());
            header_raw = encoding.encode(&joined).0.into_owned();
        }
        splitter.columns = columns.clone();
        Ok((
            CsvSource {
                splitter,
                columns,
                mapping: compiled,
                encoding,
                trim: dialect.trim,
                row: Row::default(),
                scratch: String::new(),
                rejects: CsvRejects {
                    header: header_raw,
                    delimiter: dialect.delimiter,
                    quote: dialect.quote,
                    encoding,
                    newline: b"\n",
                },
            },
            input.meter,
            input.size,
        ))
    }

    fn reject(&self, reason: String) -> Item {
        Item::Rejected(Reject {
            line: self.splitter.line,
            reason,
            raw: RawRecord::Csv(self.splitter.raw().to_vec()),
        })
    }

    fn column_name(&self, index: usize) -> &str {
        self.columns.get(index).map(String::as_str).unwrap_or("?")
    }

    /// Copies the record's values into `row`, decoded to UTF-8. On failure
    /// names the first value that is not valid in the input's encoding.
    fn fill_row(&mut self) -> Result<(), String> {
        self.row.clear();
        let utf8 = self.encoding == encoding_rs::UTF_8;
        for i in 0..self.splitter.len() {
            let mut value = self.splitter.value(i);
            if self.trim {
                value = value.trim_ascii();
            }
            if utf8 {
                self.row.field_bytes(value);
                continue;
            }
            match self
                .encoding
                .decode_without_bom_handling_and_without_replacement(value)
            {
                Some(text) => self.row.field_bytes(text.as_bytes()),
                None => {
                    return Err(format!(
                        "field {} ({}) is not valid {}",
                        i + 1,
                        self.column_name(i),
                        self.encoding.name()
                    ))
                }
            }
        }
        self.row.seal().map_err(|field| {
            format!(
                "field {} ({}) is not valid UTF-8; set source.encoding (e.g. \"windows-1252\") for legacy exports",
                field + 1,
                self.column_name(field)
            )
        })
    }
}

impl EventSource for CsvSource {
    fn next_item(&mut self) -> anyhow::Result<Option<Item>> {
        let split = self.splitter.next_record()?;
        let line = self.splitter.line;
        match split {
            None => Ok(None),
            Some(Split::Malformed(reason)) => {
                let reason = self
                    .splitter
                    .reject_first_line_only(&reason)
                    .unwrap_or(reason);
                Ok(Some(self.reject(reason)))
            }
            Some(Split::Record) => {
                if self.splitter.len() != self.columns.len() {
                    let mut reason = format!(
                        "expected {} fields, found {}",
                        self.columns.len(),
                        self.splitter.len()
                    );
                    if let Some(stray) = self.splitter.reject_first_line_only(&reason) {
                        reason = stray;
                    }
                    return Ok(Some(self.reject(reason)));
                }
                if let Err(reason) = self.fill_row() {
                    return Ok(Some(self.reject(reason)));
                }
                match self.mapping.map(&self.row, &mut self.scratch) {
                    Ok(Mapped::Event(event)) => Ok(Some(Item::Event { event, line })),
                    Ok(Mapped::Skipped) => Ok(Some(Item::Skipped)),
                    Err(e) => Ok(Some(self.reject(e.to_string()))),
                }
            }
        }
    }

    fn rejects_format(&self) -> RejectsFormat {
        RejectsFormat::Csv(self.rejects.clone())
    }
}
