//! Splits CSV input into records, strictly: a quote may only open a field
//! and close it (doubled inside), so `a"b` and `"a"b` are malformed unless
//! `lenient_quotes` takes them literally. Each record keeps its original
//! bytes for the rejects file.
//!
//! A quoted field may span lines, but only `max_field_lines` lines and
//! `max_field_bytes` bytes; a quote still open at the end of the input is a
//! fatal error naming the line where it opened. A malformed record that
//! spans several lines is most likely a stray quote that a later quote
//! happened to close: then only its first line is rejected and the lines
//! after it are read again as records of their own (DuckDB's CSV reader
//! recovers the same way), so no well-formed row is swallowed. Those lines
//! are held in memory until re-read, which the two limits bound.

use std::collections::VecDeque;
use std::io::BufRead;
use std::ops::Range;

use anyhow::bail;

/// How to split: the `[source]` keys that concern quoting and limits.
#[derive(Debug, Clone)]
pub struct SplitOptions {
    pub delimiter: u8,
    pub quote: u8,
    /// Allow spaces and tabs around a quoted field (`trim = true`).
    pub trim: bool,
    pub lenient_quotes: bool,
    pub max_field_lines: u64,
    pub max_field_bytes: usize,
}

pub const DEFAULT_MAX_FIELD_LINES: u64 = 1_000;
pub const DEFAULT_MAX_FIELD_BYTES: usize = 16 << 20;

/// One physical line: its number and bytes, terminator included. A line
/// longer than `max_field_bytes` keeps only that many bytes (`cut`).
struct Phys {
    no: u64,
    bytes: Vec<u8>,
    cut: bool,
}

/// What [`Splitter::next_record`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Split {
    /// A well-formed record: values in [`Splitter::value`], bytes in
    /// [`Splitter::raw`].
    Record,
    /// A malformed record, to be rejected with this reason. When it spanned
    /// several lines, only the first is left in [`Splitter::raw`] and the
    /// others will be read again.
    Malformed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    AfterQuote,
}

pub struct Splitter {
    input: Box<dyn BufRead + Send>,
    opts: SplitOptions,
    /// Lines to read again after a malformed multi-line record, in order.
    replay: VecDeque<Phys>,
    /// Number of the next line taken from `input`.
    next_no: u64,
    at_start: bool,
    /// The last line number read (for messages about the input's end).
    pub last_line: u64,
    /// The current record's bytes, line terminators included.
    raw: Vec<u8>,
    /// End offset in `raw` of each physical line of the record.
    line_ends: Vec<usize>,
    /// Length of the record's final terminator (`\n` = 1, `\r\n` = 2).
    terminator: usize,
    /// First line of the current record.
    pub line: u64,
    values: Vec<u8>,
    spans: Vec<Range<usize>>,
    /// The first quoted field that ran past the end of a line: (column, line).
    pub multiline_field: Option<(usize, u64)>,
    /// Column names, once known, to name fields in messages.
    pub columns: Vec<String>,
    /// Whether the record's last line was cut at `max_field_bytes`.
    last_cut: bool,
}

impl Splitter {
    pub fn new(input: Box<dyn BufRead + Send>, opts: SplitOptions) -> Splitter {
        Splitter {
            input,
            opts,
            replay: VecDeque::new(),
            next_no: 1,
            at_start: true,
            last_line: 0,
            raw: Vec::new(),
            line_ends: Vec::new(),
            terminator: 0,
            line: 0,
            values: Vec::new(),
            spans: Vec::new(),
            multiline_field: None,
            columns: Vec::new(),
            last_cut: false,
        }
    }

    /// The record's original bytes, without its final line terminator.
    pub fn raw(&self) -> &[u8] {
        &self.raw[..self.raw.len() - self.terminator]
    }

    /// The number of values of a well-formed record.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The unquoted bytes of value `i`.
    pub fn value(&self, i: usize) -> &[u8] {
        &self.values[self.spans[i].clone()]
    }

