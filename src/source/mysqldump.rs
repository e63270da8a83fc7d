//! mysqldump / mariadb-dump output: `INSERT INTO ... VALUES (...),(...);`
//! statements of any length (extended inserts are read tuple by tuple, never
//! as a whole statement), MySQL string escapes, NULL, hexadecimal (`0x..`,
//! `X'..'`), `_binary '..'` and bit (`b'..'`) literals. Column names come
//! from the column list of `--complete-insert`, else from the table's
//! `CREATE TABLE`, whose column types also tell which values are binary.
//!
//! Binary columns (BLOB, BINARY, VARBINARY) and hex or `_binary` literals
//! become PostgreSQL's bytea text form, `\x` and lowercase hex; BIT columns
//! become unsigned decimal integers. A dump with mysqldump's header comment
//! must end with its `-- Dump completed` comment, else it is truncated.

use std::collections::HashMap;
use std::io::Read;

use anyhow::{anyhow, bail};

use super::reader::ByteReader;
use super::row::{map_row, Row};
use super::sql::{
    bits_to_decimal, bytes_to_decimal, is_word_byte, push_bytea_hex, qualify, Dialect, Literal,
    MarkerText, SqlLexer, TableChoice,
};
use super::{EventSource, Item, RawRecord};
use crate::mapping::{CompiledMapping, Mapping};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
    Bit,
}

pub struct MySqlDumpSource {
    lexer: SqlLexer,
    mapping: Mapping,
    choice: TableChoice,
    /// Columns (name, kind) per table, from CREATE TABLE.
    tables: HashMap<String, Vec<(String, Kind)>>,
    /// From `USE db;` (dumps made with --databases or --all-databases).
    database: Option<String>,
    in_insert: bool,
    target: Option<Target>,
    row: Row,
    scratch: String,
    done: bool,
}

struct Target {
    columns: Vec<String>,
    kinds: Vec<Kind>,
    mapping: CompiledMapping,
}

fn kind_of(type_name: &str) -> Kind {
    match type_name {
        "blob" | "tinyblob" | "mediumblob" | "longblob" | "binary" | "varbinary" => Kind::Binary,
        "bit" => Kind::Bit,
        _ => Kind::Text,
    }
}

impl MySqlDumpSource {
    pub fn new(input: Box<dyn Read + Send>, mapping: &Mapping) -> anyhow::Result<MySqlDumpSource> {
        let lexer = SqlLexer::new(
            ByteReader::new(input),
            Dialect {
                ident_quote: b'`',
                backslash_strings: true,
                mysql: true,
            },
            MarkerText {
                header: &["-- MySQL dump", "-- MariaDB dump"],
                trailer: &["-- Dump completed"],
            },
        );
        Ok(MySqlDumpSource {
            lexer,
            mapping: mapping.clone(),
            choice: TableChoice::new(mapping.file.source.table.clone()),
            tables: HashMap::new(),
            database: None,
            in_insert: false,
            target: None,
            row: Row::default(),
            scratch: String::new(),
            done: false,
        })
    }

