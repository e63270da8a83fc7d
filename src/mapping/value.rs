//! Compiling and evaluating one mapped value: where it comes from (a column,
//! a `{column}` template or a constant), what type it has, and what happens
//! when it is empty. Everything that can be checked without data is checked
//! in `compile_*`; the `render`/`text` functions are the per-row hot path.

use chrono::format::{Fixed, Item, Numeric, Parsed, StrftimeItems};
use chrono::{LocalResult, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

use super::{describe_columns, Fields, MappingError, RowError};
use crate::event::{canonical_json, format_millis, push_json_string, Millis};

pub(super) struct CompileContext<'a> {
    pub file: &'a str,
    pub columns: &'a [String],
    /// When set, every column name is accepted and recorded here instead
    /// of being looked up in `columns`.
    pub referenced: Option<&'a std::cell::RefCell<Vec<String>>>,
}

/// What an empty (or null) value turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EmptyPolicy {
    /// Strings only: an empty string stays `""`, a null stays `null`.
    Keep,
    Omit,
    Null,
    Reject,
}

#[derive(Debug)]
enum ValueSource {
    Column(usize),
    Template(Vec<Part>),
    Const(String),
}

#[derive(Debug)]
enum Part {
    Literal(String),
    Column(usize),
}

#[derive(Debug)]
enum Kind {
    String,
    Int,
    Decimal { scale: Option<u32> },
    Bool,
    Timestamp(TimeParser),
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ambiguous {
    Earliest,
    Latest,
    Reject,
}

#[derive(Debug)]
enum TimeFormat {
    Rfc3339,
    UnixSeconds,
    UnixMillis,
    Pattern {
        pattern: &'static str,
        items: Vec<Item<'static>>,
        has_offset: bool,
    },
}

#[derive(Debug)]
struct TimeParser {
    format: TimeFormat,
    zone: Option<Tz>,
    ambiguous: Ambiguous,
}

#[derive(Debug)]
pub(super) struct CompiledValue {
    pub key: String,
    /// Where the value comes from, for row errors: "column `created`".
    origin: String,
    source: ValueSource,
    kind: Kind,
    empty: EmptyPolicy,
}

#[derive(Debug)]
pub(super) struct CompiledTimestamp {
    value: CompiledValue,
}

#[derive(Debug)]
pub(super) struct CompiledSkip {
    column: usize,
    equals: Vec<String>,
    prefix: Option<String>,
    suffix: Option<String>,
    contains: Option<String>,
    when_empty: bool,
}

pub(super) enum Rendered {
    Written,
    Omitted,
}

/// A value pulled out of a record, before type conversion.
enum Raw<'a> {
    Null,
    Empty,
    Text(&'a str),
}

impl CompileContext<'_> {
    fn error(&self, key: &str, reason: impl Into<String>) -> MappingError {
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

    fn time_parser(
        &self,
        key: &str,
        format: Option<&str>,
        timezone: Option<&str>,
        ambiguous: Option<&str>,
    ) -> Result<TimeParser, MappingError> {
        let format = match format.unwrap_or("rfc3339") {
            "rfc3339" | "iso8601" => TimeFormat::Rfc3339,
            "unix" | "unix_s" => TimeFormat::UnixSeconds,
            "unix_ms" => TimeFormat::UnixMillis,
            pattern => {
                // Leaked once per mapping key so the parsed items can be
                // 'static and reused for every row.
                let pattern: &'static str = Box::leak(pattern.to_string().into_boxed_str());
                let items: Vec<Item<'static>> = StrftimeItems::new(pattern).collect();
                if items.iter().any(|i| matches!(i, Item::Error)) {
                    return Err(self.error(
                        key,
                        format!("bad format string `{pattern}` (see chrono's strftime specifiers)"),
                    ));
                }
                let has_date = items.iter().any(|i| {
                    matches!(
                        i,
                        Item::Numeric(Numeric::Year | Numeric::Day | Numeric::Ordinal, _)
                            | Item::Fixed(Fixed::RFC2822 | Fixed::RFC3339)
                    )
                });
                if !has_date {
                    return Err(self.error(key, format!("format string `{pattern}` has no date (needs at least %Y and %d, or %s)")));
                }
                let has_offset = items.iter().any(|i| {
                    matches!(
                        i,
                        Item::Fixed(
                            Fixed::TimezoneOffset
                                | Fixed::TimezoneOffsetColon
                                | Fixed::TimezoneOffsetColonZ
                                | Fixed::TimezoneOffsetZ
                                | Fixed::RFC2822
                                | Fixed::RFC3339
                        )
                    )
                });
                // `%#z` (an offset whose minutes may be missing, as in
                // PostgreSQL's `+01`) parses to an internal item that the
                // match above cannot name.
                let has_offset = has_offset || pattern.contains("%#z");
                TimeFormat::Pattern {
                    pattern,
                    items,
                    has_offset,
                }
            }
        };
        let zone = match timezone {
            None | Some("UTC") | Some("utc") | Some("Z") => None,
            Some(name) => Some(name.parse::<Tz>().map_err(|_| {
                self.error(
                    key,
                    format!("unknown time zone `{name}` (use an IANA name such as Europe/Berlin)"),
                )
            })?),
        };
        let ambiguous = match ambiguous.unwrap_or("earliest") {
            "earliest" => Ambiguous::Earliest,
            "latest" => Ambiguous::Latest,
            "reject" => Ambiguous::Reject,
            other => {
                return Err(self.error(
                    key,
                    format!(
                        "unknown `ambiguous` policy `{other}`; expected earliest, latest or reject"
                    ),
                ))
            }
        };
        Ok(TimeParser {
            format,
            zone,
            ambiguous,
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

impl CompiledSkip {
    pub fn matches(&self, record: &dyn Fields) -> bool {
        let value = record.field(self.column).unwrap_or("");
        (self.when_empty && value.is_empty())
            || self.equals.iter().any(|e| e == value)
            || self.prefix.as_deref().is_some_and(|p| value.starts_with(p))
            || self.suffix.as_deref().is_some_and(|s| value.ends_with(s))
            || self.contains.as_deref().is_some_and(|c| value.contains(c))
    }
}

impl CompiledValue {
    fn fail(&self, reason: impl Into<String>) -> RowError {
        let mut reason = reason.into();
        if !self.origin.is_empty() {
            reason = format!("{reason} ({})", self.origin);
        }
        RowError {
            key: self.key.clone(),
            reason,
        }
    }

    /// Pulls the raw text out of the record. A template is null when any
    /// column it uses is null, and empty when any is empty: `{amount}/{currency}`
    /// with no amount is not a value worth keeping.
    fn raw<'a>(&'a self, record: &'a dyn Fields, scratch: &'a mut String) -> Raw<'a> {
        match &self.source {
            ValueSource::Const(c) if c.is_empty() => Raw::Empty,
            ValueSource::Const(c) => Raw::Text(c),
            ValueSource::Column(i) => match record.field(*i) {
                None => Raw::Null,
                Some("") => Raw::Empty,
                Some(v) => Raw::Text(v),
            },
            ValueSource::Template(parts) => {
                scratch.clear();
                let mut state = Raw::Text("");
                for part in parts {
                    match part {
                        Part::Literal(l) => scratch.push_str(l),
                        Part::Column(i) => match record.field(*i) {
                            None => state = Raw::Null,
                            Some("") => {
                                if !matches!(state, Raw::Null) {
                                    state = Raw::Empty
                                }
                            }
                            Some(v) => scratch.push_str(v),
                        },
                    }
                }
                match state {
                    Raw::Text(_) => Raw::Text(scratch.as_str()),
                    other => other,
                }
            }
        }
    }

    fn empty_reason(&self) -> String {
        match &self.source {
            ValueSource::Column(_) | ValueSource::Template(_) => {
                "empty value where one is required".to_string()
            }
            ValueSource::Const(_) => "the constant is empty".to_string(),
        }
    }

    /// A required string: empty is a row error.
    pub fn required_text(
        &self,
        record: &dyn Fields,
        scratch: &mut String,
    ) -> Result<String, RowError> {
        match self.raw(record, scratch) {
            Raw::Text(t) => Ok(t.to_string()),
            Raw::Null | Raw::Empty => Err(self.fail(self.empty_reason())),
        }
    }

    /// An optional string: empty follows the policy (omit by default).
    pub fn optional_text(
        &self,
        record: &dyn Fields,
        scratch: &mut String,
    ) -> Result<Option<String>, RowError> {
        match self.raw(record, scratch) {
            Raw::Text(t) => Ok(Some(t.to_string())),
            Raw::Null | Raw::Empty => match self.empty {
                EmptyPolicy::Reject => Err(self.fail(self.empty_reason())),
                _ => Ok(None),
            },
        }
    }

    /// Writes the value as JSON into `out`.
    pub fn render_json(
        &self,
        record: &dyn Fields,
        scratch: &mut String,
        out: &mut String,
    ) -> Result<Rendered, RowError> {
        let text = match self.raw(record, scratch) {
            Raw::Text(t) => t,
            raw @ (Raw::Null | Raw::Empty) => {
                return match self.empty {
                    EmptyPolicy::Omit => Ok(Rendered::Omitted),
                    EmptyPolicy::Null => {
                        out.push_str("null");
                        Ok(Rendered::Written)
                    }
                    EmptyPolicy::Reject => Err(self.fail(self.empty_reason())),
                    EmptyPolicy::Keep => {
                        if matches!(raw, Raw::Null) {
                            out.push_str("null");
                        } else if let ValueSource::Template(_) = self.source {
                            push_json_string(out, scratch);
                        } else {
                            out.push_str("\"\"");
                        }
                        Ok(Rendered::Written)
                    }
                };
            }
        };
        match &self.kind {
            Kind::String => push_json_string(out, text),
            Kind::Int => {
                let n: i64 = text
                    .trim()
                    .parse()
                    .map_err(|_| self.fail(format!("`{text}` is not an integer")))?;
                out.push_str(&n.to_string());
            }
            Kind::Decimal { scale } => {
                let d = crate::decimal::normalize(text, *scale).map_err(|r| self.fail(r))?;
                out.push('"');
                out.push_str(&d);
                out.push('"');
            }
            Kind::Bool => {
                let b = parse_bool(text).ok_or_else(|| {
                    self.fail(format!(
                        "`{text}` is not a boolean (true/false, yes/no, 1/0)"
                    ))
                })?;
                out.push_str(if b { "true" } else { "false" });
            }
            Kind::Timestamp(parser) => {
                let ms = parser.parse(text).map_err(|r| self.fail(r))?;
                out.push('"');
                out.push_str(&format_millis(ms));
                out.push('"');
            }
            Kind::Json => {
                let v: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| self.fail(format!("not valid JSON ({e})")))?;
                out.push_str(&canonical_json(&v));
            }
        }
        Ok(Rendered::Written)
    }
}

impl CompiledTimestamp {
    /// `Ok(None)` only for an optional timestamp that is empty.
    pub fn millis(&self, record: &dyn Fields) -> Result<Option<Millis>, RowError> {
        let mut scratch = String::new();
        let Kind::Timestamp(parser) = &self.value.kind else {
            unreachable!("compiled as a timestamp")
        };
        match self.value.raw(record, &mut scratch) {
            Raw::Text(t) => parser.parse(t).map(Some).map_err(|r| self.value.fail(r)),
            Raw::Null | Raw::Empty => match self.value.empty {
                EmptyPolicy::Reject => Err(self.value.fail(self.value.empty_reason())),
                _ => Ok(None),
            },
        }
    }
}

impl TimeParser {
    fn parse(&self, text: &str) -> Result<Millis, String> {
        self.parse_any(text).and_then(|ms| {
            crate::event::within_calendar(ms).map_err(|e| format!("`{}`: {e}", text.trim()))
        })
    }

    /// The instant `text` names, before the calendar range is checked.
    fn parse_any(&self, text: &str) -> Result<Millis, String> {
        let text = text.trim();
        let naive = match &self.format {
            TimeFormat::Rfc3339 => {
                return chrono::DateTime::parse_from_rfc3339(text)
                    .map(|t| t.timestamp_millis())
                    .map_err(|_| format!("`{text}` is not an RFC 3339 timestamp"))
            }
            TimeFormat::UnixSeconds => {
                let secs: f64 = text
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite())
                    .ok_or_else(|| format!("`{text}` is not a Unix time in seconds"))?;
                // Saturating: the calendar check refuses what is far out.
                return Ok((secs * 1000.0).round() as Millis);
            }
            TimeFormat::UnixMillis => {
                return text
                    .parse()
                    .map_err(|_| format!("`{text}` is not a Unix time in milliseconds"))
            }
            TimeFormat::Pattern {
                pattern,
                items,
                has_offset,
            } => {
                let mut parsed = Parsed::new();
                chrono::format::parse(&mut parsed, text, items.iter())
                    .map_err(|e| format!("`{text}` does not match the format `{pattern}`: {e}"))?;
                if *has_offset {
                    let t = parsed
                        .to_datetime()
                        .map_err(|e| format!("`{text}` is not a complete timestamp ({e})"))?;
                    return Ok(t.timestamp_millis());
                }
                let date = parsed
                    .to_naive_date()
                    .map_err(|e| format!("`{text}` is not a valid date ({e})"))?;
                let time = if parsed.hour_div_12.is_some() || parsed.hour_mod_12.is_some() {
                    parsed
                        .to_naive_time()
                        .map_err(|e| format!("`{text}` is not a valid time ({e})"))?
                } else {
                    NaiveTime::MIN
                };
                NaiveDateTime::new(date, time)
            }
        };
        let Some(zone) = self.zone else {
            return Ok(naive.and_utc().timestamp_millis());
        };
        match zone.from_local_datetime(&naive) {
            LocalResult::Single(t) => Ok(t.timestamp_millis()),
            LocalResult::Ambiguous(earliest, latest) => match self.ambiguous {
                Ambiguous::Earliest => Ok(earliest.timestamp_millis()),
                Ambiguous::Latest => Ok(latest.timestamp_millis()),
                Ambiguous::Reject => Err(format!(
                    "`{text}` is ambiguous in {zone} (the clock went back; it is {} or {})",
                    format_millis(earliest.timestamp_millis()),
                    format_millis(latest.timestamp_millis())
                )),
            },
            LocalResult::None => Err(format!(
                "`{text}` does not exist in {zone}: it falls in the daylight-saving gap"
            )),
        }
    }
}

pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berlin_dst_gap_and_overlap() {
        let parser = |amb| TimeParser {
            format: TimeFormat::Pattern {
                pattern: "%Y-%m-%d %H:%M:%S",
                items: StrftimeItems::new("%Y-%m-%d %H:%M:%S").collect(),
                has_offset: false,
            },
            zone: Some(chrono_tz::Europe::Berlin),
            ambiguous: amb,
        };
        // 2021-03-28 02:30 does not exist in Berlin.
        assert!(parser(Ambiguous::Earliest)
            .parse("2021-03-28 02:30:00")
            .unwrap_err()
            .contains("gap"));
        // 2021-10-31 02:30 happens twice: 00:30Z (CEST) and 01:30Z (CET).
        let early = parser(Ambiguous::Earliest)
            .parse("2021-10-31 02:30:00")
            .unwrap();
        assert_eq!(format_millis(early), "2021-10-31T00:30:00.000Z");
        let late = parser(Ambiguous::Latest)
            .parse("2021-10-31 02:30:00")
            .unwrap();
        assert_eq!(format_millis(late), "2021-10-31T01:30:00.000Z");
        assert!(parser(Ambiguous::Reject)
            .parse("2021-10-31 02:30:00")
            .is_err());
        let winter = parser(Ambiguous::Earliest)
            .parse("2016-01-01 13:00:00")
            .unwrap();
        assert_eq!(format_millis(winter), "2016-01-01T12:00:00.000Z");
    }
}
