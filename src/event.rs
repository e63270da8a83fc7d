//! The canonical event: its fields, its JSON form, what counts as its
//! *content* for duplicate/conflict decisions, and the deterministic id
//! formula that other tools can reproduce.
//!
//! Timestamps are kept as milliseconds since the Unix epoch (UTC) because
//! every store and the archive compare and order them; the RFC 3339 text form
//! exists only at the edges (JSON in and out).

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

/// One stored fact. `received_at` is `None` until a store assigns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub service: String,
    pub event_type: String,
    pub created_at: Millis,
    pub received_at: Option<Millis>,
    pub aggregate_id: Option<String>,
    pub correlation_id: Option<String>,
    /// The payload object serialised as canonical JSON (keys sorted, no
    /// whitespace). Kept as text so that stores and the archive never pay for
    /// re-serialising it.
    pub payload: String,
}

/// An event borrowed from where it is held: an [`Event`] ([`Event::view`])
/// or a row of a decoded archive batch, which the archive's readers hand
/// out without copying its text into an owned event (a rebuild's readers
/// would otherwise allocate and copy every row's strings, only for the
/// projection to read a field or two and drop them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventRef<'a> {
    pub id: Uuid,
    pub service: &'a str,
    pub event_type: &'a str,
    pub created_at: Millis,
    pub received_at: Option<Millis>,
    pub aggregate_id: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub payload: &'a str,
}

impl EventRef<'_> {
    pub fn to_event(&self) -> Event {
        Event {
            id: self.id,
            service: self.service.to_string(),
            event_type: self.event_type.to_string(),
            created_at: self.created_at,
            received_at: self.received_at,
            aggregate_id: self.aggregate_id.map(str::to_string),
            correlation_id: self.correlation_id.map(str::to_string),
            payload: self.payload.to_string(),
        }
    }

    /// Writes the canonical JSON line (without the newline) in the documented
    /// key order `id`, `meta`, `payload`; meta keys in schema order. Written by
    /// hand because this is the hot path of `export` and `exec` projections.
    pub fn write_json_line(&self, out: &mut String) {
        out.push_str("{\"id\":\"");
        out.push_str(&self.id.hyphenated().to_string());
        out.push_str("\",\"meta\":{\"service\":");
        push_json_string(out, self.service);
        out.push_str(",\"type\":");
        push_json_string(out, self.event_type);
        out.push_str(",\"created_at\":\"");
        out.push_str(&format_millis(self.created_at));
        out.push('"');
        if let Some(r) = self.received_at {
            out.push_str(",\"received_at\":\"");
            out.push_str(&format_millis(r));
            out.push('"');
        }
        if let Some(a) = self.aggregate_id {
            out.push_str(",\"aggregate_id\":");
            push_json_string(out, a);
        }
        if let Some(c) = self.correlation_id {
            out.push_str(",\"correlation_id\":");
            push_json_string(out, c);
        }
        out.push_str("},\"payload\":");
        out.push_str(self.payload);
        out.push('}');
    }
}

/// Why a JSON document is not a canonical event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct EventError {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> EventError {
    EventError {
        field,
        reason: reason.into(),
    }
}

/// The namespace of deterministic ids: `uuid5(NAMESPACE_URL, "chronicle:" + service + ":" + key)`.
pub fn deterministic_id(service: &str, key: &str) -> Uuid {
    let mut name = String::with_capacity(11 + service.len() + key.len());
    name.push_str("chronicle:");
    name.push_str(service);
    name.push(':');
    name.push_str(key);
    Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes())
}

/// Formats milliseconds as `2016-01-01T12:00:00.000Z`.
pub fn format_millis(ms: Millis) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => format!("invalid-timestamp({ms})"),
    }
}

/// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the instants
/// that RFC 3339's four-digit years can write, so the only ones a canonical
/// event may carry (anything else could not be exported and read back).
pub const MIN_MILLIS: Millis = -62_167_219_200_000;
pub const MAX_MILLIS: Millis = 253_402_300_799_999;

/// `ms` when it lies in the years 0000–9999, else why not.
pub fn within_calendar(ms: Millis) -> Result<Millis, String> {
    if (MIN_MILLIS..=MAX_MILLIS).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!(
            "the instant lies outside the years 0000-9999 ({ms} ms from the Unix epoch)"
        ))
    }
}

/// Parses an RFC 3339 timestamp with any offset; sub-millisecond digits are
/// truncated because the canonical precision is milliseconds.
pub fn parse_rfc3339_millis(text: &str) -> Result<Millis, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("`{text}` is not an RFC 3339 timestamp ({e})"))
        .and_then(|ms| within_calendar(ms).map_err(|e| format!("`{text}`: {e}")))
}

/// Parses a user-supplied time bound: RFC 3339, a bare date (`2016-01-01`,
/// meaning midnight UTC) or a date and time without offset (taken as UTC).
pub fn parse_time_bound(text: &str) -> Result<Millis, String> {
    if let Ok(ms) = parse_rfc3339_millis(text) {
        return Ok(ms);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, fmt) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    Err(format!(
        "`{text}` is not a timestamp (expected RFC 3339 such as 2016-01-01T12:00:00Z, or a date such as 2016-01-01)"
    ))
}

