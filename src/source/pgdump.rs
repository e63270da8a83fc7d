//! pg_dump plain-format dumps: `COPY ... FROM stdin` blocks in text format
//! (tab-separated, `\N` for NULL, backslash escapes including octal and hex)
//! and the INSERT statements of `--inserts` / `--column-inserts`. Column
//! names come from the COPY or INSERT column list, or from the table's
//! `CREATE TABLE` for INSERTs without one. Everything else in the dump
//! (functions, indexes, grants, psql meta-commands) is skipped unread.
//!
//! The dump is read as a stream of lines and tokens; only the row being
//! mapped is held in memory. A dump written by pg_dump ends with a
//! `-- PostgreSQL database dump complete` comment: when the header comment
//! is there but the closing one is not, the dump is truncated and the import
//! stops with an error naming the line.

use std::collections::HashMap;
use std::io::Read;

use anyhow::{anyhow, bail};

use super::reader::ByteReader;
use super::row::{map_row, Row};
use super::sql::{push_bytea_hex, qualify, Dialect, Literal, MarkerText, SqlLexer, TableChoice};
use super::{EventSource, Item, RawRecord};
use crate::mapping::{CompiledMapping, Mapping};

pub struct PgDumpSource {
    lexer: SqlLexer,
    mapping: Mapping,
    choice: TableChoice,
    /// Column names per table, from CREATE TABLE.
    tables: HashMap<String, Vec<String>>,
    state: State,
    target: Option<Target>,
    row: Row,
    scratch: String,
    done: bool,
}

enum State {
    Statements,
    Copy {
        table: Table,
        import: Import,
        started: u64,
    },
    Insert,
}

#[derive(Clone)]
struct Table {
    schema: Option<String>,
    name: String,
    qualified: String,
    columns: Option<Vec<String>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Import {
    /// Not the table being imported.
    No,
    /// The table matches `source.table`; decided at its first row.
    Maybe,
    Yes,
}

struct Target {
    columns: Vec<String>,
    mapping: CompiledMapping,
}

impl PgDumpSource {
    pub fn new(input: Box<dyn Read + Send>, mapping: &Mapping) -> anyhow::Result<PgDumpSource> {
        let lexer = SqlLexer::new(
            ByteReader::new(input),
            Dialect {
                ident_quote: b'"',
                backslash_strings: false,
                mysql: false,
            },
            MarkerText {
                header: &["-- PostgreSQL database dump"],
                trailer: &["-- PostgreSQL database dump complete"],
            },
        );
        Ok(PgDumpSource {
            lexer,
            mapping: mapping.clone(),
            choice: TableChoice::new(mapping.file.source.table.clone()),
            tables: HashMap::new(),
            state: State::Statements,
            target: None,
            row: Row::default(),
            scratch: String::new(),
            done: false,
        })
    }

    /// Compiles the mapping for a table's columns (once per column layout).
    fn bind(&mut self, table: &Table) -> anyhow::Result<()> {
        let columns = match &table.columns {
            Some(c) => c.clone(),
            None => self.tables.get(&table.qualified).cloned().ok_or_else(|| {
                anyhow!(
                    "the INSERT into {} at {} has no column list and the dump has no CREATE TABLE for it; dump with --column-inserts (or COPY)",
                    table.qualified,
                    self.lexer.at()
                )
            })?,
        };
        if self.target.as_ref().is_some_and(|t| t.columns == columns) {
            return Ok(());
        }
        let mapping = self
            .mapping
            .compile(&columns)
            .map_err(|e| anyhow!("{e} (table {}, at {})", table.qualified, self.lexer.at()))?;
        self.target = Some(Target { columns, mapping });
        Ok(())
    }

    /// Reads statements until the next table data (or the end).
    fn statement(&mut self) -> anyhow::Result<Option<State>> {
        loop {
            let Some(b) = self.lexer.skip_trivia()? else {
                return Ok(None);
            };
            if b == b'\\' {
                // A psql meta-command such as `\restrict`: one line.
                self.lexer.input.skip_line()?;
                continue;
            }
            if !super::sql::is_word_byte(b) {
                self.lexer.skip_statement()?;
                continue;
            }
            let word = self.lexer.word()?.to_ascii_uppercase();
            match word.as_str() {
                "COPY" => return self.copy_header().map(Some),
                "INSERT" => {
                    if let Some(state) = self.insert_header()? {
                        return Ok(Some(state));
                    }
                }
                "CREATE" => self.create()?,
                "SET" => self.set()?,
                _ => self.lexer.skip_statement()?,
            }
        }
    }

