//! What the pg_dump and mysqldump readers share: a byte reader that knows
//! its line and offset, a lexer for the SQL both tools write (comments,
//! quoted strings and identifiers, INSERT value tuples, CREATE TABLE column
//! lists, statements to skip), and the choice of the table to import.
//!
//! Everything works on a stream: a statement or a value tuple is never held
//! whole unless it is the one being mapped, so an extended INSERT of many
//! gigabytes costs no more memory than its largest row.

use std::io::Read;

use anyhow::{anyhow, bail, Context};

use super::row::Row;

/// Bytes read from the (already gunzipped) input at a time.
const CHUNK: usize = 256 * 1024;

/// A buffered reader over the decoded input that tracks the line number and
/// byte offset of the next unread byte, and can capture what it consumes
/// (the original text of a value tuple, for the rejects file).
pub struct ByteReader {
    inner: Box<dyn Read + Send>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Offset of `buf[0]` in the decoded stream.
    base: u64,
    line: u64,
    eof: bool,
    capture: Option<Vec<u8>>,
}

impl ByteReader {
    pub fn new(inner: Box<dyn Read + Send>) -> ByteReader {
        ByteReader {
            inner,
            buf: vec![0; CHUNK],
            pos: 0,
            end: 0,
            base: 0,
            line: 1,
            eof: false,
            capture: None,
        }
    }

    /// Line (1-based) of the next unread byte.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Bytes read from the input but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.end - self.pos
    }

    /// Offset in the decoded stream of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Makes at least `n` bytes available unless the input ends first.
    fn fill(&mut self, n: usize) -> anyhow::Result<bool> {
        while self.end - self.pos < n {
            if self.eof {
                return Ok(false);
            }
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.base += self.pos as u64;
                self.end -= self.pos;
                self.pos = 0;
            }
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n_read = loop {
                match self.inner.read(&mut self.buf[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(anyhow!(e)).with_context(|| {
                            format!("cannot read the input at line {}", self.line)
                        })
                    }
                }
            };
            if n_read == 0 {
                self.eof = true;
            }
            self.end += n_read;
        }
        Ok(true)
    }

    pub fn peek(&mut self) -> anyhow::Result<Option<u8>> {
        if self.pos < self.end || self.fill(1)? {
            Ok(Some(self.buf[self.pos]))
        } else {
            Ok(None)
        }
    }

    /// The byte `k` positions ahead of the next one.
    pub fn peek_at(&mut self, k: usize) -> anyhow::Result<Option<u8>> {
        if self.end - self.pos > k || self.fill(k + 1)? {
            Ok(Some(self.buf[self.pos + k]))
        } else {
            Ok(None)
        }
    }

    pub fn bump(&mut self) -> anyhow::Result<Option<u8>> {
        let Some(b) = self.peek()? else {
            return Ok(None);
        };
        self.pos += 1;
        if b == b'\n' {
            self.line += 1;
        }
        if let Some(c) = self.capture.as_mut() {
            c.push(b);
        }
        Ok(Some(b))
    }

    /// Makes the whole next line available in the buffer (growing it to the
    /// longest line seen) and returns its length including the `\n`; `None`
    /// when the input ends before a newline. Read it with [`Self::take_line`].
    pub fn fill_line(&mut self) -> anyhow::Result<Option<usize>> {
        let mut scanned = 0;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos + scanned..self.end]) {
                return Ok(Some(scanned + i + 1));
            }
            scanned = self.end - self.pos;
            if !self.fill(scanned + 1)? {
                return Ok(None);
            }
        }
    }

    /// The next `len` bytes, as found by [`Self::fill_line`], without copying.
    pub fn peek_line(&self, len: usize) -> &[u8] {
        &self.buf[self.pos..self.pos + len]
    }

    /// Consumes the line found by [`Self::fill_line`] and returns it.
    pub fn take_line(&mut self, len: usize) -> &[u8] {
        let start = self.pos;
        self.pos += len;
        self.line += 1;
        &self.buf[start..start + len]
    }

    /// Skips to just after the next `\n` without keeping the bytes.
    pub fn skip_line(&mut self) -> anyhow::Result<bool> {
        loop {
            if self.pos == self.end && !self.fill(1)? {
                return Ok(false);
            }
            let chunk = &self.buf[self.pos..self.end];
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    self.pos += i + 1;
                    self.line += 1;
                    return Ok(true);
                }
                None => self.pos = self.end,
            }
        }
    }

    /// True when the next bytes are `word` (ASCII, any case) followed by a
    /// byte that cannot continue a word. Consumes nothing.
    pub fn at_keyword(&mut self, word: &str) -> anyhow::Result<bool> {
        for (i, w) in word.bytes().enumerate() {
            match self.peek_at(i)? {
                Some(b) if b.eq_ignore_ascii_case(&w) => {}
                _ => return Ok(false),
            }
        }
        Ok(!self.peek_at(word.len())?.is_some_and(is_word_byte))
    }

    pub fn start_capture(&mut self) {
        self.capture = Some(self.capture.take().unwrap_or_default());
        if let Some(c) = self.capture.as_mut() {
            c.clear();
        }
    }

    /// The bytes consumed since [`Self::start_capture`], as they were.
    pub fn take_capture(&mut self) -> Vec<u8> {
        self.capture.take().unwrap_or_default()
    }
}

