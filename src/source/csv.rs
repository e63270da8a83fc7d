//! CSV exports (RFC 4180): quoted fields with delimiters, quotes and line
//! breaks, LF or CRLF, an optional UTF-8 BOM, legacy single-byte encodings,
//! and gzip. Records are read into reused buffers and mapped one at a time,
//! so memory does not depend on the file size.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use csv::{ByteRecord, StringRecord};

use super::{open_input, EventSource, InputMeter, Item, RawRecord, Reject};
use crate::mapping::{CompiledMapping, Mapped, Mapping, SourceSection};

pub struct CsvSource {
    reader: csv::Reader<LineCounter<Box<dyn Read + Send>>>,
    lines: Arc<Mutex<LineIndex>>,
    columns: Vec<String>,
    mapping: CompiledMapping,
    record: StringRecord,
    scratch: String,
}

/// What the `[source]` section says about reading CSV.
struct CsvDialect {
    delimiter: u8,
    quote: u8,
    has_header: bool,
    trim: bool,
    encoding: &'static encoding_rs::Encoding,
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
        let decoded: Box<dyn Read + Send> = if dialect.encoding == encoding_rs::UTF_8 {
            input.reader
        } else {
            Box::new(
                encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .encoding(Some(dialect.encoding))
                    .build(input.reader),
            )
        };
        let lines = Arc::new(Mutex::new(LineIndex::default()));
        let decoded = LineCounter {
            inner: decoded,
            index: lines.clone(),
            offset: 0,
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(dialect.delimiter)
            .quote(dialect.quote)
            .has_headers(dialect.has_header)
            .flexible(true)
            .trim(if dialect.trim {
                csv::Trim::All
            } else {
                csv::Trim::None
            })
            .buffer_capacity(256 * 1024)
            .from_reader(decoded);
        let header: Vec<String> = if dialect.has_header {
            reader
                .byte_headers()
                .with_context(|| format!("cannot read the header of {}", path.display()))?
                .iter()
                .map(|h| String::from_utf8_lossy(h).trim().to_string())
                .collect()
        } else {
            Vec::new()
        };
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
        Ok((
            CsvSource {
                reader,
                lines,
                columns,
                mapping: compiled,
                record: StringRecord::new(),
                scratch: String::new(),
            },
            input.meter,
            input.size,
        ))
    }

    fn reject(&self, fields: Vec<String>, line: u64, reason: String) -> Item {
        Item::Rejected(Reject {
            line,
            reason,
            raw: RawRecord::Fields(fields),
        })
    }
}

impl EventSource for CsvSource {
    fn next_item(&mut self) -> anyhow::Result<Option<Item>> {
        let mut bytes = std::mem::take(&mut self.record).into_byte_record();
        let more = self
            .reader
            .read_byte_record(&mut bytes)
            .map_err(|e| anyhow::anyhow!("cannot read CSV: {e}"))?;
        if !more {
            return Ok(None);
        }
        let line = match bytes.position() {
            Some(p) => self.lines.lock().expect("line index").line_at(p.byte()),
            None => 0,
        };
        if bytes.len() != self.columns.len() {
            let fields = lossy_fields(&bytes);
            let reason = format!(
                "expected {} fields, found {}",
                self.columns.len(),
                bytes.len()
            );
            self.record = StringRecord::from_byte_record_lossy(bytes);
            return Ok(Some(self.reject(fields, line, reason)));
        }
        self.record = match StringRecord::from_byte_record(bytes) {
            Ok(record) => record,
            Err(e) => {
                let bytes = e.into_byte_record();
                let field = bytes
                    .iter()
                    .position(|f| std::str::from_utf8(f).is_err())
                    .unwrap_or(0);
                let reason = format!(
                    "field {} ({}) is not valid UTF-8; set source.encoding (e.g. \"windows-1252\") for legacy exports",
                    field + 1,
                    self.columns.get(field).map(String::as_str).unwrap_or("?")
                );
                let fields = lossy_fields(&bytes);
                self.record = StringRecord::from_byte_record_lossy(bytes);
                return Ok(Some(self.reject(fields, line, reason)));
            }
        };
        match self.mapping.map(&self.record, &mut self.scratch) {
            Ok(Mapped::Event(event)) => Ok(Some(Item::Event { event, line })),
            Ok(Mapped::Skipped) => Ok(Some(Item::Skipped)),
            Err(e) => {
                let fields = self.record.iter().map(str::to_string).collect();
                Ok(Some(self.reject(fields, line, e.to_string())))
            }
        }
    }

    fn reject_columns(&self) -> Option<Vec<String>> {
        Some(self.columns.clone())
    }
}

fn lossy_fields(record: &ByteRecord) -> Vec<String> {
    record
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// Line numbers from byte offsets. The csv crate's own line count is one
/// short after CRLF terminators (the record's start offset points at the
/// `\n` of the previous `\r\n`), so lines are counted here from the newline
/// bytes the parser actually read. Offsets arrive in increasing order, so
/// only newlines not yet passed are kept: memory stays at one buffer's worth.
#[derive(Default)]
struct LineIndex {
    passed: u64,
    pending: VecDeque<u64>,
}

impl LineIndex {
    fn line_at(&mut self, offset: u64) -> u64 {
        while self.pending.front().is_some_and(|&p| p < offset) {
            self.pending.pop_front();
            self.passed += 1;
        }
        if self.pending.front() == Some(&offset) {
            // The record starts at the leftover `\n` of a CRLF.
            self.passed + 2
        } else {
            self.passed + 1
        }
    }
}

struct LineCounter<R> {
    inner: R,
    index: Arc<Mutex<LineIndex>>,
    offset: u64,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut index = self.index.lock().expect("line index");
        for (i, _) in buf[..n].iter().enumerate().filter(|(_, &b)| b == b'\n') {
            index.pending.push_back(self.offset + i as u64);
        }
        self.offset += n as u64;
        Ok(n)
    }
}