    fn table(&mut self) -> anyhow::Result<Table> {
        let (schema, name) = self.lexer.qualified_name()?;
        let columns = if self.lexer.skip_trivia()? == Some(b'(') {
            Some(self.lexer.name_list()?)
        } else {
            None
        };
        let qualified = qualify(schema.as_deref(), &name);
        Ok(Table {
            schema,
            name,
            qualified,
            columns,
        })
    }

    fn copy_header(&mut self) -> anyhow::Result<State> {
        let started = self.lexer.input.line();
        let table = self.table()?;
        let mut words = Vec::new();
        loop {
            match self.lexer.skip_trivia()? {
                Some(b';') => {
                    self.lexer.input.bump()?;
                    break;
                }
                Some(b) if super::sql::is_word_byte(b) => {
                    words.push(self.lexer.word()?.to_ascii_lowercase())
                }
                Some(_) | None => {
                    words.push("?".into());
                    break;
                }
            }
        }
        if words != ["from", "stdin"] {
            bail!(
                "unsupported COPY statement for {} at line {started}: only pg_dump's `COPY ... FROM stdin;` in text format is read",
                table.qualified
            );
        }
        // The data starts on the next line.
        self.lexer.input.skip_line()?;
        self.choice.note_data(&table.qualified);
        let import = if self.choice.matches(table.schema.as_deref(), &table.name) {
            Import::Maybe
        } else {
            Import::No
        };
        Ok(State::Copy {
            table,
            import,
            started,
        })
    }

    fn insert_header(&mut self) -> anyhow::Result<Option<State>> {
        let line = self.lexer.input.line();
        self.lexer.skip_trivia()?;
        let into = self.lexer.word()?;
        if !into.eq_ignore_ascii_case("into") {
            bail!("unexpected INSERT at line {line}: expected INSERT INTO");
        }
        let table = self.table()?;
        // `OVERRIDING SYSTEM VALUE` comes before VALUES for identity columns.
        loop {
            match self.lexer.skip_trivia()? {
                Some(b) if super::sql::is_word_byte(b) => {
                    let w = self.lexer.word()?;
                    if w.eq_ignore_ascii_case("values") {
                        break;
                    }
                    if !["overriding", "system", "user", "value"]
                        .iter()
                        .any(|k| w.eq_ignore_ascii_case(k))
                    {
                        bail!(
                            "unsupported INSERT into {} at line {line}: only INSERT ... VALUES is read",
                            table.qualified
                        );
                    }
                }
                None => {
                    return Err(self.lexer.truncated(&format!(
                        "it ends inside the INSERT statement that starts at line {line}"
                    )))
                }
                Some(_) => bail!(
                    "unsupported INSERT into {} at line {line}: only INSERT ... VALUES is read",
                    table.qualified
                ),
            }
        }
        self.choice.note_data(&table.qualified);
        let at = format!("line {line}");
        if self
            .choice
            .take(table.schema.as_deref(), &table.name, &table.qualified, &at)?
        {
            self.bind(&table)?;
            Ok(Some(State::Insert))
        } else {
            self.lexer.skip_statement()?;
            Ok(None)
        }
    }

    fn create(&mut self) -> anyhow::Result<()> {
        loop {
            if self
                .lexer
                .skip_trivia()?
                .is_some_and(super::sql::is_word_byte)
            {
                let w = self.lexer.word()?.to_ascii_lowercase();
                match w.as_str() {
                    "unlogged" | "global" | "local" | "temporary" | "temp" | "foreign" => continue,
                    "table" => break,
                    _ => return self.lexer.skip_statement(),
                }
            }
            return self.lexer.skip_statement();
        }
        let (schema, name) = self.lexer.qualified_name()?;
        let qualified = qualify(schema.as_deref(), &name);
        if self.lexer.skip_trivia()? == Some(b'(') {
            let columns = self.lexer.column_definitions()?;
            self.choice.note_created(&qualified);
            self.tables
                .insert(qualified, columns.into_iter().map(|(n, _)| n).collect());
        }
        self.lexer.skip_statement()
    }

