//! Which table a dump import reads: the column definitions of a
//! `CREATE TABLE`, and the choice of the table from `[source] table`.

use anyhow::{anyhow, bail};

use super::lexer::{is_word_byte, SqlLexer};

impl SqlLexer {
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
    use super::super::lexer::tests::lexer;

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
}