    /// `/*!40101 SET NAMES utf8mb4 */`: the character set of every string.
    fn check_charset(&mut self) -> anyhow::Result<()> {
        let comment = String::from_utf8_lossy(&self.lexer.last_block_comment).into_owned();
        self.lexer.last_block_comment.clear();
        let Some(pos) = comment.to_ascii_uppercase().find("SET NAMES ") else {
            return Ok(());
        };
        let charset = comment[pos + 10..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_matches(['\'', '"'])
            .to_ascii_lowercase();
        if !matches!(charset.as_str(), "utf8mb4" | "utf8" | "utf8mb3" | "binary") {
            bail!(
                "the dump's character set is {charset} (SET NAMES before {}); only UTF-8 is read: dump again with --default-character-set=utf8mb4",
                self.lexer.at()
            );
        }
        Ok(())
    }

    fn statement(&mut self) -> anyhow::Result<bool> {
        loop {
            let next = self.lexer.skip_trivia()?;
            self.check_charset()?;
            let Some(b) = next else {
                return Ok(false);
            };
            if !is_word_byte(b) {
                self.lexer.skip_statement()?;
                continue;
            }
            let word = self.lexer.word()?.to_ascii_uppercase();
            match word.as_str() {
                "INSERT" | "REPLACE" => {
                    if self.insert_header()? {
                        return Ok(true);
                    }
                }
                "CREATE" => self.create()?,
                // A client command (around triggers and routines), not SQL.
                "DELIMITER" => {
                    self.lexer.input.skip_line()?;
                }
                "USE" => {
                    self.database = Some(self.lexer.identifier()?);
                    self.lexer.skip_statement()?;
                }
                _ => self.lexer.skip_statement()?,
            }
        }
    }

    fn insert_header(&mut self) -> anyhow::Result<bool> {
        let line = self.lexer.input.line();
        let (schema, name) = loop {
            self.lexer.skip_trivia()?;
            let quoted = self.lexer.input.peek()? == Some(b'`');
            let (schema, name) = self.lexer.qualified_name()?;
            let modifier = ["low_priority", "delayed", "high_priority", "ignore", "into"]
                .iter()
                .any(|k| name.eq_ignore_ascii_case(k));
            if quoted || schema.is_some() || !modifier {
                break (schema.or_else(|| self.database.clone()), name);
            }
        };
        let qualified = qualify(schema.as_deref(), &name);
        let columns = if self.lexer.skip_trivia()? == Some(b'(') {
            Some(self.lexer.name_list()?)
        } else {
            None
        };
        if self.lexer.skip_trivia()?.is_none() {
            return Err(self.lexer.truncated(&format!(
                "it ends inside the INSERT statement that starts at line {line}"
            )));
        }
        let values = self.lexer.word()?;
        if !values.eq_ignore_ascii_case("values") && !values.eq_ignore_ascii_case("value") {
            bail!("unsupported INSERT into {qualified} at line {line}: only INSERT ... VALUES is read");
        }
        self.choice.note_data(&qualified);
        let at = format!("line {line}");
        if !self
            .choice
            .take(schema.as_deref(), &name, &qualified, &at)?
        {
            self.lexer.skip_statement()?;
            return Ok(false);
        }
        let known = self.tables.get(&qualified);
        let (columns, kinds): (Vec<String>, Vec<Kind>) = match (columns, known) {
            (Some(cols), known) => {
                let kinds = cols
                    .iter()
                    .map(|c| {
                        known
                            .and_then(|k| k.iter().find(|(n, _)| n == c))
                            .map(|(_, k)| *k)
                            .unwrap_or(Kind::Text)
                    })
                    .collect();
                (cols, kinds)
            }
            (None, Some(known)) => known.iter().cloned().unzip(),
            (None, None) => bail!(
                "the INSERT into {qualified} at line {line} has no column list and the dump has no CREATE TABLE for it; dump with --complete-insert"
            ),
        };
        if self.target.as_ref().is_none_or(|t| t.columns != columns) {
            let mapping = self
                .mapping
                .compile(&columns)
                .map_err(|e| anyhow!("{e} (table {qualified}, at line {line})"))?;
            self.target = Some(Target {
                columns,
                kinds,
                mapping,
            });
        }
        Ok(true)
    }

    fn create(&mut self) -> anyhow::Result<()> {
        loop {
            if self.lexer.skip_trivia()?.is_some_and(is_word_byte) {
                let w = self.lexer.word()?.to_ascii_lowercase();
                match w.as_str() {
                    "or" | "replace" | "temporary" => continue,
                    "table" => break,
                    _ => return self.lexer.skip_statement(),
                }
            }
            return self.lexer.skip_statement();
        }
        self.lexer.skip_trivia()?;
        if self.lexer.at_keyword("if")? {
            for _ in 0..3 {
                self.lexer.skip_trivia()?;
                self.lexer.word()?;
            }
        }
        let (schema, name) = self.lexer.qualified_name()?;
        let qualified = qualify(schema.or_else(|| self.database.clone()).as_deref(), &name);
        if self.lexer.skip_trivia()? == Some(b'(') {
            let columns = self.lexer.column_definitions()?;
            self.choice.note_created(&qualified);
            self.tables.insert(
                qualified,
                columns
                    .into_iter()
                    .map(|(n, t)| {
                        let kind = kind_of(&t);
                        (n, kind)
                    })
                    .collect(),
            );
        }
        self.lexer.skip_statement()
    }

    fn insert_row(&mut self) -> anyhow::Result<Item> {
        self.lexer.skip_trivia()?;
        let line_no = self.lexer.input.line();
        self.row.clear();
        let target = self.target.as_ref().expect("bound at the INSERT");
        let kinds = &target.kinds;
        let raw = self.lexer.tuple(&mut self.row, |row, i, literal, bytes| {
            let kind = kinds.get(i).copied().unwrap_or(Kind::Text);
            match (literal, kind) {
                (Literal::Null, _) => row.null(),
                (Literal::Bits, _) => match bits_to_decimal(bytes) {
                    Some(v) => row.field_bytes(v.as_bytes()),
                    None => row.field_bytes(bytes),
                },
                (Literal::Text | Literal::Binary, Kind::Bit) => match bytes_to_decimal(bytes) {
                    Some(v) => row.field_bytes(v.as_bytes()),
                    None => {
                        row.begin();
                        push_bytea_hex(row, bytes)
                    }
                },
                (Literal::Binary, _) | (Literal::Text, Kind::Binary) => {
                    row.begin();
                    push_bytea_hex(row, bytes);
                }
                (Literal::Text, Kind::Text) => row.field_bytes(bytes),
            }
        })?;
        self.in_insert = self.lexer.more_tuples()?;
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
            .check_complete("mysqldump's closing `-- Dump completed` comment")
    }
}

impl EventSource for MySqlDumpSource {
    fn next_item(&mut self) -> anyhow::Result<Option<Item>> {
        if self.done {
            return Ok(None);
        }
        if !self.in_insert {
            if !self.statement()? {
                self.finish()?;
                return Ok(None);
            }
            self.in_insert = true;
        }
        self.insert_row().map(Some)
    }
}