pub fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The lexical rules of one tool's SQL.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// `"` (PostgreSQL) or `` ` `` (MySQL).
    pub ident_quote: u8,
    /// Backslash escapes in every `'...'` string (MySQL, or PostgreSQL with
    /// standard_conforming_strings off). PostgreSQL's `E'...'` always has them.
    pub backslash_strings: bool,
    /// MySQL also quotes strings with `"` and has `#` comments.
    pub mysql: bool,
}

/// What a value in a VALUES tuple turned out to be. Its bytes are in
/// [`SqlLexer::value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Literal {
    Null,
    /// A quoted string or a bare word (number, `true`, ...).
    Text,
    /// `X'..'`, `0x..` or `_binary '..'`: raw bytes.
    Binary,
    /// `b'0101'` or `0b0101`: the digits.
    Bits,
}

/// Comment lines that tell whether a dump is complete.
#[derive(Debug, Default, Clone, Copy)]
pub struct Markers {
    pub header: bool,
    pub trailer: bool,
}

/// Comment prefixes: (starts a dump, ends a dump).
pub struct MarkerText {
    pub header: &'static [&'static str],
    pub trailer: &'static [&'static str],
}

pub struct SqlLexer {
    pub input: ByteReader,
    pub dialect: Dialect,
    /// The bytes of the last string literal or value.
    pub value: Vec<u8>,
    pub markers: Markers,
    marker_text: MarkerText,
    /// The start of the last block comment (for MySQL's `/*!40101 SET NAMES x */`).
    pub last_block_comment: Vec<u8>,
    comment: Vec<u8>,
    /// Where the last quoted string opened and closed (lines), to point at
    /// a stray quote when a string swallowed the text after it.
    string_lines: (u64, u64),
}

impl SqlLexer {
    /// A dump that opened with its tool's header comment must end with the
    /// tool's closing comment (`trailer`); otherwise it was cut short.
    pub fn check_complete(&self, trailer: &str) -> anyhow::Result<()> {
        if self.markers.header && !self.markers.trailer {
            return Err(self.truncated(&format!("it ends without {trailer}")));
        }
        Ok(())
    }

    pub fn new(input: ByteReader, dialect: Dialect, marker_text: MarkerText) -> SqlLexer {
        SqlLexer {
            input,
            dialect,
            value: Vec::new(),
            markers: Markers::default(),
            marker_text,
            last_block_comment: Vec::new(),
            comment: Vec::new(),
            string_lines: (0, 0),
        }
    }

    pub fn at(&self) -> String {
        format!("line {}", self.input.line())
    }

    /// The dump ends inside `what` (a noun phrase: "a string opened at
    /// line 12", "a VALUES tuple").
    pub fn eof_error(&self, what: &str) -> anyhow::Error {
        self.truncated(&format!("it ends inside {what}"))
    }

    /// "the dump is truncated at line N (byte B): {how}", one sentence.
    pub fn truncated(&self, how: &str) -> anyhow::Error {
        anyhow!(
            "the dump is truncated at line {} (byte {}): {how}",
            self.input.line(),
            self.input.offset()
        )
    }

