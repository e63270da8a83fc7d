//! Compiling a value's specification from the mapping file: its source
//! (column, template or constant), type, empty policy and skip rules, each
//! error naming the mapping key.

use super::{
    CompileContext, CompiledSkip, CompiledTimestamp, CompiledValue, EmptyPolicy, Kind, Part,
    ValueSource,
};
use crate::mapping::{describe_columns, MappingError};

impl CompileContext<'_> {
    pub(super) fn error(&self, key: &str, reason: impl Into<String>) -> MappingError {
        MappingError {
            file: self.file.to_string(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    fn column(&self, key: &str, name: &str) -> Result<usize, MappingError> {
        if let Some(names) = self.referenced {
            let mut names = names.borrow_mut();
            return Ok(match names.iter().position(|c| c == name) {
                Some(i) => i,
                None => {
                    names.push(name.to_string());
                    names.len() - 1
                }
            });
        }
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            self.error(
                key,
                format!(
                    "unknown column `{name}`; the source's columns are: {}",
                    describe_columns(self.columns)
                ),
            )
        })
    }

    fn template(&self, key: &str, text: &str) -> Result<ValueSource, MappingError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => {
                                return Err(self.error(
                                    key,
                                    format!("template `{text}` has an unclosed `{{` (write `{{{{` for a literal brace)"),
                                ))
                            }
                        }
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Column(self.column(key, name.trim())?));
                }
                '}' => {
                    return Err(self.error(
                        key,
                        format!(
                            "template `{text}` has a stray `}}` (write `}}}}` for a literal brace)"
                        ),
                    ))
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(match parts.as_slice() {
            [] => ValueSource::Const(String::new()),
            [Part::Literal(l)] => ValueSource::Const(l.clone()),
            [Part::Column(i)] => ValueSource::Column(*i),
            _ => ValueSource::Template(parts),
        })
    }

    fn origin(&self, source: &ValueSource) -> String {
        let name = |i: &usize| match self.referenced {
            Some(names) => format!("`{}`", names.borrow()[*i]),
            None => format!("`{}`", self.columns[*i]),
        };
        match source {
            ValueSource::Column(i) => format!("column {}", name(i)),
            ValueSource::Template(parts) => {
                let names: Vec<String> = parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::Column(i) => Some(name(i)),
                        Part::Literal(_) => None,
                    })
                    .collect();
                format!(
                    "column{} {}",
                    if names.len() > 1 { "s" } else { "" },
                    names.join(", ")
                )
            }
            ValueSource::Const(_) => String::new(),
        }
    }

    /// A value given either as a template string or as a table.
    pub fn compile_value(
        &self,
        key: &str,
        spec: &toml::Value,
    ) -> Result<CompiledValue, MappingError> {
        self.compile_with_defaults(key, spec, None, None)
    }

    fn compile_with_defaults(
        &self,
        key: &str,
        spec: &toml::Value,
        forced_kind: Option<&str>,
        default_empty: Option<EmptyPolicy>,
    ) -> Result<CompiledValue, MappingError> {
        let table = match spec {
            toml::Value::String(text) => {
                let kind = match forced_kind {
                    Some("timestamp") => Kind::Timestamp(self.time_parser(key, None, None, None)?),
                    _ => Kind::String,
                };
                let empty = default_empty.unwrap_or(EmptyPolicy::Keep);
                let source = self.template(key, text)?;
                return Ok(CompiledValue {
                    key: key.to_string(),
                    origin: self.origin(&source),
                    source,
                    kind,
                    empty,
                });
            }
            toml::Value::Table(t) => t,
            other => {
                return Err(self.error(
                    key,
                    format!(
                        "expected a template string such as \"{{column}}\" or a table such as {{ column = \"name\", type = \"int\" }}, found {}",
                        other.type_str()
                    ),
                ))
            }
        };
        const KEYS: &[&str] = &[
            "column",
            "template",
            "value",
            "type",
            "empty",
            "scale",
            "format",
            "timezone",
            "ambiguous",
        ];
        for k in table.keys() {
            if !KEYS.contains(&k.as_str()) {
                return Err(self.error(
                    key,
                    format!("unknown key `{k}`; expected one of: {}", KEYS.join(", ")),
                ));
            }
        }
        let get_str = |name: &str| -> Result<Option<&str>, MappingError> {
            match table.get(name) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.as_str())),
                Some(other) => Err(self.error(
                    key,
                    format!("`{name}` must be a string, found {}", other.type_str()),
                )),
            }
        };
        let sources = ["column", "template", "value"]
            .iter()
            .filter(|k| table.contains_key(**k))
            .count();
        if sources != 1 {
            return Err(self.error(key, "give exactly one of `column`, `template` or `value`"));
        }
        let source = if let Some(column) = get_str("column")? {
            ValueSource::Column(self.column(key, column)?)
        } else if let Some(template) = get_str("template")? {
            self.template(key, template)?
        } else {
            match table.get("value") {
                Some(toml::Value::String(s)) => ValueSource::Const(s.clone()),
                Some(
                    v @ (toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)),
                ) => ValueSource::Const(v.to_string()),
                Some(other) => {
                    return Err(self.error(
                        key,
                        format!(
                            "`value` must be a string, number or boolean, found {}",
                            other.type_str()
                        ),
                    ))
                }
                None => unreachable!("checked above"),
            }
        };
        let type_name = match (forced_kind, get_str("type")?) {
            (Some(forced), Some(given)) if forced != given => {
                return Err(self.error(key, format!("must be of type {forced}, not {given}")))
            }
            (Some(forced), _) => forced,
            (None, Some(given)) => given,
            (None, None) => "string",
        };
        let scale = match table.get("scale") {
            None => None,
            Some(toml::Value::Integer(n)) if (0..=38).contains(n) => Some(*n as u32),
            Some(_) => return Err(self.error(key, "`scale` must be an integer from 0 to 38")),
        };
        if scale.is_some() && type_name != "decimal" {
            return Err(self.error(key, "`scale` applies only to type = \"decimal\""));
        }
        let has_time_keys = ["format", "timezone", "ambiguous"]
            .iter()
            .any(|k| table.contains_key(*k));
        if has_time_keys && type_name != "timestamp" {
            return Err(self.error(
                key,
                "`format`, `timezone` and `ambiguous` apply only to type = \"timestamp\"",
            ));
        }
        let kind = match type_name {
            "string" => Kind::String,
            "int" | "integer" => Kind::Int,
            "decimal" => Kind::Decimal { scale },
            "bool" | "boolean" => Kind::Bool,
            "json" => Kind::Json,
            "timestamp" => Kind::Timestamp(self.time_parser(
                key,
                get_str("format")?,
                get_str("timezone")?,
                get_str("ambiguous")?,
            )?),
            other => {
                return Err(self.error(
                    key,
                    format!("unknown type `{other}`; expected string, int, decimal, bool, timestamp or json"),
                ))
            }
        };
        let empty = match get_str("empty")? {
            None => default_empty.unwrap_or(if matches!(kind, Kind::String) {
                EmptyPolicy::Keep
            } else {
                EmptyPolicy::Reject
            }),
            Some("omit") => EmptyPolicy::Omit,
            Some("null") => EmptyPolicy::Null,
            Some("reject") => EmptyPolicy::Reject,
            Some("keep") if matches!(kind, Kind::String) => EmptyPolicy::Keep,
            Some(other) => {
                return Err(self.error(
                    key,
                    format!("unknown empty policy `{other}`; expected omit, null or reject (or keep, for strings)"),
                ))
            }
        };
        Ok(CompiledValue {
            key: key.to_string(),
            origin: self.origin(&source),
            source,
            kind,
            empty,
        })
    }

    /// A string-valued event field (service, type, key, ids).
    pub fn compile_text(
        &self,
        key: &str,
        spec: &toml::Value,
        empty: EmptyPolicy,
    ) -> Result<CompiledValue, MappingError> {
        let mut value = self.compile_with_defaults(key, spec, Some("string"), Some(empty))?;
        if value.empty == EmptyPolicy::Keep || value.empty == EmptyPolicy::Null {
            value.empty = empty;
        }
        Ok(value)
    }

    pub fn compile_timestamp(
        &self,
        key: &str,
        spec: &toml::Value,
        required: bool,
    ) -> Result<CompiledTimestamp, MappingError> {
        let policy = if required {
            EmptyPolicy::Reject
        } else {
            EmptyPolicy::Omit
        };
        let mut value = self.compile_with_defaults(key, spec, Some("timestamp"), Some(policy))?;
        if required {
            value.empty = EmptyPolicy::Reject;
        } else if value.empty == EmptyPolicy::Null || value.empty == EmptyPolicy::Keep {
            value.empty = EmptyPolicy::Omit;
        }
        Ok(CompiledTimestamp { value })
    }

    pub fn compile_skip(
        &self,
        key: &str,
        spec: &toml::Value,
    ) -> Result<CompiledSkip, MappingError> {
        let table = spec.as_table().ok_or_else(|| {
            self.error(
                key,
                "each [[skip]] must be a table with `column` and a condition",
            )
        })?;
        const KEYS: &[&str] = &["column", "equals", "prefix", "suffix", "contains", "empty"];
        for k in table.keys() {
            if !KEYS.contains(&k.as_str()) {
                return Err(self.error(
                    key,
                    format!("unknown key `{k}`; expected one of: {}", KEYS.join(", ")),
                ));
            }
        }
        let column = match table.get("column") {
            Some(toml::Value::String(c)) => self.column(key, c)?,
            _ => return Err(self.error(key, "`column` (a string) is required")),
        };
        let text = |name: &str| -> Result<Option<String>, MappingError> {
            match table.get(name) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(self.error(key, format!("`{name}` must be a string"))),
            }
        };
        let equals = match table.get("equals") {
            None => Vec::new(),
            Some(toml::Value::String(s)) => vec![s.clone()],
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.error(key, "`equals` must list strings"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(self.error(key, "`equals` must be a string or a list of strings"))
            }
        };
        let when_empty = match table.get("empty") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(_) => return Err(self.error(key, "`empty` must be true or false")),
        };
        let rule = CompiledSkip {
            column,
            equals,
            prefix: text("prefix")?,
            suffix: text("suffix")?,
            contains: text("contains")?,
            when_empty,
        };
        if rule.equals.is_empty()
            && rule.prefix.is_none()
            && rule.suffix.is_none()
            && rule.contains.is_none()
            && !rule.when_empty
        {
            return Err(self.error(
                key,
                "give a condition: equals, prefix, suffix, contains or empty = true",
            ));
        }
        Ok(rule)
    }
}
