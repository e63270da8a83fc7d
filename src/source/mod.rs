//! Sources turn an input file into a stream of [`Item`]s: mapped events,
//! rejected records (with the reason and the original record), and skipped
//! records. One module per input format; the import pipeline only sees the
//! [`EventSource`] trait.

pub mod bson;
pub mod csv;
pub mod document;
pub mod dump;
pub mod events;
pub mod extjson;
pub mod mysqldump;
pub mod pgdump;
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

/// The original record, as close to the input as the format allows.
#[derive(Debug, Clone)]
pub enum RawRecord {
    /// The fields of a tabular record, in input order.
    Fields(Vec<String>),
    /// A line or document as text.
    Text(String),
}

/// A stream of mapped records from one input.
pub trait EventSource: Send {
    /// The next item, `None` at the end. An `Err` is fatal: the input cannot
    /// be read further (I/O error, truncated or corrupt file).
    fn next_item(&mut self) -> anyhow::Result<Option<Item>>;

    /// For tabular sources: the columns, so that rejects can be written as
    /// CSV with the same header. `None` writes rejects as JSON lines.
    fn reject_columns(&self) -> Option<Vec<String>> {
        None
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
/// it starts with the gzip magic bytes.
pub struct OpenedInput {
    pub reader: Box<dyn BufRead + Send>,
    pub meter: InputMeter,
    /// Size on disk, when known (progress total).
    pub size: Option<u64>,
    pub gzip: bool,
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
            flate2::bufread::MultiGzDecoder::new(buffered),
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
