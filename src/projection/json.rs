//! Reads one field out of a payload's JSON text without building a
//! `serde_json::Value`: the fold of a projection needs one or two fields per
//! event, and materialising the whole payload would cost more than the rest
//! of the fold together. The scanner walks the text, skipping the values it
//! does not need; a malformed payload yields an error rather than a guess.

use std::borrow::Cow;

/// A JSON value found in the text, borrowed where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw<'a> {
    Null,
    /// A string, unescaped.
    Str(Cow<'a, str>),
    /// A number, boolean, object or array: its JSON text.
    Other(&'a str),
}

/// Finds the value at `path` (object keys, outermost first). `Ok(None)` when
/// any step is missing or not an object.
pub fn lookup<'a>(text: &'a str, path: &[String]) -> Result<Option<Raw<'a>>, String> {
    let bytes = text.as_bytes();
    let mut pos = skip_ws(bytes, 0);
    let mut start = pos;
    for key in path {
        if bytes.get(pos) != Some(&b'{') {
            return Ok(None);
        }
        match find_key(bytes, pos, key)? {
            Some(value_start) => {
                pos = value_start;
                start = value_start;
            }
            None => return Ok(None),
        }
    }
    let end = skip_value(bytes, start)?;
    let raw = &text[start..end];
    Ok(Some(match bytes[start] {
        b'n' => Raw::Null,
        b'"' => Raw::Str(unescape(&raw[1..raw.len() - 1])?),
        _ => Raw::Other(raw),
    }))
}

fn err(at: usize, what: &str) -> String {
    format!("payload is not valid JSON at byte {at}: {what}")
}

fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\n' | b'\r' | b'\t') {
        pos += 1;
    }
    pos
}

/// `pos` is at `{`; returns the start of the value of `key`.
fn find_key(bytes: &[u8], pos: usize, key: &str) -> Result<Option<usize>, String> {
    let mut pos = skip_ws(bytes, pos + 1);
    if bytes.get(pos) == Some(&b'}') {
        return Ok(None);
    }
    loop {
        if bytes.get(pos) != Some(&b'"') {
            return Err(err(pos, "expected a key"));
        }
        let key_end = skip_string(bytes, pos)?;
        let raw_key = &bytes[pos + 1..key_end - 1];
        let matches = if raw_key.contains(&b'\\') {
            let text = std::str::from_utf8(raw_key).map_err(|_| err(pos, "invalid UTF-8"))?;
            unescape(text)? == key
        } else {
            raw_key == key.as_bytes()
        };
        pos = skip_ws(bytes, key_end);
        if bytes.get(pos) != Some(&b':') {
            return Err(err(pos, "expected `:`"));
        }
        pos = skip_ws(bytes, pos + 1);
        if matches {
            return Ok(Some(pos));
        }
        pos = skip_ws(bytes, skip_value(bytes, pos)?);
        match bytes.get(pos) {
            Some(b',') => pos = skip_ws(bytes, pos + 1),
            Some(b'}') => return Ok(None),
            _ => return Err(err(pos, "expected `,` or `}`")),
        }
    }
}

/// `pos` is at `"`; returns the position after the closing quote.
fn skip_string(bytes: &[u8], pos: usize) -> Result<usize, String> {
    let mut i = pos + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Ok(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Err(err(pos, "unterminated string"))
}

/// Returns the position after the value starting at `pos`.
fn skip_value(bytes: &[u8], pos: usize) -> Result<usize, String> {
    match bytes.get(pos) {
        Some(b'"') => skip_string(bytes, pos),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut i = pos;
            while i < bytes.len() {
                match bytes[i] {
                    b'"' => {
                        i = skip_string(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            Err(err(pos, "unterminated object or array"))
        }
        Some(_) => {
            let mut i = pos;
            while i < bytes.len() && !matches!(bytes[i], b',' | b'}' | b']' | b' ' | b'\n') {
                i += 1;
            }
            if i == pos {
                return Err(err(pos, "expected a value"));
            }
            Ok(i)
        }
        None => Err(err(pos, "unexpected end")),
    }
}

/// Unescapes the inside of a JSON string literal; borrowed when it holds no
/// escapes, which is the common case.
fn unescape(inner: &str) -> Result<Cow<'_, str>, String> {
    if !inner.contains('\\') {
        return Ok(Cow::Borrowed(inner));
    }
    let quoted = format!("\"{inner}\"");
    serde_json::from_str::<String>(&quoted)
        .map(Cow::Owned)
        .map_err(|e| format!("payload holds an invalid string escape ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn finds_fields_like_serde_does() {
        let text = r#"{"a":{"b":[1,{"x":"}"}],"c":"q\"uote"},"amount":"3.0000/EUR","n":-1.5e3,"t":true,"z":null}"#;
        assert_eq!(
            lookup(text, &path("amount")).unwrap(),
            Some(Raw::Str(Cow::Borrowed("3.0000/EUR")))
        );
        assert_eq!(
            lookup(text, &path("a.c")).unwrap(),
            Some(Raw::Str(Cow::Owned("q\"uote".into())))
        );
        assert_eq!(
            lookup(text, &path("a.b")).unwrap(),
            Some(Raw::Other(r#"[1,{"x":"}"}]"#))
        );
        assert_eq!(
            lookup(text, &path("n")).unwrap(),
            Some(Raw::Other("-1.5e3"))
        );
        assert_eq!(lookup(text, &path("t")).unwrap(), Some(Raw::Other("true")));
        assert_eq!(lookup(text, &path("z")).unwrap(), Some(Raw::Null));
        assert_eq!(lookup(text, &path("missing")).unwrap(), None);
        assert_eq!(lookup(text, &path("amount.x")).unwrap(), None);
        assert_eq!(lookup("{}", &path("a")).unwrap(), None);
        let escaped_key = r#"{"k\u0065y":1}"#;
        assert_eq!(
            lookup(escaped_key, &path("key")).unwrap(),
            Some(Raw::Other("1"))
        );
        assert!(lookup(r#"{"a":"#, &path("b")).is_err());
    }
}
