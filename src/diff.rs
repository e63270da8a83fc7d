//! The differences between two JSON documents as (path, left, right)
//! triples, for showing a conflict as what changed rather than as two
//! whole events. Paths are written `meta.created_at`, `payload.items[0].sku`;
//! a key that is not a plain name is quoted (`payload["a.b"]`).

use serde_json::Value;

/// One differing value; `None` where a side lacks the path.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub path: String,
    pub left: Option<Value>,
    pub right: Option<Value>,
}

/// Every leaf that differs between `left` and `right`, in key order.
pub fn json_diff(left: &Value, right: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(String::new(), Some(left), Some(right), &mut out);
    out
}

fn child(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{}]", Value::String(key.to_string())),
    }
}

fn walk(path: String, left: Option<&Value>, right: Option<&Value>, out: &mut Vec<Difference>) {
    match (left, right) {
        (Some(Value::Object(l)), Some(Value::Object(r))) => {
            let mut keys: Vec<&String> = l.keys().chain(r.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(child(&path, k), l.get(k), r.get(k), out);
            }
        }
        (Some(Value::Array(l)), Some(Value::Array(r))) => {
            for i in 0..l.len().max(r.len()) {
                walk(format!("{path}[{i}]"), l.get(i), r.get(i), out);
            }
        }
        (l, r) if l != r => out.push(Difference {
            path,
            left: l.cloned(),
            right: r.cloned(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_differing_leaves_with_paths() {
        let a = json!({"meta": {"type": "p", "at": 1}, "payload": {"amount": "3.00", "items": [{"sku": "A"}], "a.b": 1, "gone": true}});
        let b = json!({"meta": {"type": "p", "at": 2}, "payload": {"amount": "4.00", "items": [{"sku": "B"}, 5], "a.b": 1}});
        let d = json_diff(&a, &b);
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "meta.at",
                "payload.amount",
                "payload.gone",
                "payload.items[0].sku",
                "payload.items[1]"
            ]
        );
        assert_eq!(d[2].right, None);
        assert_eq!(d[4].left, None);
        assert_eq!(d[4].right, Some(json!(5)));
        assert!(json_diff(&a, &a).is_empty());
        let q = json_diff(&json!({"x y": 1}), &json!({"x y": 2}));
        assert_eq!(q[0].path, "[\"x y\"]");
    }
}