    /// Skips whitespace and comments. Returns the next byte, not consumed.
    pub fn skip_trivia(&mut self) -> anyhow::Result<Option<u8>> {
        loop {
            let Some(b) = self.input.peek()? else {
                return Ok(None);
            };
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                    self.input.bump()?;
                }
                b'-' if self.input.peek_at(1)? == Some(b'-') => self.line_comment()?,
                b'#' if self.dialect.mysql => self.line_comment()?,
                b'/' if self.input.peek_at(1)? == Some(b'*') => self.block_comment()?,
                _ => return Ok(Some(b)),
            }
        }
    }

    fn line_comment(&mut self) -> anyhow::Result<()> {
        self.comment.clear();
        // Only the start is kept: enough to recognise the tools' markers.
        while let Some(b) = self.input.peek()? {
            if b == b'\n' {
                break;
            }
            self.input.bump()?;
            if self.comment.len() < 80 {
                self.comment.push(b);
            }
        }
        let text = String::from_utf8_lossy(&self.comment);
        if self.marker_text.trailer.iter().any(|m| text.starts_with(m)) {
            self.markers.trailer = true;
        } else if self.marker_text.header.iter().any(|m| text.starts_with(m)) {
            // pg_dumpall repeats header and trailer per database: only the
            // last database's trailer tells that the file is complete.
            self.markers.header = true;
            self.markers.trailer = false;
        }
        Ok(())
    }

    fn block_comment(&mut self) -> anyhow::Result<()> {
        let line = self.input.line();
        self.input.bump()?;
        self.input.bump()?;
        self.last_block_comment.clear();
        let mut depth = 1;
        loop {
            match self.input.bump()? {
                None => {
                    return Err(self.eof_error(&format!(
                        "a /* comment opened at line {line}, which is never closed"
                    )))
                }
                Some(b'*') if self.input.peek()? == Some(b'/') => {
                    self.input.bump()?;
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                // PostgreSQL nests block comments; MySQL does not.
                Some(b'/') if !self.dialect.mysql && self.input.peek()? == Some(b'*') => {
                    self.input.bump()?;
                    depth += 1;
                }
                Some(b) => {
                    if self.last_block_comment.len() < 200 {
                        self.last_block_comment.push(b);
                    }
                }
            }
        }
    }

    /// Reads a bare word (keyword, unquoted name or number).
    pub fn word(&mut self) -> anyhow::Result<String> {
        let mut w = Vec::new();
        while let Some(b) = self.input.peek()? {
            if is_word_byte(b) || b == b'.' && w.first().is_some_and(u8::is_ascii_digit) {
                w.push(b);
                self.input.bump()?;
            } else {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&w).into_owned())
    }

    /// Reads one identifier: quoted (with the quote doubled inside) or bare.
    /// PostgreSQL folds bare names to lower case; pg_dump quotes every name
    /// that is not already lower case, so the text is kept as written.
    pub fn identifier(&mut self) -> anyhow::Result<String> {
        let q = self.dialect.ident_quote;
        match self.skip_trivia()? {
            Some(b) if b == q => {
                let line = self.input.line();
                self.input.bump()?;
                let mut name = Vec::new();
                loop {
                    match self.input.bump()? {
                        None => {
                            return Err(
                                self.eof_error(&format!("a quoted name opened at line {line}"))
                            )
                        }
                        Some(b) if b == q => {
                            if self.input.peek()? == Some(q) {
                                self.input.bump()?;
                                name.push(q);
                            } else {
                                break;
                            }
                        }
                        Some(b) => name.push(b),
                    }
                }
                Ok(String::from_utf8_lossy(&name).into_owned())
            }
            Some(b) if is_word_byte(b) => self.word(),
            Some(b) => bail!(
                "expected a name at {}, found `{}`",
                self.at(),
                char::from(b).escape_default()
            ),
            None => Err(self.eof_error("a statement")),
        }
    }

    /// `name` or `schema.name`, returned as (schema, name).
    pub fn qualified_name(&mut self) -> anyhow::Result<(Option<String>, String)> {
        let first = self.identifier()?;
        if self.skip_trivia()? == Some(b'.') {
            self.input.bump()?;
            let second = self.identifier()?;
            Ok((Some(first), second))
        } else {
            Ok((None, first))
        }
    }

    /// Consumes `b` (after trivia) or fails naming the position.
    pub fn expect(&mut self, b: u8, context: &str) -> anyhow::Result<()> {
        match self.skip_trivia()? {
            Some(x) if x == b => {
                self.input.bump()?;
                Ok(())
            }
            Some(x) => bail!(
                "expected `{}` {context} at {}, found `{}`",
                char::from(b),
                self.at(),
                char::from(x).escape_default()
            ),
            None => Err(self.truncated(&format!(
                "it ends where `{}` was expected {context}",
                char::from(b)
            ))),
        }
    }

    /// `(a, b, "c d")`: a parenthesised list of names.
    pub fn name_list(&mut self) -> anyhow::Result<Vec<String>> {
        self.expect(b'(', "to open the column list")?;
        let mut names = Vec::new();
        loop {
            names.push(self.identifier()?);
            match self.skip_trivia()? {
                Some(b',') => {
                    self.input.bump()?;
                }
                Some(b')') => {
                    self.input.bump()?;
                    return Ok(names);
                }
                Some(x) => bail!(
                    "unexpected `{}` in a column list at {}",
                    char::from(x).escape_default(),
                    self.at()
                ),
                None => return Err(self.eof_error("a column list")),
            }
        }
    }

    /// Reads a quoted string whose opening quote is next, into `self.value`
    /// (when `keep`). `backslash` turns on backslash escapes.
    fn string(&mut self, keep: bool, backslash: bool) -> anyhow::Result<()> {
        let line = self.input.line();
        let quote = self.input.bump()?.expect("caller saw the quote");
        if keep {
            self.value.clear();
        }
        loop {
            let Some(b) = self.input.bump()? else {
                return Err(self.eof_error(&format!("a string opened at line {line}")));
            };
            let out = if b == quote {
                if self.input.peek()? == Some(quote) {
                    self.input.bump()?;
                    quote
                } else {
                    self.string_lines = (line, self.input.line());
                    return Ok(());
                }
            } else if b == b'\\' && backslash {
                let Some(e) = self.input.bump()? else {
                    return Err(self.eof_error(&format!("a string opened at line {line}")));
                };
                if self.dialect.mysql {
                    mysql_escape(e)
                } else {
                    match self.pg_escape(e)? {
                        Some(x) => x,
                        None => continue,
                    }
                }
            } else {
                b
            };
            if keep {
                self.value.push(out);
            }
        }
    }

    /// PostgreSQL `E'...'` escapes (octal, hex and the C letters).
    fn pg_escape(&mut self, e: u8) -> anyhow::Result<Option<u8>> {
        Ok(Some(match e {
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match self.input.peek()? {
                        Some(d @ b'0'..=b'7') => {
                            self.input.bump()?;
                            v = v * 8 + u32::from(d - b'0');
                        }
                        _ => break,
                    }
                }
                v as u8
            }
            b'x' => {
                let mut v = 0u8;
                let mut n = 0;
                while n < 2 {
                    match self.input.peek()?.and_then(hex_digit) {
                        Some(d) => {
                            self.input.bump()?;
                            v = v * 16 + d;
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    b'x'
                } else {
                    v
                }
            }
            b'u' | b'U' => {
                let digits = if e == b'u' { 4 } else { 8 };
                let mut v = 0u32;
                for _ in 0..digits {
                    match self.input.bump()?.and_then(hex_digit) {
                        Some(d) => v = v * 16 + u32::from(d),
                        None => bail!("bad \\{} escape at {}", char::from(e), self.at()),
                    }
                }
                let c = char::from_u32(v)
                    .ok_or_else(|| anyhow!("bad unicode escape at {}", self.at()))?;
                let mut tmp = [0u8; 4];
                let encoded = c.encode_utf8(&mut tmp).as_bytes();
                self.value.extend_from_slice(&encoded[..encoded.len() - 1]);
                encoded[encoded.len() - 1]
            }
            other => other,
        }))
    }

    /// Skips one statement up to and including its `;`, honouring strings,
    /// quoted names, comments and PostgreSQL's dollar quotes.
    pub fn skip_statement(&mut self) -> anyhow::Result<()> {
        let line = self.input.line();
        loop {
            let Some(b) = self.skip_trivia()? else {
                return Err(self.eof_error(&format!("the statement starting at line {line}")));
            };
            match b {
                b';' => {
                    self.input.bump()?;
                    return Ok(());
                }
                b'\'' => {
                    let backslash = self.dialect.backslash_strings;
                    self.string(false, backslash)?
                }
                b'"' if self.dialect.mysql => self.string(false, true)?,
                b'$' if !self.dialect.mysql => self.dollar_quoted()?,
                b if b == self.dialect.ident_quote => {
                    self.identifier()?;
                }
                b'E' | b'e' if !self.dialect.mysql && self.input.peek_at(1)? == Some(b'\'') => {
                    self.input.bump()?;
                    self.string(false, true)?;
                }
                b if is_word_byte(b) => {
                    self.word()?;
                }
                _ => {
                    self.input.bump()?;
                }
            }
        }
    }

    /// `$tag$ ... $tag$` (function bodies in pg_dump output).
    fn dollar_quoted(&mut self) -> anyhow::Result<()> {
        let line = self.input.line();
        let mut tag = vec![self.input.bump()?.expect("caller saw `$`")];
        loop {
            match self.input.bump()? {
                Some(b'$') => {
                    tag.push(b'$');
                    break;
                }
                Some(b) if is_word_byte(b) => tag.push(b),
                // A `$1` parameter or similar, not a quote.
                _ => return Ok(()),
            }
        }
        let mut window: Vec<u8> = Vec::with_capacity(tag.len());
        loop {
            let Some(b) = self.input.bump()? else {
                return Err(self.eof_error(&format!("a $-quoted body opened at line {line}")));
            };
            window.push(b);
            if window.len() > tag.len() {
                window.remove(0);
            }
            if window == tag {
                return Ok(());
            }
        }
    }

    /// Reads one value of a VALUES tuple into `self.value` and says what it
    /// is. Type casts after a value (`'1'::numeric`) are skipped.
    pub fn literal(&mut self) -> anyhow::Result<Literal> {
        let Some(b) = self.skip_trivia()? else {
            return Err(self.eof_error("a VALUES tuple"));
        };
        let next = self.input.peek_at(1)?;
        let mysql = self.dialect.mysql;
        let kind = match b {
            b'\'' => {
                self.string(true, self.dialect.backslash_strings)?;
                Literal::Text
            }
            b'"' if mysql => {
                self.string(true, true)?;
                Literal::Text
            }
            b'E' | b'e' if !mysql && next == Some(b'\'') => {
                self.input.bump()?;
                self.string(true, true)?;
                Literal::Text
            }
            b'X' | b'x' if next == Some(b'\'') => {
                self.input.bump()?;
                self.string(true, false)?;
                self.value = hex::decode(&self.value)
                    .map_err(|e| anyhow!("bad hexadecimal literal at {}: {e}", self.at()))?;
                Literal::Binary
            }
            b'B' | b'b' if next == Some(b'\'') => {
                self.input.bump()?;
                self.string(true, false)?;
                Literal::Bits
            }
            b'_' if mysql => {
                // A character set introducer: _binary '..', _utf8mb4 '..'.
                let charset = self.word()?;
                self.skip_trivia()?;
                match self.input.peek()? {
                    Some(b'\'') | Some(b'"') => self.string(true, true)?,
                    _ => bail!("expected a string after {charset} at {}", self.at()),
                }
                if charset.eq_ignore_ascii_case("_binary") {
                    Literal::Binary
                } else {
                    Literal::Text
                }
            }
            _ => {
                self.value.clear();
                while let Some(c) = self.input.peek()? {
                    if is_word_byte(c) || matches!(c, b'.' | b'-' | b'+') {
                        self.value.push(c);
                        self.input.bump()?;
                    } else {
                        break;
                    }
                }
                if self.value.is_empty() {
                    bail!(
                        "unexpected `{}` in a VALUES tuple at {}",
                        char::from(b).escape_default(),
                        self.at()
                    );
                }
                let v = &self.value;
                if v.eq_ignore_ascii_case(b"null") {
                    Literal::Null
                } else if v.len() > 2 && (v.starts_with(b"0x") || v.starts_with(b"0X")) {
                    self.value = hex::decode(&v[2..])
                        .map_err(|e| anyhow!("bad hexadecimal literal at {}: {e}", self.at()))?;
                    Literal::Binary
                } else if mysql && v.len() > 2 && v.starts_with(b"0b") {
                    self.value.drain(..2);
                    Literal::Bits
                } else {
                    Literal::Text
                }
            }
        };
        // Casts such as `'x'::text` or `'1'::numeric(10,2)`.
        while self.skip_trivia()? == Some(b':') && self.input.peek_at(1)? == Some(b':') {
            self.input.bump()?;
            self.input.bump()?;
            self.skip_trivia()?;
            self.identifier()?;
            if self.skip_trivia()? == Some(b'(') {
                while let Some(c) = self.input.bump()? {
                    if c == b')' {
                        break;
                    }
                }
            }
        }
        Ok(kind)
    }

    /// Reads a VALUES tuple (its `(` is next) into `row`, converting each
    /// value with `put`. Returns the tuple's original bytes.
    pub fn tuple(
        &mut self,
        row: &mut Row,
        mut put: impl FnMut(&mut Row, usize, Literal, &[u8]),
    ) -> anyhow::Result<Vec<u8>> {
        if self.skip_trivia()?.is_none() {
            return Err(self.truncated("it ends where the next VALUES tuple should start"));
        }
        self.input.start_capture();
        let result = (|| -> anyhow::Result<()> {
            self.expect(b'(', "to open a VALUES tuple")?;
            let mut index = 0;
            loop {
                let kind = self.literal()?;
                put(row, index, kind, &self.value);
                index += 1;
                match self.skip_trivia()? {
                    Some(b',') => {
                        self.input.bump()?;
                    }
                    Some(b')') => {
                        self.input.bump()?;
                        return Ok(());
                    }
                    Some(x) => {
                        let (opened, closed) = self.string_lines;
                        let stray = if kind == Literal::Text
                            && closed == self.input.line()
                            && opened < closed
                        {
                            format!(
                                " (the string before it opened at line {opened}: a quote there is probably stray or unescaped)"
                            )
                        } else {
                            String::new()
                        };
                        bail!(
                            "unexpected `{}` after a value at {}{stray}",
                            char::from(x).escape_default(),
                            self.at()
                        )
                    }
                    None => return Err(self.eof_error("a VALUES tuple")),
                }
            }
        })();
        let mut bytes = self.input.take_capture();
        let start = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(bytes.len());
        bytes.drain(..start);
        result.map(|_| bytes)
    }

    /// After a tuple: true when another follows (`,`), false at the `;`.
    pub fn more_tuples(&mut self) -> anyhow::Result<bool> {
        match self.skip_trivia()? {
            Some(b',') => {
                self.input.bump()?;
                Ok(true)
            }
            Some(b';') => {
                self.input.bump()?;
                Ok(false)
            }
            Some(x) => bail!(
                "expected `,` or `;` after a VALUES tuple at {}, found `{}`",
                self.at(),
                char::from(x).escape_default()
            ),
            None => Err(self.truncated(
                "it ends after a VALUES tuple, without the `,` or `;` that must follow it",
            )),
        }
    }

    /// The column definitions of `CREATE TABLE name (...)`, whose `(` is
    /// next: (name, type) pairs. Constraints are left out.
    pub fn column_definitions(&mut self) -> anyhow::Result<Vec<(String, String)>> {
        self.expect(b'(', "to open the column definitions")?;
        let mut columns = Vec::new();
        loop {
            let Some(b) = self.skip_trivia()? else {
                return Err(self.eof_error("CREATE TABLE"));
            };
            let quoted = b == self.dialect.ident_quote;
            let name = self.identifier()?;
            let constraint = !quoted
                && [
                    "constraint",
                    "primary",
                    "unique",
                    "check",
                    "foreign",
                    "exclude",
                    "like",
                    "key",
                    "index",
                    "fulltext",
                    "spatial",
                    "period",
                ]
                .iter()
                .any(|k| name.eq_ignore_ascii_case(k));
            let mut type_name = String::new();
            if !constraint {
                if let Some(b) = self.skip_trivia()? {
                    if is_word_byte(b) {
                        type_name = self.word()?.to_ascii_lowercase();
                    } else if b == self.dialect.ident_quote {
                        type_name = self.identifier()?.to_ascii_lowercase();
                    }
                }
            }
            // The rest of this definition, up to a `,` or `)` at depth 0.
            let mut depth = 0;
            let end = loop {
                let Some(b) = self.skip_trivia()? else {
                    return Err(self.eof_error("CREATE TABLE"));
                };
                match b {
                    b'(' => {
                        depth += 1;
                        self.input.bump()?;
                    }
                    b')' if depth > 0 => {
                        depth -= 1;
                        self.input.bump()?;
                    }
                    b')' | b',' if depth == 0 => {
                        self.input.bump()?;
                        break b;
                    }
                    b'\'' => self.string(false, self.dialect.backslash_strings)?,
                    b if b == self.dialect.ident_quote => {
                        self.identifier()?;
                    }
                    b if is_word_byte(b) => {
                        self.word()?;
                    }
                    _ => {
                        self.input.bump()?;
                    }
                }
            };
            if !constraint {
                columns.push((name, type_name));
            }
            if end == b')' {
                return Ok(columns);
            }
        }
    }
}