/// Current wall-clock time in milliseconds.
pub fn now_millis() -> Millis {
    Utc::now().timestamp_millis()
}

/// Serialises a JSON value canonically: object keys sorted (serde_json's
/// default map is ordered), no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    serde_json::to_string(value).expect("JSON values always serialise")
}

/// The content hash of an event: the first 16 bytes of the SHA-256 of its
/// content (everything except `received_at`, see [`Event::same_content`]).
/// Stores keep it for each archived id, so that an incoming event is told
/// apart as a duplicate or a conflict of the archived version without
/// reading the archive. 128 bits: two different contents share a hash only
/// by breaking SHA-256, so a match is as good as a comparison.
pub type ContentHash = [u8; 16];

/// The content hash of an event given field by field (the archive hashes
/// Parquet rows without building events). The encoding is documented in
/// docs/archive.md so that other tools can reproduce it: the 16 id bytes,
/// `created_at` as 8 bytes little-endian, then service, type, aggregate_id,
/// correlation_id and payload, each as a tag byte (0 absent, 1 present) and,
/// when present, its UTF-8 length as 8 bytes little-endian and its bytes.
#[allow(clippy::too_many_arguments)]
pub fn content_hash_of(
    id: &Uuid,
    service: &str,
    event_type: &str,
    created_at: Millis,
    aggregate_id: Option<&str>,
    correlation_id: Option<&str>,
    payload: &str,
) -> ContentHash {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    h.update(created_at.to_le_bytes());
    for field in [
        Some(service),
        Some(event_type),
        aggregate_id,
        correlation_id,
        Some(payload),
    ] {
        match field {
            None => h.update([0u8]),
            Some(text) => {
                h.update([1u8]);
                h.update((text.len() as u64).to_le_bytes());
                h.update(text.as_bytes());
            }
        }
    }
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

impl Event {
    /// True when both events have the same content: everything except
    /// `received_at`, which the store assigns.
    pub fn same_content(&self, other: &Event) -> bool {
        self.id == other.id
            && self.service == other.service
            && self.event_type == other.event_type
            && self.created_at == other.created_at
            && self.aggregate_id == other.aggregate_id
            && self.correlation_id == other.correlation_id
            && self.payload == other.payload
    }

    /// See [`ContentHash`].
    pub fn content_hash(&self) -> ContentHash {
        content_hash_of(
            &self.id,
            &self.service,
            &self.event_type,
            self.created_at,
            self.aggregate_id.as_deref(),
            self.correlation_id.as_deref(),
            &self.payload,
        )
    }

    /// The canonical JSON document. `received_at` is omitted while unset.
    pub fn to_json_value(&self) -> Value {
        let mut meta = Map::new();
        meta.insert("service".into(), Value::String(self.service.clone()));
        meta.insert("type".into(), Value::String(self.event_type.clone()));
        meta.insert(
            "created_at".into(),
            Value::String(format_millis(self.created_at)),
        );
        if let Some(r) = self.received_at {
            meta.insert("received_at".into(), Value::String(format_millis(r)));
        }
        if let Some(a) = &self.aggregate_id {
            meta.insert("aggregate_id".into(), Value::String(a.clone()));
        }
        if let Some(c) = &self.correlation_id {
            meta.insert("correlation_id".into(), Value::String(c.clone()));
        }
        let payload: Value =
            serde_json::from_str(&self.payload).unwrap_or(Value::Object(Map::new()));
        let mut doc = Map::new();
        doc.insert("id".into(), Value::String(self.id.hyphenated().to_string()));
        doc.insert("meta".into(), Value::Object(meta));
        doc.insert("payload".into(), payload);
        Value::Object(doc)
    }

    /// Writes the canonical JSON line (without the newline); see
    /// [`EventRef::write_json_line`].
    pub fn write_json_line(&self, out: &mut String) {
        self.view().write_json_line(out)
    }

    /// The event borrowed: what projections and the archive's checks read.
    pub fn view(&self) -> EventRef<'_> {
        EventRef {
            id: self.id,
            service: &self.service,
            event_type: &self.event_type,
            created_at: self.created_at,
            received_at: self.received_at,
            aggregate_id: self.aggregate_id.as_deref(),
            correlation_id: self.correlation_id.as_deref(),
            payload: &self.payload,
        }
    }

    pub fn to_json_line(&self) -> String {
        let mut s = String::with_capacity(256 + self.payload.len());
        self.write_json_line(&mut s);
        s
    }

    /// Parses a canonical event document, validating every rule of
    /// docs/schema.md.
    pub fn from_json_value(doc: &Value) -> Result<Event, EventError> {
        let obj = doc
            .as_object()
            .ok_or_else(|| invalid("event", "is not a JSON object"))?;
        let id = match obj.get("id") {
            Some(Value::String(s)) => Uuid::parse_str(s)
                .map_err(|e| invalid("id", format!("`{s}` is not a UUID ({e})")))?,
            Some(_) => return Err(invalid("id", "must be a string")),
            None => return Err(invalid("id", "is missing")),
        };
        let meta = match obj.get("meta") {
            Some(Value::Object(m)) => m,
            Some(_) => return Err(invalid("meta", "must be an object")),
            None => return Err(invalid("meta", "is missing")),
        };
        // Nothing is silently dropped: a key the schema does not know would
        // not survive storage, so the event is rejected instead.
        if let Some(key) = obj
            .keys()
            .find(|k| !["id", "meta", "payload"].contains(&k.as_str()))
        {
            return Err(invalid(
                "event",
                format!("unknown key `{key}` (expected id, meta, payload)"),
            ));
        }
        const META_KEYS: [&str; 6] = [
            "service",
            "type",
            "created_at",
            "received_at",
            "aggregate_id",
            "correlation_id",
        ];
        if let Some(key) = meta.keys().find(|k| !META_KEYS.contains(&k.as_str())) {
            return Err(invalid(
                "meta",
                format!("unknown key `{key}` (expected {})", META_KEYS.join(", ")),
            ));
        }
        let service = required_string(meta, "service", "meta.service")?;
        let event_type = required_string(meta, "type", "meta.type")?;
        let created_at = match meta.get("created_at") {
            Some(Value::String(s)) => {
                parse_rfc3339_millis(s).map_err(|e| invalid("meta.created_at", e))?
            }
            Some(_) => return Err(invalid("meta.created_at", "must be an RFC 3339 string")),
            None => return Err(invalid("meta.created_at", "is missing")),
        };
        let received_at = match meta.get("received_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                Some(parse_rfc3339_millis(s).map_err(|e| invalid("meta.received_at", e))?)
            }
            Some(_) => return Err(invalid("meta.received_at", "must be an RFC 3339 string")),
        };
        let aggregate_id = optional_string(meta, "aggregate_id", "meta.aggregate_id")?;
        let correlation_id = optional_string(meta, "correlation_id", "meta.correlation_id")?;
        let payload = match obj.get("payload") {
            Some(v @ Value::Object(_)) => canonical_json(v),
            Some(_) => return Err(invalid("payload", "must be a JSON object")),
            None => return Err(invalid("payload", "is missing")),
        };
        Ok(Event {
            id,
            service,
            event_type,
            created_at,
            received_at,
            aggregate_id,
            correlation_id,
            payload,
        })
    }

    pub fn from_json_str(text: &str) -> Result<Event, EventError> {
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| invalid("event", format!("is not valid JSON ({e})")))?;
        Event::from_json_value(&doc)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json_line())
    }
}

