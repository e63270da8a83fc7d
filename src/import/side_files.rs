//! The files written beside an input: rejected records (in the input's own
//! format where it is CSV) and conflicts (both versions), each created on
//! its first record only.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Conflict;
use crate::event::Event;
use crate::source::{RawRecord, Reject, RejectsFormat};

/// `<input><suffix>`, or `./stdin<suffix>` for stdin.
pub(super) fn default_side_file(input: &Path, suffix: &str) -> PathBuf {
    if input == Path::new("-") {
        // In the current folder, said so in the summary.
        PathBuf::from(format!("./stdin{suffix}"))
    } else {
        let mut name = input.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    }
}

/// Writes rejected records next to the input, each with its original
/// bytes: for CSV inputs, CSV in the input's own dialect and encoding (its
/// header plus `chronicle_line` and `chronicle_reason`), so a corrected file
/// can be imported again with the same mapping; JSON lines otherwise, with
/// the record as text, or base64 where it is not UTF-8 or is binary.
/// Created on the first reject only.
pub(super) struct RejectsWriter {
    path: PathBuf,
    format: RejectsFormat,
    disabled: bool,
    out: Option<BufWriter<File>>,
    /// When the path was not chosen explicitly, a stale file from an
    /// earlier run is removed if this run has no rejects.
    remove_stale: bool,
}

impl RejectsWriter {
    pub(super) fn new(
        path: PathBuf,
        format: RejectsFormat,
        disabled: bool,
        remove_stale: bool,
    ) -> Self {
        RejectsWriter {
            path,
            format,
            disabled,
            out: None,
            remove_stale,
        }
    }

    pub(super) fn write(&mut self, reject: &Reject) -> anyhow::Result<()> {
        if self.disabled {
            return Ok(());
        }
        let context = || format!("cannot write rejects file {}", self.path.display());
        if self.out.is_none() {
            let mut w = BufWriter::new(File::create(&self.path).with_context(context)?);
            if let RejectsFormat::Csv(csv) = &self.format {
                w.write_all(&csv.header).with_context(context)?;
                for extra in [
                    crate::mapping::REJECT_LINE_COLUMN,
                    crate::mapping::REJECT_REASON_COLUMN,
                ] {
                    w.write_all(&[csv.delimiter]).with_context(context)?;
                    w.write_all(&csv_field(csv, extra)).with_context(context)?;
                }
                w.write_all(csv.newline).with_context(context)?;
            }
            self.out = Some(w);
        }
        let w = self.out.as_mut().expect("just created");
        match &self.format {
            RejectsFormat::Csv(csv) => {
                let raw = match &reject.raw {
                    RawRecord::Csv(b) | RawRecord::Text(b) => b,
                    RawRecord::Binary { bytes, .. } => bytes,
                };
                w.write_all(raw).with_context(context)?;
                for extra in [reject.line.to_string(), reject.reason.clone()] {
                    w.write_all(&[csv.delimiter]).with_context(context)?;
                    w.write_all(&csv_field(csv, &extra)).with_context(context)?;
                }
                w.write_all(csv.newline).with_context(context)?;
            }
            RejectsFormat::JsonLines => {
                use base64::Engine as _;
                let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
                let mut line = serde_json::json!({"line": reject.line, "reason": reject.reason});
                match &reject.raw {
                    RawRecord::Csv(b) | RawRecord::Text(b) => match std::str::from_utf8(b) {
                        Ok(text) => line["record"] = text.into(),
                        Err(_) => line["record_base64"] = b64(b).into(),
                    },
                    RawRecord::Binary { bytes, shown } => {
                        line["record"] = shown.as_str().into();
                        line["record_base64"] = b64(bytes).into();
                    }
                }
                writeln!(w, "{line}").with_context(context)?;
            }
        }
        Ok(())
    }

    pub(super) fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(w) = self.out.as_mut() {
            w.flush()
                .with_context(|| format!("cannot write rejects file {}", self.path.display()))?;
        }
        if self.out.is_none() && self.remove_stale && !self.disabled && self.path.exists() {
            std::fs::remove_file(&self.path).ok();
        }
        Ok(())
    }

    pub(super) fn written_path(&self) -> Option<PathBuf> {
        self.out.as_ref().map(|_| self.path.clone())
    }
}

/// One extra field of a CSV rejects file, in the input's encoding, quoted
/// when it holds the delimiter, the quote or a line break.
fn csv_field(csv: &crate::source::CsvRejects, text: &str) -> Vec<u8> {
    let bytes = csv.encoding.encode(text).0;
    let needs_quotes = bytes
        .iter()
        .any(|&b| b == csv.delimiter || b == csv.quote || b == b'\n' || b == b'\r');
    if !needs_quotes {
        return bytes.into_owned();
    }
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(csv.quote);
    for &b in bytes.iter() {
        if b == csv.quote {
            out.push(b);
        }
        out.push(b);
    }
    out.push(csv.quote);
    out
}

/// Writes every conflict, with both versions, as JSON lines.
pub(super) struct ConflictsWriter {
    path: PathBuf,
    disabled: bool,
    out: Option<BufWriter<File>>,
}

impl ConflictsWriter {
    pub(super) fn new(path: PathBuf, disabled: bool) -> Self {
        ConflictsWriter {
            path,
            disabled,
            out: None,
        }
    }

    pub(super) fn write(&mut self, conflict: &Conflict) -> anyhow::Result<()> {
        if self.disabled {
            return Ok(());
        }
        let context = || format!("cannot write conflicts file {}", self.path.display());
        if self.out.is_none() {
            self.out = Some(BufWriter::new(
                File::create(&self.path).with_context(context)?,
            ));
        }
        let mut line = serde_json::json!({
            "line": conflict.line,
            "id": conflict.incoming.id.to_string(),
            "stored": conflict.stored.as_ref().map(Event::to_json_value),
            "incoming": conflict.incoming.to_json_value(),
        });
        if let Some(partition) = &conflict.archived_in {
            line["archived_in"] = partition.as_str().into();
        }
        writeln!(self.out.as_mut().expect("just created"), "{line}").with_context(context)?;
        Ok(())
    }

    pub(super) fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(out) = self.out.as_mut() {
            out.flush()?;
        }
        Ok(())
    }

    pub(super) fn written_path(&self) -> Option<PathBuf> {
        self.out.as_ref().map(|_| self.path.clone())
    }
}
