//! Evaluating compiled values against one record: the per-row hot path.
//! A value is pulled out of the record as text, then converted to its type
//! and written as JSON; empty values follow their policy.

use super::{
    CompiledSkip, CompiledTimestamp, CompiledValue, EmptyPolicy, Kind, Part, Raw, Rendered,
    ValueSource,
};
use crate::event::{canonical_json, format_millis, push_json_string, Millis};
use crate::mapping::{Fields, RowError};

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

pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}
