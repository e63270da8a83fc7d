//! The JSON field scanner of projections: finds a field in payload text
//! without parsing it. The first line is the dotted path, the rest the text.
//! On valid JSON the scanner must agree with serde_json.
#![no_main]

use chronicle::projection::json::{lookup, Raw};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, json) = text.split_once('\n').unwrap_or(("", text));
    let path: Vec<String> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('.').map(str::to_string).collect()
    };
    let found = lookup(json, &path);
    // Cross-check against a full parse when the text is canonical JSON, as
    // stored payloads are (sorted keys, no duplicates, no whitespace).
    let Ok(doc) = serde_json::from_str::<Value>(json) else {
        return;
    };
    if serde_json::to_string(&doc).ok().as_deref() != Some(json) {
        return;
    }
    let mut expected = Some(&doc);
    for key in &path {
        expected = expected
            .and_then(|v| v.as_object())
            .and_then(|o| o.get(key));
    }
    let found = found.unwrap_or_else(|e| panic!("valid JSON rejected: {e}"));
    match (expected, found) {
        (None, None) => {}
        (Some(Value::Null), Some(Raw::Null)) => {}
        (Some(Value::String(v)), Some(Raw::Str(s))) => assert_eq!(v.as_str(), &*s),
        (Some(v), Some(Raw::Other(raw))) if !v.is_null() && !v.is_string() => {
            let parsed: Value = serde_json::from_str(raw)
                .unwrap_or_else(|e| panic!("scanner returned invalid JSON `{raw}`: {e}"));
            assert_eq!(&parsed, v, "scanner value differs");
        }
        (e, f) => panic!("scanner disagrees with serde_json: {e:?} vs {f:?}"),
    }
});