    /// The number of physical lines of the current record.
    pub fn lines(&self) -> usize {
        self.line_ends.len()
    }

    /// Reads one physical line (bounded by `max_field_bytes`), from the
    /// replay queue first.
    fn read_line(&mut self) -> anyhow::Result<Option<Phys>> {
        if let Some(p) = self.replay.pop_front() {
            return Ok(Some(p));
        }
        let limit = self.opts.max_field_bytes;
        let mut bytes = Vec::new();
        let mut cut = false;
        loop {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => bail!("{e}; the last line read was line {}", self.last_line),
            };
            if buf.is_empty() {
                break;
            }
            let (take, done) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            let room = (limit + 2).saturating_sub(bytes.len());
            if take > room {
                cut = true;
            }
            bytes.extend_from_slice(&buf[..take.min(room)]);
            self.input.consume(take);
            if done {
                break;
            }
        }
        if bytes.is_empty() && !cut {
            return Ok(None);
        }
        if self.at_start {
            self.at_start = false;
            if bytes.starts_with(b"\xEF\xBB\xBF") {
                bytes.drain(..3);
            }
        }
        let no = self.next_no;
        self.next_no += 1;
        Ok(Some(Phys { no, bytes, cut }))
    }

    fn line_of(&self, offset: usize) -> u64 {
        self.line + self.line_ends.iter().filter(|&&e| e <= offset).count() as u64
    }

    /// Keeps only the record's first line and queues the others to be read
    /// again. Returns the range of lines queued.
    fn requeue_after_first_line(&mut self) -> Option<(u64, u64)> {
        if self.line_ends.len() < 2 {
            return None;
        }
        let mut again = Vec::new();
        let mut start = self.line_ends[0];
        let last = self.line_ends.len() - 1;
        for (k, &end) in self.line_ends.iter().enumerate().skip(1) {
            again.push(Phys {
                no: self.line + k as u64,
                bytes: self.raw[start..end].to_vec(),
                // Only the last line can have been cut short.
                cut: k == last && self.last_cut,
            });
            start = end;
        }
        let range = (self.line + 1, self.line + again.len() as u64);
        for p in again.into_iter().rev() {
            self.replay.push_front(p);
        }
        self.raw.truncate(self.line_ends[0]);
        self.line_ends.truncate(1);
        self.terminator = trailing_terminator(&self.raw);
        Some(range)
    }

    /// Called for a record that is rejected for `reason`: when it spans
    /// several lines, only its first line stays rejected, the others are
    /// read again, and the reason says so.
    pub fn reject_first_line_only(&mut self, reason: &str) -> Option<String> {
        let (col, opened) = self.multiline_field?;
        let last = self.line + self.line_ends.len() as u64 - 1;
        let (from, to) = self.requeue_after_first_line()?;
        Some(format!(
            "stray quote: the quote that opens {} at line {opened} is not closed on its line, and the record it starts runs on to line {last}, where it is malformed ({reason}); only line {} is rejected, and lines {from}-{to} are read again on their own",
            self.field_name(col),
            self.line
        ))
    }

    /// The next record, or `None` at the end of the input. An `Err` is fatal
    /// (a read error, or a quote still open at the end of the input).
    pub fn next_record(&mut self) -> anyhow::Result<Option<Split>> {
        self.raw.clear();
        self.line_ends.clear();
        self.values.clear();
        self.spans.clear();
        self.terminator = 0;
        self.multiline_field = None;
        self.last_cut = false;
        // Blank lines between records are skipped.
        let first = loop {
            let Some(p) = self.read_line()? else {
                return Ok(None);
            };
            self.last_line = self.last_line.max(p.no);
            if p.cut || !matches!(p.bytes.as_slice(), b"\n" | b"\r\n") {
                break p;
            }
        };
        self.line = first.no;
        self.raw.extend_from_slice(&first.bytes);
        self.line_ends.push(self.raw.len());
        if first.cut {
            self.terminator = 0;
            return Ok(Some(Split::Malformed(format!(
                "the line is longer than max_field_bytes ({} bytes); only its first {} bytes are kept here",
                self.opts.max_field_bytes,
                self.raw.len()
            ))));
        }
        let o = self.opts.clone();
        let mut state = State::FieldStart;
        let mut i = 0usize;
        let mut field_start = 0usize; // in raw
        let mut value_start = 0usize; // in values
        let mut quote_at = 0usize; // in raw, where the open quote is
        loop {
            match state {
                State::FieldStart => {
                    if o.trim {
                        while i < self.raw.len() && matches!(self.raw[i], b' ' | b'\t') {
                            i += 1;
                        }
                    }
                    field_start = i;
                    value_start = self.values.len();
                    if i < self.raw.len() && self.raw[i] == o.quote {
                        quote_at = i;
                        i += 1;
                        state = State::Quoted;
                    } else {
                        state = State::Unquoted;
                    }
                }
                State::Unquoted => {
                    let rest = &self.raw[i..];
                    match memchr::memchr3(o.delimiter, o.quote, b'\n', rest) {
                        Some(k) if rest[k] == o.delimiter => {
                            self.values.extend_from_slice(&rest[..k]);
                            self.end_value(value_start);
                            i += k + 1;
                            state = State::FieldStart;
                        }
                        Some(k) if rest[k] == b'\n' => {
                            let cr = usize::from(k > 0 && rest[k - 1] == b'\r');
                            self.values.extend_from_slice(&rest[..k - cr]);
                            self.end_value(value_start);
                            self.terminator = 1 + cr;
                            return Ok(Some(Split::Record));
                        }
                        Some(k) => {
                            if !o.lenient_quotes {
                                return Ok(Some(self.malformed(format!(
                                    "{}: a quote inside an unquoted field (at line {}); quote the whole field and double the quote, or set source.lenient_quotes = true to take it literally",
                                    self.field_name(self.spans.len()),
                                    self.line_of(i + k)
                                ))));
                            }
                            self.values.extend_from_slice(&rest[..=k]);
                            i += k + 1;
                        }
                        None => {
                            // The input ends without a final newline.
                            self.values.extend_from_slice(rest);
                            self.end_value(value_start);
                            return Ok(Some(Split::Record));
                        }
                    }
                }
                State::Quoted => {
                    let rest = &self.raw[i..];
                    match memchr::memchr(o.quote, rest) {
                        Some(k) => {
                            self.values.extend_from_slice(&rest[..k]);
                            if rest.get(k + 1) == Some(&o.quote) {
                                self.values.push(o.quote);
                                i += k + 2;
                            } else {
                                i += k + 1;
                                state = State::AfterQuote;
                            }
                        }
                        None => {
                            self.values.extend_from_slice(rest);
                            i = self.raw.len();
                            let col = self.spans.len();
                            let opened = self.line_of(quote_at);
                            if self.multiline_field.is_none() {
                                self.multiline_field = Some((col, opened));
                            }
                            if self.line_ends.len() as u64 >= o.max_field_lines {
                                return Ok(Some(self.malformed(format!(
                                    "{}: the quoted field that opens at line {opened} is still open after {} lines (source.max_field_lines)",
                                    self.field_name(col),
                                    o.max_field_lines
                                ))));
                            }
                            if self.values.len() - value_start > o.max_field_bytes {
                                return Ok(Some(self.malformed(format!(
                                    "{}: the quoted field that opens at line {opened} is longer than {} bytes (source.max_field_bytes)",
                                    self.field_name(col),
                                    o.max_field_bytes
                                ))));
                            }
                            match self.read_line()? {
                                Some(p) => {
                                    self.last_line = self.last_line.max(p.no);
                                    self.raw.extend_from_slice(&p.bytes);
                                    self.line_ends.push(self.raw.len());
                                    if p.cut {
                                        self.last_cut = true;
                                        return Ok(Some(self.malformed(format!(
                                            "{}: the quoted field that opens at line {opened} is longer than {} bytes (source.max_field_bytes)",
                                            self.field_name(col),
                                            o.max_field_bytes
                                        ))));
                                    }
                                }
                                None => bail!(
                                    "line {opened}: the quote that opens {} there is never closed: the input ends inside it at line {}, so nothing from line {} on was imported; find the stray or missing quote on line {opened}",
                                    self.field_name(col),
                                    self.last_line,
                                    self.line
                                ),
                            }
                        }
                    }
                }
                State::AfterQuote => {
                    if o.trim {
                        while i < self.raw.len() && matches!(self.raw[i], b' ' | b'\t') {
                            i += 1;
                        }
                    }
                    let rest = &self.raw[i..];
                    let (next, eol) = (rest.first().copied(), matches!(rest, b"\n" | b"\r\n"));
                    let eol_len = rest.len();
                    if next.is_none() {
                        self.end_value(value_start);
                        return Ok(Some(Split::Record));
                    }
                    if next == Some(o.delimiter) {
                        self.end_value(value_start);
                        i += 1;
                        state = State::FieldStart;
                    } else if eol {
                        self.end_value(value_start);
                        self.terminator = eol_len;
                        return Ok(Some(Split::Record));
                    } else if o.lenient_quotes {
                        // Taken literally: the field is its text as written,
                        // quotes included, up to the next delimiter.
                        self.values.truncate(value_start);
                        self.values.extend_from_slice(&self.raw[field_start..i]);
                        state = State::Unquoted;
                    } else {
                        return Ok(Some(self.malformed(format!(
                            "{}: text after the closing quote (at line {}); quote the whole field and double the quotes inside, or set source.lenient_quotes = true to take it literally",
                            self.field_name(self.spans.len()),
                            self.line_of(i)
                        ))));
                    }
                }
            }
        }
    }

    fn end_value(&mut self, start: usize) {
        self.spans.push(start..self.values.len());
    }

    fn malformed(&mut self, reason: String) -> Split {
        self.terminator = trailing_terminator(&self.raw);
        Split::Malformed(reason)
    }

    /// `field 5 (`note`)`, for messages.
    fn field_name(&self, index: usize) -> String {
        match self.columns.get(index) {
            Some(name) => format!("field {} (`{name}`)", index + 1),
            None => format!("field {}", index + 1),
        }
    }
}