fn required_string(
    meta: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<String, EventError> {
    match meta.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(invalid(field, "must not be empty")),
        Some(_) => Err(invalid(field, "must be a string")),
        None => Err(invalid(field, "is missing")),
    }
}

fn optional_string(
    meta: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<String>, EventError> {
    match meta.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// Appends `s` as a JSON string literal, escaped exactly as serde_json
/// escapes it, so hand-written and serde-written payloads compare equal.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_id_matches_formula() {
        let expected = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"chronicle:core:p-1");
        assert_eq!(deterministic_id("core", "p-1"), expected);
    }

    #[test]
    fn json_line_round_trips_and_matches_serde() {
        let doc = serde_json::json!({"id": "20EC0521-D127-4038-92ED-A4196C33705B",
            "meta": {"service": "core", "type": "payment-completed",
                     "created_at": "2016-01-01T13:00:00+01:00", "received_at": "2016-01-01T12:00:00.2Z",
                     "aggregate_id": "payment/23", "correlation_id": "a\"b\n\u{1}"},
            "payload": {"z": 1, "amount": "3.0000/EUR"}});
        let ev = Event::from_json_value(&doc).unwrap();
        assert_eq!(ev.id.to_string(), "20ec0521-d127-4038-92ed-a4196c33705b");
        assert_eq!(format_millis(ev.created_at), "2016-01-01T12:00:00.000Z");
        let line = ev.to_json_line();
        let reparsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(reparsed, ev.to_json_value());
        assert_eq!(Event::from_json_str(&line).unwrap(), ev);
        assert!(line.contains("\"payload\":{\"amount\":\"3.0000/EUR\",\"z\":1}"));
    }

    #[test]
    fn rejects_empty_type_and_non_object_payload() {
        let bad = serde_json::json!({"id": "20ec0521-d127-4038-92ed-a4196c33705b",
            "meta": {"service": "core", "type": "", "created_at": "2016-01-01T12:00:00Z"}, "payload": {}});
        assert_eq!(Event::from_json_value(&bad).unwrap_err().field, "meta.type");
        let bad = serde_json::json!({"id": "20ec0521-d127-4038-92ed-a4196c33705b",
            "meta": {"service": "core", "type": "x", "created_at": "2016-01-01T12:00:00Z"}, "payload": []});
        assert_eq!(Event::from_json_value(&bad).unwrap_err().field, "payload");
    }
}
