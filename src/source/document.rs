//! What the MongoDB readers (mongodump BSON, mongoexport Extended JSON)
//! share: the flattening of a converted document into the columns a
//! mapping refers to.
//!
//! Documents have no fixed column set, so the columns are the names the
//! mapping refers to (`{customer.id}`, `column = "total"`, skip rules), plus
//! `_id`, which is always included so that a mapping without `key` still
//! gives every document its own row hash. A dotted name is a path into
//! nested documents; a number in a path indexes an array (`items.0.sku`).
//! A field missing from a document is a null, exactly like SQL NULL.
//!
//! Each BSON type becomes JSON by [`crate::bson_json`]'s dump rules (the
//! same for BSON and Extended JSON); a nested document or array referred
//! to as a whole is its canonical JSON text.

use serde_json::{Map, Value};

use super::row::Row;
use crate::event::canonical_json;
use crate::mapping::{CompiledMapping, Mapping};

/// The columns of a document source, as names and as paths.
pub struct DocColumns {
    pub names: Vec<String>,
    paths: Vec<Vec<String>>,
}

impl DocColumns {
    /// Columns from the mapping's references (plus `_id`), and the mapping
    /// compiled against them.
    pub fn from_mapping(mapping: &Mapping) -> anyhow::Result<(DocColumns, CompiledMapping)> {
        let mut names = mapping.referenced_columns()?;
        if !names.iter().any(|n| n == "_id") {
            names.push("_id".to_string());
        }
        let compiled = mapping.compile(&names)?;
        let paths = names
            .iter()
            .map(|n| n.split('.').map(str::to_string).collect())
            .collect();
        Ok((DocColumns { names, paths }, compiled))
    }

    /// Fills `row` with this document's values, one per column.
    pub fn fill(&self, doc: &Map<String, Value>, row: &mut Row) {
        row.clear();
        for (name, path) in self.names.iter().zip(&self.paths) {
            // A top-level name that itself contains dots wins over the path.
            let value = doc.get(name).or_else(|| lookup(doc, path));
            match value {
                None | Some(Value::Null) => row.null(),
                Some(Value::String(s)) => row.field_bytes(s.as_bytes()),
                Some(Value::Bool(b)) => row.field_bytes(if *b { b"true" } else { b"false" }),
                Some(Value::Number(n)) => row.field_bytes(n.to_string().as_bytes()),
                Some(v @ (Value::Object(_) | Value::Array(_))) => {
                    row.field_bytes(canonical_json(v).as_bytes())
                }
            }
        }
    }
}

fn lookup<'a>(doc: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = doc.get(first)?;
    for segment in rest {
        value = match value {
            Value::Object(m) => m.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_arrays_and_missing_fields() {
        let doc: Value = serde_json::json!({
            "_id": "x", "customer": {"id": 9007199254740993i64, "tags": ["a", "b"]},
            "a.b": "literal dotted", "n": null, "items": [{"sku": "A-1"}]
        });
        let names: Vec<String> = [
            "customer.id",
            "customer.tags.1",
            "a.b",
            "missing.deep",
            "n",
            "items.0.sku",
            "customer",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let cols = DocColumns {
            paths: names
                .iter()
                .map(|n| n.split('.').map(str::to_string).collect())
                .collect(),
            names,
        };
        let mut row = Row::default();
        cols.fill(doc.as_object().unwrap(), &mut row);
        row.seal().unwrap();
        use crate::mapping::Fields;
        assert_eq!(row.field(0), Some("9007199254740993"));
        assert_eq!(row.field(1), Some("b"));
        assert_eq!(row.field(2), Some("literal dotted"));
        assert_eq!(row.field(3), None);
        assert_eq!(row.field(4), None);
        assert_eq!(row.field(5), Some("A-1"));
        assert_eq!(
            row.field(6),
            Some(r#"{"id":9007199254740993,"tags":["a","b"]}"#)
        );
    }
}
