//! The stored form of an event in MongoDB and back (layout in
//! docs/stores.md): `_id` is the id as hyphenated text, `meta` holds the
//! envelope with BSON dates, `payload` is an embedded document converted
//! from the canonical JSON text so that reading it back (through the one
//! raw-BSON → JSON conversion, `crate::bson_json`, with its payload rules)
//! gives the same bytes. Also the small records beside the events
//! (archived ids, `$group` counts), so that every BSON shape the store
//! writes is defined here.

use anyhow::{anyhow, bail, Context};
use mongodb::bson::raw::{cstr, CStr};
use mongodb::bson::{doc, spec::BinarySubtype, Bson, DateTime, Document, RawBson};
use mongodb::bson::{RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf};
use serde_json::{Map, Number, Value};
use uuid::Uuid;

use super::super::ArchivedId;
use crate::bson_json::{document_to_json, Rules};
use crate::decimal::decimal128_from_u64;
use crate::event::{canonical_json, Event, Millis};

pub(super) fn id_text(id: &Uuid) -> String {
    id.hyphenated().to_string()
}

pub(super) fn archived_to_doc(r: &ArchivedId) -> Document {
    doc! {
        "_id": id_text(&r.id),
        "h": mongodb::bson::Binary { subtype: BinarySubtype::Generic, bytes: r.hash.to_vec() },
        "p": r.partition.as_str(),
    }
}

pub(super) fn archived_from_doc(d: &Document) -> anyhow::Result<ArchivedId> {
    let text = d.get_str("_id").unwrap_or("?");
    let bad = || anyhow!("archived-id record `{text}` is damaged (expected _id, h: 16 bytes, p)");
    Ok(ArchivedId {
        id: Uuid::parse_str(text).map_err(|_| bad())?,
        hash: d
            .get_binary_generic("h")
            .ok()
            .and_then(|h| h.as_slice().try_into().ok())
            .ok_or_else(bad)?,
        partition: d.get_str("p").map_err(|_| bad())?.to_string(),
    })
}

pub(super) fn doc_id(d: &RawDocument) -> anyhow::Result<Uuid> {
    let text = d
        .get_str("_id")
        .map_err(|_| anyhow!("a stored document has an _id that is not an event id text"))?;
    Uuid::parse_str(text).map_err(|_| anyhow!("stored document _id `{text}` is not a UUID"))
}

/// The stored document of an event (layout in docs/stores.md).
pub fn event_to_doc(event: &Event, now: Millis, write_id: i64) -> anyhow::Result<RawDocumentBuf> {
    let mut meta = RawDocumentBuf::new();
    meta.append(cstr!("service"), event.service.as_str());
    meta.append(cstr!("type"), event.event_type.as_str());
    meta.append(cstr!("created_at"), DateTime::from_millis(event.created_at));
    meta.append(
        cstr!("received_at"),
        DateTime::from_millis(event.received_at.unwrap_or(now)),
    );
    if let Some(a) = &event.aggregate_id {
        meta.append(cstr!("aggregate_id"), a.as_str());
    }
    if let Some(c) = &event.correlation_id {
        meta.append(cstr!("correlation_id"), c.as_str());
    }
    let payload: Value = serde_json::from_str(&event.payload)
        .with_context(|| format!("event {}: payload is not JSON", event.id))?;
    let Value::Object(map) = &payload else {
        bail!("event {}: payload is not a JSON object", event.id);
    };
    let payload = json_object_to_bson(map).with_context(|| format!("event {}", event.id))?;
    let mut d = RawDocumentBuf::new();
    d.append(cstr!("_id"), id_text(&event.id));
    d.append(cstr!("meta"), meta);
    d.append(cstr!("payload"), payload);
    d.append(cstr!("write_id"), write_id);
    Ok(d)
}

/// Converts a JSON object to BSON so that [`document_to_json`] gives back the
/// same canonical text: integers that fit are Int32/Int64, integers above
/// i64::MAX are exact Decimal128 integers, other numbers are doubles (the
/// f64 serde_json parsed, so printing it again gives the same digits).
fn json_object_to_bson(map: &Map<String, Value>) -> anyhow::Result<RawDocumentBuf> {
    let mut d = RawDocumentBuf::new();
    for (key, value) in map {
        let key: &CStr = key.as_str().try_into().map_err(|_| {
            anyhow!("payload key {key:?} contains a NUL character, which BSON cannot store")
        })?;
        match value {
            Value::Null => d.append(key, RawBson::Null),
            Value::Bool(b) => d.append(key, *b),
            Value::Number(n) => d.append(key, number_to_bson(n)),
            Value::String(s) => d.append(key, s.as_str()),
            Value::Array(items) => d.append(key, json_array_to_bson(items)?),
            Value::Object(map) => d.append(key, json_object_to_bson(map)?),
        }
    }
    Ok(d)
}

fn json_array_to_bson(items: &[Value]) -> anyhow::Result<RawArrayBuf> {
    let mut a = RawArrayBuf::new();
    for item in items {
        match item {
            Value::Null => a.push(RawBson::Null),
            Value::Bool(b) => a.push(*b),
            Value::Number(n) => a.push(number_to_bson(n)),
            Value::String(s) => a.push(s.as_str()),
            Value::Array(inner) => a.push(json_array_to_bson(inner)?),
            Value::Object(map) => a.push(json_object_to_bson(map)?),
        }
    }
    Ok(a)
}

