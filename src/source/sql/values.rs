//! The values of INSERT tuples: each literal's bytes and what it is (text,
//! NULL, binary, bits), read one tuple at a time, with the tuple's
//! original bytes kept for the rejects file. Also the conversions of binary
//! and bit values to the text a mapping sees.

use anyhow::{anyhow, bail};

use super::lexer::{is_word_byte, SqlLexer};
use crate::source::row::Row;

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

impl SqlLexer {
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

#[cfg(test)]
mod tests {
    use super::super::lexer::tests::lexer;
    use super::*;

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
    fn huge_tuple_streams_through_a_small_buffer() {
        let big = "x".repeat(3 * crate::source::reader::CHUNK + 17);
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
