//! Sources turn an input file into a stream of [`Item`]s: mapped events,
//! rejected records (with the reason and the original record), and skipped
//! records. One module per input format; the import pipeline only sees the
//! [`EventSource`] trait.

pub mod bson;
pub mod csv;
pub mod csv_split;
pub mod document;
pub mod dump;
pub mod events;
pub mod extjson;
pub mod mysqldump;
pub mod pgdump;
pub mod reader;
pub mod row;
pub mod sql;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::event::Event;
use crate::mapping::Mapping;

/// One input record's fate.
#[derive(Debug)]
pub enum Item {
    Event { event: Event, line: u64 },
    Rejected(Reject),
    Skipped,
}

/// A record that could not become an event.
#[derive(Debug, Clone)]
pub struct Reject {
    /// Line number (1-based) where the record starts, or its byte offset for
    /// binary formats.
    pub line: u64,
    pub reason: String,
    pub raw: RawRecord,
}

/// The original record, byte for byte as it was in the input, so that a
/// corrected copy can be imported again and reproduce every original byte.
#[derive(Debug, Clone)]
pub enum RawRecord {
    /// A CSV record in the input's own encoding, without its line terminator.
    Csv(Vec<u8>),
    /// A line, SQL tuple or JSON document. Written as text when it is valid
    /// UTF-8, else base64.
    Text(Vec<u8>),
    /// A binary document (BSON): its bytes, written base64, and a readable
    /// JSON rendering.
    Binary { bytes: Vec<u8>, shown: String },
}

/// How rejected records are written for one input.
#[derive(Debug, Clone)]
pub enum RejectsFormat {
    /// CSV in the input's own dialect and encoding: its header line plus
    /// `chronicle_line` and `chronicle_reason`, then each record's original
    /// bytes plus those two fields.
    Csv(CsvRejects),
    /// One JSON object per reject: `line`, `reason`, and `record` (text) or
    /// `record_base64` (bytes that are not UTF-8, or binary documents).
    JsonLines,
}

#[derive(Debug, Clone)]
pub struct CsvRejects {
    /// The header line's bytes (no terminator), or the column names
    /// joined when the input has no header.
    pub header: Vec<u8>,
    pub delimiter: u8,
    pub quote: u8,
    /// The input's encoding, which the extra fields are written in.
    pub encoding: &'static encoding_rs::Encoding,
    /// The line terminator written after each record.
    pub newline: &'static [u8],
}

/// A stream of mapped records from one input.
pub trait EventSource: Send {
    /// The next item, `None` at the end. An `Err` is fatal: the input cannot
    /// be read further (I/O error, truncated or corrupt file).
    fn next_item(&mut self) -> anyhow::Result<Option<Item>>;

    /// How this input's rejects are written: CSV sources write CSV in the
    /// input's dialect, every other source JSON lines.
    fn rejects_format(&self) -> RejectsFormat {
        RejectsFormat::JsonLines
    }
}

/// Counts and hashes the bytes of an input as they are read, so progress is
/// measured in bytes and the import run records the file's sha256 without a
/// second pass.
#[derive(Clone, Default)]
pub struct InputMeter {
    bytes: Arc<AtomicU64>,
    hasher: Arc<Mutex<Sha256>>,
}

impl InputMeter {
    pub fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The sha256 of everything read so far.
    pub fn sha256(&self) -> String {
        let hasher = self.hasher.lock().expect("hasher lock").clone();
        hex::encode(hasher.finalize())
    }

    fn wrap<R: Read>(&self, inner: R) -> MeteredReader<R> {
        MeteredReader {
            inner,
            meter: self.clone(),
        }
    }
}

struct MeteredReader<R> {
    inner: R,
    meter: InputMeter,
}

impl<R: Read> Read for MeteredReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.meter.bytes.fetch_add(n as u64, Ordering::Relaxed);
            self.meter
                .hasher
                .lock()
                .expect("hasher lock")
                .update(&buf[..n]);
        }
        Ok(n)
    }
}

