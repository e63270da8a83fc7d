//! A reusable record for the dump and document sources: every field value of
//! one record in a single byte buffer plus one span per field (`None` is SQL
//! NULL or a missing document field). Filling it allocates nothing once the
//! buffers have grown to the largest record, which keeps multi-gigabyte
//! imports at a flat memory profile.

use std::ops::Range;

use super::{Item, RawRecord, Reject};
use crate::mapping::{CompiledMapping, Fields, Mapped};

#[derive(Debug, Default)]
pub struct Row {
    /// The concatenated field values while the row is being filled.
    bytes: Vec<u8>,
    /// The same bytes once validated as UTF-8 by [`Row::seal`].
    text: String,
    spans: Vec<Option<Range<usize>>>,
    open: Option<usize>,
}

impl Row {
    /// Empties the row, keeping its buffers.
    pub fn clear(&mut self) {
        if !self.text.is_empty() || self.bytes.is_empty() {
            self.bytes = std::mem::take(&mut self.text).into_bytes();
        }
        self.bytes.clear();
        self.spans.clear();
        self.open = None;
    }

    /// Starts a new non-null field; append its bytes with [`Row::push`].
    pub fn begin(&mut self) {
        self.finish_open();
        self.open = Some(self.bytes.len());
    }

    pub fn push(&mut self, b: u8) {
        self.bytes.push(b);
    }

    pub fn extend(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// Appends a whole non-null field.
    pub fn field_bytes(&mut self, bytes: &[u8]) {
        self.begin();
        self.bytes.extend_from_slice(bytes);
        self.finish_open();
    }

    pub fn null(&mut self) {
        self.finish_open();
        self.spans.push(None);
    }

    fn finish_open(&mut self) {
        if let Some(start) = self.open.take() {
            self.spans.push(Some(start..self.bytes.len()));
        }
    }

    pub fn count(&self) -> usize {
        self.spans.len() + usize::from(self.open.is_some())
    }

    /// Validates the row as UTF-8 so it can be mapped. On failure names the
    /// index of the first field that is not UTF-8.
    pub fn seal(&mut self) -> Result<(), usize> {
        self.finish_open();
        match String::from_utf8(std::mem::take(&mut self.bytes)) {
            Ok(text) => {
                self.text = text;
                Ok(())
            }
            Err(e) => {
                let bad = e.utf8_error().valid_up_to();
                self.bytes = e.into_bytes();
                let field = self
                    .spans
                    .iter()
                    .position(|s| s.as_ref().is_some_and(|r| r.end > bad))
                    .unwrap_or(0);
                Err(field)
            }
        }
    }
}

impl Fields for Row {
    fn field(&self, index: usize) -> Option<&str> {
        match self.spans.get(index) {
            Some(Some(range)) => Some(&self.text[range.clone()]),
            _ => None,
        }
    }

    fn len(&self) -> usize {
        self.spans.len()
    }
}

/// Maps a filled row: a row with a field that is not UTF-8, or one the
/// mapping refuses, becomes a reject carrying `raw` (the record as it was in
/// the input) and `line` (its line, or byte offset for binary inputs).
pub fn map_row(
    mapping: &CompiledMapping,
    columns: &[String],
    row: &mut Row,
    scratch: &mut String,
    line: u64,
    raw: impl FnOnce() -> RawRecord,
) -> Item {
    let reject = |reason: String, raw: RawRecord| Item::Rejected(Reject { line, reason, raw });
    if row.count() != columns.len() {
        return reject(
            format!(
                "expected {} values ({}), found {}",
                columns.len(),
                columns.join(", "),
                row.count()
            ),
            raw(),
        );
    }
    if let Err(field) = row.seal() {
        return reject(
            format!(
                "column {} is not valid UTF-8 text",
                columns.get(field).map(String::as_str).unwrap_or("?")
            ),
            raw(),
        );
    }
    match mapping.map(row, scratch) {
        Ok(Mapped::Event(event)) => Item::Event { event, line },
        Ok(Mapped::Skipped) => Item::Skipped,
        Err(e) => reject(e.to_string(), raw()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_nulls_and_reuse() {
        let mut row = Row::default();
        for _ in 0..2 {
            row.clear();
            row.field_bytes(b"a\tb");
            row.null();
            row.begin();
            row.extend("ü".as_bytes());
            row.seal().unwrap();
            assert_eq!(row.len(), 3);
            assert_eq!(row.field(0), Some("a\tb"));
            assert_eq!(row.field(1), None);
            assert_eq!(row.field(2), Some("ü"));
            assert_eq!(row.field(3), None);
        }
        row.clear();
        row.field_bytes(b"ok");
        row.field_bytes(&[0xff]);
        assert_eq!(row.seal(), Err(1));
    }
}
