//! A buffered byte reader over a decoded input (already gunzipped) that
//! knows the line and byte offset of the next unread byte, makes whole
//! lines available without copying, and can capture the bytes it consumes
//! (the original text of a record, for the rejects file). The SQL dump
//! lexer and the mongoexport scanner both read through it.

use std::io::Read;

use anyhow::{anyhow, Context};

/// Bytes read from the (already gunzipped) input at a time.
pub(crate) const CHUNK: usize = 256 * 1024;

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