fn trailing_terminator(raw: &[u8]) -> usize {
    if raw.ends_with(b"\r\n") {
        2
    } else if raw.ends_with(b"\n") {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn splitter(text: &[u8], lenient: bool, trim: bool) -> Splitter {
        Splitter::new(
            Box::new(std::io::Cursor::new(text.to_vec())),
            SplitOptions {
                delimiter: b',',
                quote: b'"',
                trim,
                lenient_quotes: lenient,
                max_field_lines: 3,
                max_field_bytes: 64,
            },
        )
    }

    /// Every record as (line, values or the malformed reason's start, raw).
    fn all(s: &mut Splitter) -> Vec<(u64, Result<Vec<String>, String>, String)> {
        let mut out = Vec::new();
        while let Some(split) = s.next_record().unwrap() {
            let values = match split {
                Split::Record => Ok((0..s.len())
                    .map(|i| String::from_utf8_lossy(s.value(i)).into_owned())
                    .collect()),
                Split::Malformed(reason) => {
                    let reason = s.reject_first_line_only(&reason).unwrap_or(reason);
                    Err(reason.split(':').next().unwrap().to_string())
                }
            };
            out.push((
                s.line,
                values,
                String::from_utf8_lossy(s.raw()).into_owned(),
            ));
        }
        out
    }

    fn ok(v: &[&str]) -> Result<Vec<String>, String> {
        Ok(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn rfc4180_records_with_crlf_bom_blank_lines_and_no_final_newline() {
        let mut s = splitter(
            b"\xEF\xBB\xBFa,b\r\n\r\n\"x,\"\"y\"\"\",\"two\r\nlines\"\r\n,\nlast,1",
            false,
            false,
        );
        let got = all(&mut s);
        assert_eq!(got[0], (1, ok(&["a", "b"]), "a,b".into()));
        assert_eq!(got[1].0, 3);
        assert_eq!(got[1].1, ok(&["x,\"y\"", "two\r\nlines"]));
        assert_eq!(got[1].2, "\"x,\"\"y\"\"\",\"two\r\nlines\"");
        assert_eq!(got[2], (5, ok(&["", ""]), ",".into()));
        assert_eq!(got[3], (6, ok(&["last", "1"]), "last,1".into()));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn malformed_quotes_are_rejected_or_taken_literally() {
        let text = b"\"a\"b,1\na\"b,2\n \"c\" ,3\n";
        let got = all(&mut splitter(text, false, false));
        assert_eq!(got[0].1, Err("field 1".into()));
        assert_eq!(got[1].1, Err("field 1".into()));
        assert_eq!(got[2].1, Err("field 1".into()));
        let got = all(&mut splitter(text, true, false));
        assert_eq!(got[0].1, ok(&["\"a\"b", "1"]));
        assert_eq!(got[1].1, ok(&["a\"b", "2"]));
        let got = all(&mut splitter(text, false, true));
        assert_eq!(got[2].1, ok(&["c", "3"]));
    }

    #[test]
    fn a_stray_quote_rejects_its_line_and_the_next_lines_are_read_again() {
        let text = b"1,\"stray\n2,ok\n3,\"x\" y\n4,ok\n";
        let got = all(&mut splitter(text, false, false));
        assert_eq!(got[0], (1, Err("stray quote".into()), "1,\"stray".into()));
        assert_eq!(got[1], (2, ok(&["2", "ok"]), "2,ok".into()));
        assert_eq!(got[2].0, 3);
        assert_eq!(got[2].1, Err("field 2".into()));
        assert_eq!(got[3], (4, ok(&["4", "ok"]), "4,ok".into()));
    }

    #[test]
    fn limits_reject_the_opening_line_and_eof_inside_a_quote_is_fatal() {
        // max_field_lines = 3: the quote on line 1 is still open after 3 lines.
        let got = all(&mut splitter(b"1,\"open\n2\n3\n4,ok\n5,ok\n", false, false));
        assert_eq!(got[0].0, 1);
        assert!(got[0].1.is_err());
        assert_eq!(got[1].1, ok(&["2"]));
        assert_eq!(got[3].1, ok(&["4", "ok"]));
        // max_field_bytes = 64: a long line is cut and rejected on its own,
        // also when it continues a quoted field.
        let long = format!("1,{}\n2,ok\n", "x".repeat(100));
        let got = all(&mut splitter(long.as_bytes(), false, false));
        assert!(got[0].1.is_err());
        assert_eq!(got[0].2.len(), 66);
        assert_eq!(got[1], (2, ok(&["2", "ok"]), "2,ok".into()));
        let long = format!("1,\"a\n{}\n3,ok\n", "x".repeat(100));
        let got = all(&mut splitter(long.as_bytes(), false, false));
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].1, Err("stray quote".into()));
        assert_eq!(got[1].0, 2);
        assert!(got[1]
            .1
            .as_ref()
            .unwrap_err()
            .starts_with("the line is longer"));
        assert_eq!(got[2], (3, ok(&["3", "ok"]), "3,ok".into()));
        let mut s = splitter(b"1,ok\n2,\"open\n3\n", false, false);
        assert_eq!(s.next_record().unwrap(), Some(Split::Record));
        let err = s.next_record().unwrap_err().to_string();
        assert!(
            err.starts_with("line 2: the quote that opens field 2"),
            "{err}"
        );
    }
}
