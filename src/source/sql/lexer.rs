//! The lexer for the SQL that pg_dump and mysqldump write: whitespace and
//! comments (noting the tools' header and trailer comments, which tell a
//! complete dump from a cut one), names (quoted or bare), quoted strings
//! with each dialect's escapes, and statements to skip whole. Values of
//! INSERT tuples are in `values.rs`, CREATE TABLE columns in `table.rs`.

use anyhow::{anyhow, bail};

use crate::source::reader::ByteReader;

/// A byte that can continue a bare word (keyword, name or number).
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
    pub(super) string_lines: (u64, u64),
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
    pub(super) fn string(&mut self, keep: bool, backslash: bool) -> anyhow::Result<()> {
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

    /// True when the next bytes are `word` (ASCII, any case) followed by a
    /// byte that cannot continue a word. Consumes nothing.
    pub fn at_keyword(&mut self, word: &str) -> anyhow::Result<bool> {
        for (i, w) in word.bytes().enumerate() {
            match self.input.peek_at(i)? {
                Some(b) if b.eq_ignore_ascii_case(&w) => {}
                _ => return Ok(false),
            }
        }
        Ok(!self.input.peek_at(word.len())?.is_some_and(is_word_byte))
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::source::sql) fn lexer(text: &str, mysql: bool) -> SqlLexer {
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
    fn keywords_end_at_a_word_boundary() {
        let mut lx = lexer("IF EXISTS x", true);
        assert!(lx.at_keyword("if").unwrap());
        let mut lx = lexer("IFFY", true);
        assert!(!lx.at_keyword("if").unwrap());
    }
}
