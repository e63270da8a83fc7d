//! The shape of a `[projections.NAME]` table as serde reads it: one struct
//! per kind, unknown keys refused, and the explanation of a refusal that
//! names the full key. [`super`] turns these into checked definitions.

use serde::Deserialize;

use crate::duration::parse_duration_ms;

/// A definition as written: the shape (which keys each kind takes, their
/// types) is all serde's; what serde cannot say (expressions, names,
/// targets) is checked while converting to [`super::ProjectionDef`].
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub(super) enum RawDef {
    Table(RawTable),
    Latest(RawLatest),
    Exec(RawExec),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTable {
    pub(super) types: List,
    pub(super) lag: Option<Lag>,
    pub(super) target: Text,
    pub(super) table: Option<Text>,
    #[serde(default)]
    pub(super) group: Vec<RawNamed>,
    #[serde(default)]
    pub(super) columns: Vec<RawColumn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLatest {
    pub(super) types: List,
    pub(super) lag: Option<Lag>,
    pub(super) target: Text,
    pub(super) table: Option<Text>,
    #[serde(default)]
    pub(super) fields: Vec<RawField>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExec {
    pub(super) types: List,
    pub(super) lag: Option<Lag>,
    pub(super) command: List,
    pub(super) reset: Option<List>,
}

/// `{ name = "...", value = "..." }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNamed {
    pub(super) name: Text,
    pub(super) value: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawColumn {
    pub(super) name: Text,
    pub(super) value: Text,
    pub(super) types: Option<List>,
}

/// A `latest` field: a payload path, or a named expression.
#[derive(Debug)]
pub(super) enum RawField {
    Path(String),
    Named(RawNamed),
}

impl<'de> Deserialize<'de> for RawField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RawField, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a payload path string or { name = \"...\", value = \"...\" }")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RawField, E> {
                Ok(RawField::Path(s.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawField, A::Error> {
                RawNamed::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawField::Named)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A string that holds something.
#[derive(Debug)]
pub(super) struct Text(pub(super) String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() {
            return Err(serde::de::Error::custom("must not be empty"));
        }
        Ok(Text(s))
    }
}

/// A non-empty list of non-empty strings.
#[derive(Debug)]
pub(super) struct List(pub(super) Vec<String>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<List, D::Error> {
        let items = Vec::<Text>::deserialize(d)?;
        if items.is_empty() {
            return Err(serde::de::Error::custom("must not be empty"));
        }
        Ok(List(items.into_iter().map(|t| t.0).collect()))
    }
}

/// A duration in the one grammar of [`crate::duration`].
#[derive(Debug)]
pub(super) struct Lag(pub(super) i64);

impl<'de> Deserialize<'de> for Lag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Lag, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration_ms(&s)
            .map(Lag)
            .map_err(serde::de::Error::custom)
    }
}

/// Says which key of a definition serde refused, and why. serde reads an
/// internally tagged enum from a buffered copy, which hides the path from
/// `serde_path_to_error`; so the definition is read once more, directly as
/// its kind's struct, where every key has its full path.
pub(super) fn explain(key: &str, value: &toml::Value) -> anyhow::Error {
    let Some(table) = value.as_table() else {
        return anyhow::anyhow!("config: {key}: must be a table");
    };
    let mut body = table.clone();
    let kind = body.remove("kind");
    let result = match kind {
        None => return anyhow::anyhow!("config: {key}.kind: is missing (table, latest or exec)"),
        Some(toml::Value::String(kind)) => match kind.as_str() {
            "table" => path_error::<RawTable>(body),
            "latest" => path_error::<RawLatest>(body),
            "exec" => path_error::<RawExec>(body),
            other => {
                return anyhow::anyhow!(
                    "config: {key}.kind: unknown kind `{other}` (expected table, latest or exec)"
                )
            }
        },
        Some(other) => {
            return anyhow::anyhow!(
                "config: {key}.kind: must be a string, not {}",
                other.type_str()
            )
        }
    };
    match result {
        Some((path, message)) => {
            let at = if path == "." {
                key.to_string()
            } else {
                format!("{key}.{path}")
            };
            reason(&at, &message)
        }
        None => anyhow::anyhow!("config: {key}: not a valid definition"),
    }
}

/// The path and message of the first error reading `body` as `T`.
fn path_error<T: serde::de::DeserializeOwned>(body: toml::Table) -> Option<(String, String)> {
    match serde_path_to_error::deserialize::<_, T>(toml::Value::Table(body)) {
        Ok(_) => None,
        Err(e) => Some((e.path().to_string(), e.inner().message().to_string())),
    }
}

/// serde's wording turned into chronicle's: `KEY: is missing`, `KEY: unknown
/// key (allowed here: ...)`, or `KEY: reason`.
fn reason(at: &str, message: &str) -> anyhow::Error {
    let quoted = |text: &str| text.split('`').nth(1).map(str::to_string);
    if let Some(field) = message.strip_prefix("missing field ").and_then(quoted) {
        let hint = match field.as_str() {
            "types" => " (the event types to read)",
            "command" => " (e.g. [\"python3\", \"build.py\"])",
            "target" => " (sqlite:FILE or postgres://USER@HOST/DB)",
            _ => "",
        };
        return anyhow::anyhow!("config: {at}.{field}: is missing{hint}");
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let field = quoted(rest).unwrap_or_default();
        let allowed: Vec<&str> = rest
            .split_once("expected ")
            .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        // serde_path_to_error's path already ends at the unknown key.
        let at = if at.ends_with(&format!(".{field}")) {
            at.to_string()
        } else {
            format!("{at}.{field}")
        };
        return anyhow::anyhow!(
            "config: {at}: unknown key (allowed here: {})",
            allowed.join(", ")
        );
    }
    anyhow::anyhow!("config: {at}: {message}")
}