    fn set(&mut self) -> anyhow::Result<()> {
        let line = self.lexer.input.line();
        self.lexer.skip_trivia()?;
        let name = self.lexer.word()?.to_ascii_lowercase();
        let mut value = String::new();
        loop {
            match self.lexer.skip_trivia()? {
                Some(b';') | None => break,
                Some(b'\'') => {
                    self.lexer.literal()?;
                    value = String::from_utf8_lossy(&self.lexer.value).into_owned();
                }
                Some(b) if super::sql::is_word_byte(b) => {
                    let w = self.lexer.word()?;
                    if !w.eq_ignore_ascii_case("to") {
                        value = w;
                    }
                }
                Some(_) => {
                    self.lexer.input.bump()?;
                }
            }
        }
        self.lexer.skip_statement()?;
        match name.as_str() {
            "client_encoding" => {
                let v = value.to_ascii_uppercase().replace(['-', '_'], "");
                // SQL_ASCII means "unchecked bytes": read as UTF-8 value by
                // value, and a value that is not UTF-8 is a reject with its
                // original bytes (map_row), never a replacement character.
                if v != "UTF8" && v != "SQLASCII" && v != "UNICODE" {
                    bail!(
                        "the dump is in client encoding {value} (line {line}); only UTF8 (or SQL_ASCII) is read: dump again with `pg_dump -E UTF8`"
                    );
                }
            }
            "standard_conforming_strings" => {
                self.lexer.dialect.backslash_strings = value.eq_ignore_ascii_case("off");
            }
            _ => {}
        }
        Ok(())
    }

    fn copy_row(&mut self) -> anyhow::Result<Option<Item>> {
        let State::Copy {
            table,
            import,
            started,
        } = &self.state
        else {
            unreachable!("called in COPY state")
        };
        let Some(len) = self.lexer.input.fill_line()? else {
            bail!(
                "the dump is truncated: the COPY data of {} (from line {}) ends at line {} (byte {}) without its `\\.` end marker",
                table.qualified,
                started,
                self.lexer.input.line(),
                self.lexer.input.offset() + self.lexer.input.buffered() as u64
            );
        };
        if strip_eol(self.lexer.input.peek_line(len)) == b"\\." {
            self.lexer.input.take_line(len);
            self.state = State::Statements;
            return Ok(None);
        }
        match *import {
            Import::Yes => {}
            Import::No => {
                self.lexer.input.take_line(len);
                return Ok(None);
            }
            Import::Maybe => {
                let table = table.clone();
                let at = format!("line {}", self.lexer.input.line());
                let take = self.choice.take(
                    table.schema.as_deref(),
                    &table.name,
                    &table.qualified,
                    &at,
                )?;
                if take {
                    self.bind(&table)?;
                }
                if let State::Copy { import, .. } = &mut self.state {
                    *import = if take { Import::Yes } else { Import::No };
                }
                return self.copy_row();
            }
        }
        let line_no = self.lexer.input.line();
        // The line is parsed where it lies in the read buffer: no copy.
        let line = self.lexer.input.take_line(len);
        let target = self.target.as_ref().expect("bound before the first row");
        self.row.clear();
        parse_copy_line(strip_eol(line), &mut self.row);
        Ok(Some(map_row(
            &target.mapping,
            &target.columns,
            &mut self.row,
            &mut self.scratch,
            line_no,
            || RawRecord::Text(strip_eol(line).to_vec()),
        )))
    }

