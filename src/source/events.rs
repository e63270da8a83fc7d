//! Canonical events as JSON lines: the output of `chronicle export`, and the
//! way a store is moved to another. Each line is validated against the
//! schema; a bad line is rejected with its line number and the import goes on.
//! A line that repeats a key in any object (two `"id"`, two `meta.type`) is
//! rejected naming the key: JSON parsers disagree on which value wins, so
//! neither is taken.

use std::fmt;
use std::io::BufRead;
use std::path::Path;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{open_input, EventSource, InputMeter, Item, RawRecord, Reject};
use crate::event::Event;

pub struct JsonLinesSource {
    reader: Box<dyn BufRead + Send>,
    line: u64,
    buffer: Vec<u8>,
}

impl JsonLinesSource {
    pub fn open(path: &Path) -> anyhow::Result<(JsonLinesSource, InputMeter, Option<u64>)> {
        let input = open_input(path)?;
        Ok((
            JsonLinesSource {
                reader: input.reader,
                line: 0,
                buffer: Vec::new(),
            },
            input.meter,
            input.size,
        ))
    }
}

impl EventSource for JsonLinesSource {
    fn next_item(&mut self) -> anyhow::Result<Option<Item>> {
        loop {
            self.buffer.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buffer)
                .map_err(|e| anyhow::anyhow!("cannot read line {}: {e}", self.line + 1))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let mut end = self.buffer.len();
            while end > 0 && matches!(self.buffer[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            let line = self.line;
            let reject = |reason: String, raw: &[u8]| {
                Some(Item::Rejected(Reject {
                    line,
                    reason,
                    raw: RawRecord::Text(raw.to_vec()),
                }))
            };
            let bytes = &self.buffer[..end];
            let text = match std::str::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let reason = format!("not valid UTF-8 at byte {} of the line", e.valid_up_to());
                    return Ok(reject(reason, bytes));
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            let doc = match parse_without_duplicates(text) {
                Ok(doc) => doc,
                Err(reason) => return Ok(reject(reason, bytes)),
            };
            return Ok(match Event::from_json_value(&doc) {
                Ok(event) => Some(Item::Event { event, line }),
                Err(e) => reject(e.to_string(), bytes),
            });
        }
    }
}

/// Parses one JSON text into a value, refusing a key that appears twice in
/// the same object. The error names the key by its dotted path.
fn parse_without_duplicates(text: &str) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Checked {
        parent: None,
        segment: Segment::Root,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    value.map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix(DUPLICATE) {
            // Our own message, with serde_json's position appended.
            Some(rest) => {
                let key = rest.rsplit_once(" at line ").map_or(rest, |(k, _)| k);
                format!(
                    "the key `{key}` appears twice (column {}); the line is rejected rather than one of its values silently chosen",
                    e.column()
                )
            }
            None => format!("event: is not valid JSON ({text})"),
        }
    })
}

const DUPLICATE: &str = "duplicate key: ";

/// Builds a `Value` like serde_json does, but fails on a repeated key.
/// The path to the value is kept as links to the parents, and spelled out
/// only for the error, so a clean line costs no extra allocation.
#[derive(Clone, Copy)]
struct Checked<'p> {
    parent: Option<&'p Checked<'p>>,
    segment: Segment<'p>,
}

#[derive(Clone, Copy)]
enum Segment<'p> {
    Root,
    Key(&'p str),
    Index(usize),
}

impl Checked<'_> {
    fn path(&self, out: &mut String) {
        if let Some(parent) = self.parent {
            parent.path(out);
        }
        let text = match self.segment {
            Segment::Root => return,
            Segment::Key(k) => k.to_string(),
            Segment::Index(i) => i.to_string(),
        };
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&text);
    }
}

impl<'de> DeserializeSeed<'de> for Checked<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let child = Checked {
                parent: Some(&self),
                segment: Segment::Index(items.len()),
            };
            match seq.next_element_seed(child)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = Checked {
                parent: Some(&self),
                segment: Segment::Key(&key),
            };
            let value = map.next_value_seed(child)?;
            if out.contains_key(&key) {
                let mut path = String::new();
                child.path(&mut path);
                return Err(serde::de::Error::custom(format!("{DUPLICATE}{path}")));
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}