fn mysql_escape(e: u8) -> u8 {
    match e {
        b'0' => 0,
        b'b' => 8,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'Z' => 0x1a,
        // `\%` and `\_` keep their backslash in MySQL, but mysqldump never
        // writes them; everything else stands for itself.
        other => other,
    }
}

/// The value of one hexadecimal digit (the 1-2 digit `\x` escapes).
pub fn hex_digit(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

/// Appends bytes in PostgreSQL's bytea text form, `\x` and lowercase hex,
/// the form every binary value from a SQL dump takes.
pub fn push_bytea_hex(row: &mut Row, bytes: &[u8]) {
    row.extend(b"\\x");
    row.extend(hex::encode(bytes).as_bytes());
}

/// A bit string's value as an unsigned decimal integer (MySQL `BIT(n)`).
pub fn bits_to_decimal(bits: &[u8]) -> Option<String> {
    let mut v: u128 = 0;
    for &b in bits {
        v = v.checked_mul(2)?
            + match b {
                b'0' => 0,
                b'1' => 1,
                _ => return None,
            };
    }
    Some(v.to_string())
}

/// Raw big-endian bytes as an unsigned decimal integer (a MySQL `BIT(n)`
/// value dumped as a string or hex literal).
pub fn bytes_to_decimal(bytes: &[u8]) -> Option<String> {
    let mut v: u128 = 0;
    for &b in bytes {
        v = v.checked_mul(256)? + u128::from(b);
    }
    Some(v.to_string())
}

/// Which table's rows a dump import takes, from `[source] table`.
///
/// `schema.name` must match exactly; a bare `name` matches that table in
/// any schema (or database), and is an error if two different tables match.
/// Without `table`, the dump must hold rows of exactly one table.
#[derive(Debug, Default)]
pub struct TableChoice {
    wanted: Option<String>,
    chosen: Option<String>,
    /// Tables whose data (COPY or INSERT) was seen so far.
    pub with_data: Vec<String>,
    /// Tables created so far.
    pub created: Vec<String>,
}

impl TableChoice {
    pub fn new(wanted: Option<String>) -> TableChoice {
        TableChoice {
            wanted,
            ..TableChoice::default()
        }
    }

    pub fn matches(&self, schema: Option<&str>, name: &str) -> bool {
        match self.wanted.as_deref() {
            None => true,
            Some(w) => match w.rsplit_once('.') {
                Some((ws, wn)) => schema == Some(ws) && name == wn,
                None => name == w,
            },
        }
    }

    pub fn note_created(&mut self, qualified: &str) {
        if !self.created.iter().any(|c| c == qualified) && self.created.len() < 1000 {
            self.created.push(qualified.to_string());
        }
    }

    /// Called when a table's data starts; true when its rows are imported.
    /// `has_rows` is false for an empty COPY block.
    pub fn take(
        &mut self,
        schema: Option<&str>,
        name: &str,
        qualified: &str,
        at: &str,
    ) -> anyhow::Result<bool> {
        if !self.matches(schema, name) {
            return Ok(false);
        }
        if let Some(chosen) = &self.chosen {
            if chosen == qualified {
                return Ok(true);
            }
            return Err(match &self.wanted {
                Some(w) => anyhow!(
                    "source.table = \"{w}\" matches both {chosen} and {qualified} (at {at}); write it as schema.table"
                ),
                None => anyhow!(
                    "the dump holds rows of more than one table ({chosen}, then {qualified} at {at}); set source.table in the mapping to the one to import"
                ),
            });
        }
        if self.wanted.is_none() && self.created.len() > 1 {
            bail!(
                "the dump defines {} tables ({}); set source.table in the mapping to the one to import",
                self.created.len(),
                self.created.join(", ")
            );
        }
        self.chosen = Some(qualified.to_string());
        Ok(true)
    }

    pub fn note_data(&mut self, qualified: &str) {
        if !self.with_data.iter().any(|c| c == qualified) && self.with_data.len() < 1000 {
            self.with_data.push(qualified.to_string());
        }
    }

    /// At the end of the dump: an error when the wanted table never appeared.
    pub fn check_found(&self) -> anyhow::Result<()> {
        let Some(w) = &self.wanted else {
            return Ok(());
        };
        if self.chosen.is_some() {
            return Ok(());
        }
        // A table that is in the dump but has no rows imports nothing, cleanly.
        let present = self
            .created
            .iter()
            .chain(&self.with_data)
            .any(|c| c == w || c.rsplit_once('.').map(|(_, n)| n) == Some(w.as_str()));
        if present {
            return Ok(());
        }
        let mut tables = self.created.clone();
        for t in &self.with_data {
            if !tables.contains(t) {
                tables.push(t.clone());
            }
        }
        bail!(
            "source.table = \"{w}\" is not in the dump; its tables are: {}",
            if tables.is_empty() {
                "(none)".to_string()
            } else {
                tables.join(", ")
            }
        )
    }
}

/// `schema.name` for messages and matching (no quoting).
pub fn qualify(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(s) => format!("{s}.{name}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexer(text: &str, mysql: bool) -> SqlLexer {
        let input = ByteReader::new(Box::new(std::io::Cursor::new(text.as_bytes().to_vec())));
        let dialect = if mysql {
            Dialect {
                ident_quote: b'`',
                backslash_strings: true,
                mysql: true,
            }
        } else {
            Dialect {
                ident_quote: b'"',
                backslash_strings: false,
                mysql: false,
            }
        };
        SqlLexer::new(
            input,
            dialect,
            MarkerText {
                header: &[],
                trailer: &[],
            },
        )
    }

    fn values(lx: &mut SqlLexer) -> Vec<(Literal, Vec<u8>)> {
        let mut out = Vec::new();
        let mut row = Row::default();
        lx.tuple(&mut row, |_, _, kind, bytes| {
            out.push((kind, bytes.to_vec()))
        })
        .unwrap();
        out
    }

    #[test]
    fn mysql_escapes_hex_and_binary() {
        let mut lx = lexer(
            r"(1,'a\'b\\c\nd\0\Z',NULL,0x00FF,X'41',_binary 'x\0y',b'101',-2.5e3,'it''s', _utf8mb4'é')",
            true,
        );
        let v = values(&mut lx);
        assert_eq!(v[0], (Literal::Text, b"1".to_vec()));
        assert_eq!(v[1], (Literal::Text, b"a'b\\c\nd\0\x1a".to_vec()));
        assert_eq!(v[2].0, Literal::Null);
        assert_eq!(v[3], (Literal::Binary, vec![0, 255]));
        assert_eq!(v[4], (Literal::Binary, b"A".to_vec()));
        assert_eq!(v[5], (Literal::Binary, b"x\0y".to_vec()));
        assert_eq!(v[6], (Literal::Bits, b"101".to_vec()));
        assert_eq!(v[7], (Literal::Text, b"-2.5e3".to_vec()));
        assert_eq!(v[8], (Literal::Text, b"it's".to_vec()));
        assert_eq!(v[9], (Literal::Text, "é".as_bytes().to_vec()));
    }

    #[test]
    fn pg_strings_escape_strings_and_casts() {
        let mut lx = lexer(
            r"('a\b''c', E'tab\there\101\x41\u00e9', '\x00ff'::bytea, true, NULL, '1.50'::numeric(10,2))",
            false,
        );
        let v = values(&mut lx);
        assert_eq!(v[0], (Literal::Text, b"a\\b'c".to_vec()));
        assert_eq!(v[1], (Literal::Text, "tab\thereAAé".as_bytes().to_vec()));
        assert_eq!(v[2], (Literal::Text, b"\\x00ff".to_vec()));
        assert_eq!(v[3], (Literal::Text, b"true".to_vec()));
        assert_eq!(v[4].0, Literal::Null);
        assert_eq!(v[5], (Literal::Text, b"1.50".to_vec()));
    }

    #[test]
    fn skips_dollar_quotes_comments_and_nested_comments() {
        let mut lx = lexer(
            "CREATE FUNCTION f() AS $body$ SELECT ';'; $body$; /* a /* nested; */ c; */ -- x;\nNEXT",
            false,
        );
        lx.skip_statement().unwrap();
        lx.skip_trivia().unwrap();
        assert_eq!(lx.word().unwrap(), "NEXT");
    }

    #[test]
    fn truncated_string_names_the_line() {
        let mut lx = lexer("(1,\n'abc", true);
        let mut row = Row::default();
        let err = lx.tuple(&mut row, |_, _, _, _| {}).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(err.to_string().contains("opened at line 2"), "{err}");
    }

    #[test]
    fn a_string_that_swallowed_lines_points_at_its_opening_line() {
        let mut lx = lexer("(1,'it's');\n(2,'b');", false);
        let mut row = Row::default();
        let err = lx.tuple(&mut row, |_, _, _, _| {}).unwrap_err().to_string();
        assert!(!err.contains("stray"), "one line: {err}");
        let mut lx = lexer("(1,'abc, 2);\nINSERT INTO t VALUES (2,'b');", false);
        let err = lx.tuple(&mut row, |_, _, _, _| {}).unwrap_err().to_string();
        assert!(err.contains("opened at line 1"), "{err}");
    }

    #[test]
    fn create_table_columns_skip_constraints() {
        let mut lx = lexer(
            "(`id` int(11) NOT NULL, `Entry ID` bigint DEFAULT '0', `b` blob, PRIMARY KEY (`id`), KEY `k` (`b`(10)))",
            true,
        );
        let cols = lx.column_definitions().unwrap();
        assert_eq!(
            cols,
            vec![
                ("id".to_string(), "int".to_string()),
                ("Entry ID".to_string(), "bigint".to_string()),
                ("b".to_string(), "blob".to_string())
            ]
        );
    }

    #[test]
    fn huge_tuple_streams_through_a_small_buffer() {
        let big = "x".repeat(3 * CHUNK + 17);
        let mut lx = lexer(&format!("(1,'{big}'),(2,'y');"), true);
        let v = values(&mut lx);
        assert_eq!(v[1].1.len(), big.len());
        assert!(lx.more_tuples().unwrap());
        let v = values(&mut lx);
        assert_eq!(v[1].1, b"y");
        assert!(!lx.more_tuples().unwrap());
    }

    #[test]
    fn bit_values() {
        assert_eq!(bits_to_decimal(b"10101").unwrap(), "21");
        assert_eq!(bytes_to_decimal(&[0x01, 0x00]).unwrap(), "256");
    }
}