    fn insert_row(&mut self) -> anyhow::Result<Item> {
        let line_no = {
            self.lexer.skip_trivia()?;
            self.lexer.input.line()
        };
        self.row.clear();
        let raw = self
            .lexer
            .tuple(&mut self.row, |row, _, kind, bytes| match kind {
                Literal::Null => row.null(),
                Literal::Binary => {
                    row.begin();
                    push_bytea_hex(row, bytes);
                }
                Literal::Text | Literal::Bits => row.field_bytes(bytes),
            })?;
        if !self.lexer.more_tuples()? {
            self.state = State::Statements;
        }
        let target = self.target.as_ref().expect("bound at the INSERT");
        Ok(map_row(
            &target.mapping,
            &target.columns,
            &mut self.row,
            &mut self.scratch,
            line_no,
            || RawRecord::Text(raw),
        ))
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.done = true;
        self.choice.check_found()?;
        self.lexer
            .check_complete("pg_dump's closing `-- PostgreSQL database dump complete` comment")
    }
}

impl EventSource for PgDumpSource {
    fn next_item(&mut self) -> anyhow::Result<Option<Item>> {
        if self.done {
            return Ok(None);
        }
        loop {
            match self.state {
                State::Statements => match self.statement()? {
                    Some(state) => self.state = state,
                    None => {
                        self.finish()?;
                        return Ok(None);
                    }
                },
                State::Copy { .. } => {
                    if let Some(item) = self.copy_row()? {
                        return Ok(Some(item));
                    }
                }
                State::Insert => return self.insert_row().map(Some),
            }
        }
    }
}

/// A line without its `\n` (or `\r\n`: raw carriage returns never occur in
/// COPY data, which escapes them).
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits one COPY text-format line into fields and undoes its escapes:
/// `\N` alone is NULL; `\b \f \n \r \t \v`, `\` + 1-3 octal digits and
/// `\x` + 1-2 hex digits are bytes; a backslash before anything else
/// stands for that character.
pub fn parse_copy_line(line: &[u8], row: &mut Row) {
    // Most lines have no backslash at all (no NULL, no escape): one scan
    // of the line then saves one per field.
    let escapes = memchr::memchr(b'\\', line).is_some();
    let mut start = 0;
    let tabs = memchr::memchr_iter(b'\t', line).chain(std::iter::once(line.len()));
    for end in tabs {
        let field = &line[start..end];
        start = end + 1;
        if !escapes {
            row.field_bytes(field);
            continue;
        }
        if field == b"\\N" {
            row.null();
            continue;
        }
        row.begin();
        let Some(first) = memchr::memchr(b'\\', field) else {
            row.extend(field);
            continue;
        };
        row.extend(&field[..first]);
        let mut i = first;
        while i < field.len() {
            let b = field[i];
            i += 1;
            if b != b'\\' {
                row.push(b);
                continue;
            }
            let Some(&e) = field.get(i) else {
                // A lone trailing backslash: keep it.
                row.push(b'\\');
                break;
            };
            i += 1;
            match e {
                b'b' => row.push(8),
                b'f' => row.push(12),
                b'n' => row.push(b'\n'),
                b'r' => row.push(b'\r'),
                b't' => row.push(b'\t'),
                b'v' => row.push(11),
                b'0'..=b'7' => {
                    let mut v = u32::from(e - b'0');
                    let mut n = 1;
                    while n < 3 {
                        match field.get(i) {
                            Some(&d @ b'0'..=b'7') => {
                                v = v * 8 + u32::from(d - b'0');
                                i += 1;
                                n += 1;
                            }
                            _ => break,
                        }
                    }
                    row.push(v as u8);
                }
                b'x' => {
                    let mut v = 0u8;
                    let mut n = 0;
                    while n < 2 {
                        match field.get(i).copied().and_then(super::sql::hex_digit) {
                            Some(d) => {
                                v = v * 16 + d;
                                i += 1;
                                n += 1;
                            }
                            None => break,
                        }
                    }
                    if n == 0 {
                        row.push(b'x');
                    } else {
                        row.push(v);
                    }
                }
                other => row.push(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Fields;

    fn fields(line: &[u8]) -> Vec<Option<String>> {
        let mut row = Row::default();
        parse_copy_line(line, &mut row);
        row.seal().unwrap();
        (0..row.len())
            .map(|i| row.field(i).map(str::to_string))
            .collect()
    }

    #[test]
    fn copy_escapes_octal_hex_and_nulls() {
        let f = fields(b"1\t\\N\ttab\\there\\nnl\t\\\\x00ff\t\\101\\x42\\x4\\7\t\\.\\q\t\t\\N\\N");
        assert_eq!(f[0].as_deref(), Some("1"));
        assert_eq!(f[1], None);
        assert_eq!(f[2].as_deref(), Some("tab\there\nnl"));
        assert_eq!(f[3].as_deref(), Some("\\x00ff"));
        assert_eq!(f[4].as_deref(), Some("AB\u{4}\u{7}"));
        assert_eq!(f[5].as_deref(), Some(".q"));
        assert_eq!(f[6].as_deref(), Some(""));
        // Only a field that is exactly `\N` is NULL.
        assert_eq!(f[7].as_deref(), Some("NN"));
        assert_eq!(f.len(), 8);
    }

    #[test]
    fn copy_octal_bytes_can_spell_utf8() {
        let f = fields(b"\\303\\274\\b\\f\\v\\r");
        assert_eq!(f[0].as_deref(), Some("ü\u{8}\u{c}\u{b}\r"));
    }

    #[test]
    fn huge_copy_line() {
        let big = vec![b'x'; 8 << 20];
        let mut line = b"1\t".to_vec();
        line.extend_from_slice(&big);
        let f = fields(&line);
        assert_eq!(f[1].as_ref().map(String::len), Some(8 << 20));
    }
}