/// An opened input: a file (or stdin for `-`), transparently gunzipped when
/// it starts with the gzip magic bytes. A gzip stream that is cut short or
/// corrupt is a read error saying so, with the compressed byte offset.
pub struct OpenedInput {
    pub reader: Box<dyn BufRead + Send>,
    pub meter: InputMeter,
    /// Size on disk, when known (progress total).
    pub size: Option<u64>,
    pub gzip: bool,
}

/// Turns flate2's terse errors ("incomplete deflate stream") into a
/// sentence that says what happened and where in the compressed file.
struct GzipErrors<R> {
    inner: R,
    meter: InputMeter,
}

impl<R: Read> Read for GzipErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                return e;
            }
            let at = self.meter.bytes_read();
            let text = e.to_string();
            let what = if text.contains("incomplete") || e.kind() == io::ErrorKind::UnexpectedEof {
                format!("the gzip stream is truncated: the compressed data ends at byte {at}")
            } else {
                format!("the gzip stream is corrupt near byte {at} of the compressed data ({text})")
            };
            io::Error::new(e.kind(), what)
        })
    }
}

/// What to say about an input without a first line (the header of a CSV,
/// the first bytes of a dump).
pub fn empty_input_reason(size: Option<u64>, gzip: bool, first: &str) -> String {
    match (size, gzip) {
        (Some(0), _) => "is empty (0 bytes)".to_string(),
        (_, true) => format!("is empty: its gzip data decompresses to no {first}"),
        _ => format!("is empty: it has no {first}"),
    }
}

pub fn open_input(path: &Path) -> anyhow::Result<OpenedInput> {
    let meter = InputMeter::default();
    let (raw, size): (Box<dyn Read + Send>, Option<u64>) = if path == Path::new("-") {
        (Box::new(io::stdin()), None)
    } else {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, meter.wrap(raw));
    let head = buffered
        .fill_buf()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn BufRead + Send> = if gzip {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            GzipErrors {
                inner: flate2::bufread::MultiGzDecoder::new(buffered),
                meter: meter.clone(),
            },
        ))
    } else {
        Box::new(buffered)
    };
    Ok(OpenedInput {
        reader,
        meter,
        size,
        gzip,
    })
}

/// The kinds of input `chronicle import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV through a mapping.
    Csv,
    /// A database dump through a mapping; the dump format comes from the
    /// mapping's `[source] format` or is detected (see `dump.rs`).
    Dump,
    /// Canonical events as JSON lines; no mapping.
    Events,
}

/// An input opened for import: its source of items and what the run
/// record says about it.
pub struct Opened {
    /// The file actually read (a mongodump directory resolves to a file).
    pub path: std::path::PathBuf,
    /// `csv`, `events`, or the dump's format (`pgdump`, ...).
    pub kind: String,
    pub source: Box<dyn EventSource>,
    pub meter: InputMeter,
    /// Size on disk, when known.
    pub size: Option<u64>,
}

/// Opens `path` (or stdin for `-`) as `format`, with its mapping compiled
/// against the input's columns where they are known up front. CSV and dump
/// inputs need `mapping`; events take none.
pub fn open(format: Format, path: &Path, mapping: Option<&Mapping>) -> anyhow::Result<Opened> {
    let needs_mapping = || anyhow::anyhow!("importing {format:?} input needs a mapping");
    Ok(match format {
        Format::Csv => {
            let (source, meter, size) =
                csv::CsvSource::open(path, mapping.ok_or_else(needs_mapping)?)?;
            Opened {
                path: path.to_path_buf(),
                kind: "csv".into(),
                source: Box::new(source),
                meter,
                size,
            }
        }
        Format::Dump => {
            let dump = dump::open_dump(path, mapping.ok_or_else(needs_mapping)?)?;
            Opened {
                path: dump.path,
                kind: dump.format.name().into(),
                source: dump.source,
                meter: dump.meter,
                size: dump.size,
            }
        }
        Format::Events => {
            let (source, meter, size) = events::JsonLinesSource::open(path)?;
            Opened {
                path: path.to_path_buf(),
                kind: "events".into(),
                source: Box::new(source),
                meter,
                size,
            }
        }
    })
}