fn number_to_bson(n: &Number) -> RawBson {
    if let Some(i) = n.as_i64() {
        match i32::try_from(i) {
            Ok(small) => RawBson::Int32(small),
            Err(_) => RawBson::Int64(i),
        }
    } else if let Some(u) = n.as_u64() {
        RawBson::Decimal128(decimal128_from_u64(u))
    } else {
        RawBson::Double(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Reads a stored document back into an event, payload as canonical JSON.
pub fn doc_to_event(d: &RawDocument) -> anyhow::Result<Event> {
    let id = doc_id(d)?;
    let bad = |what: &str| anyhow!("stored event {id}: {what}");
    let meta = d.get_document("meta").map_err(|_| bad("meta is missing"))?;
    let text = |key: &str| -> anyhow::Result<String> {
        meta.get_str(key)
            .map(str::to_string)
            .map_err(|_| bad(&format!("meta.{key} is not a string")))
    };
    let optional = |key: &str| -> anyhow::Result<Option<String>> {
        match meta.get(key)? {
            None | Some(RawBsonRef::Null) => Ok(None),
            Some(RawBsonRef::String(s)) => Ok(Some(s.to_string())),
            Some(_) => Err(bad(&format!("meta.{key} is not a string"))),
        }
    };
    let date = |key: &str| -> anyhow::Result<Millis> {
        meta.get_datetime(key)
            .map(|t| t.timestamp_millis())
            .map_err(|_| bad(&format!("meta.{key} is not a date")))
    };
    let payload = d
        .get_document("payload")
        .map_err(|_| bad("payload is not a document"))?;
    // The one raw-BSON -> JSON conversion (src/bson_json.rs), with the
    // rules for payloads chronicle wrote.
    let payload = document_to_json(payload, Rules::Payload)
        .map_err(|e| anyhow!("payload field {} {}", e.dotted_path("payload"), e.reason))?;
    let payload = Value::Object(payload);
    Ok(Event {
        id,
        service: text("service")?,
        event_type: text("type")?,
        created_at: date("created_at")?,
        received_at: Some(date("received_at")?),
        aggregate_id: optional("aggregate_id")?,
        correlation_id: optional("correlation_id")?,
        payload: canonical_json(&payload),
    })
}

/// A `$sum` from a `$group` stage: the server answers with whichever
/// numeric type fits, so every one is read.
pub(super) fn group_count(row: &Document, key: &str, what: &str) -> anyhow::Result<u64> {
    Ok(match row.get(key) {
        Some(Bson::Int32(n)) => *n as u64,
        Some(Bson::Int64(n)) => *n as u64,
        Some(Bson::Double(n)) => *n as u64,
        _ => bail!("{what}: unexpected count in {row}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(payload: &str) -> String {
        let value: Value = serde_json::from_str(payload).unwrap();
        let canonical = canonical_json(&value);
        let Value::Object(map) = value else { panic!() };
        let bson = json_object_to_bson(&map).unwrap();
        let back = canonical_json(&Value::Object(
            document_to_json(&bson, Rules::Payload).unwrap(),
        ));
        assert_eq!(back, canonical, "round trip of {payload}");
        back
    }

    #[test]
    fn payload_round_trips_byte_for_byte() {
        round_trip(
            r#"{"a":1,"b":-1,"c":2147483648,"d":-9223372036854775808,"e":9223372036854775807}"#,
        );
        round_trip(r#"{"u":18446744073709551615,"v":9223372036854775808}"#);
        round_trip(r#"{"f":1.0,"g":0.1,"h":-0.0,"i":1e300,"j":2.5e-308,"k":123456789.123456789}"#);
        round_trip(
            r#"{"s":"x\u0000y\n\"é😀","n":null,"t":true,"arr":[1,2.5,"x",[],{}],"o":{"z":1,"a":{"b":[null]}}}"#,
        );
        round_trip(r#"{"$weird":1,"a.b":2,"":3}"#);
        assert_eq!(round_trip(r#"{"b":1,"a":2}"#), r#"{"a":2,"b":1}"#);
    }

    #[test]
    fn nul_in_key_is_an_error_not_a_panic() {
        let value: Value = serde_json::from_str(r#"{"a\u0000b":1}"#).unwrap();
        let Value::Object(map) = value else { panic!() };
        assert!(json_object_to_bson(&map).is_err());
    }

    #[test]
    fn event_documents_round_trip() {
        let event = Event::from_json_str(
            r#"{"id":"20ec0521-d127-4038-92ed-a4196c33705b","meta":{"service":"core","type":"t","created_at":"2016-01-01T12:00:00.123Z","aggregate_id":"a/1"},"payload":{"x":[1,{"y":2.5}]}}"#,
        )
        .unwrap();
        let d = event_to_doc(&event, 1_000, 7).unwrap();
        let back = doc_to_event(&d).unwrap();
        assert_eq!(back.received_at, Some(1_000));
        assert!(back.same_content(&event));
    }
}
