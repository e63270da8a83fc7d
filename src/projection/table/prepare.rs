//! The per-event half of a `table` fold, run on the reader threads:
//! evaluates an event's group key and aggregate arguments (JSON fields,
//! time parts, money strings), so that the fold thread only finds the group
//! and adds ([`super::TableFold::apply`]).

use std::sync::Arc;

use super::{aggregates, Ordered};
use crate::decimal::Decimal;
use crate::event::EventRef;
use crate::projection::config::{Column, SqlType, TableDef};
use crate::projection::expr::{AggFn, Val};
use crate::projection::memo::Memo;
use crate::projection::types::{event_context, TypeIndex};

/// One aggregate column's argument for one event, evaluated on a reader
/// thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// The column does not take this event's type.
    Skip,
    /// `count`: whether the event counts.
    Count(bool),
    Sum(Option<Decimal>),
    Extreme(Option<Ordered>),
    Distinct(Option<String>),
}

/// What the fold needs of one event: its group key (see [`encode_key`]) and
/// its aggregate arguments, or the error that evaluating them met (raised
/// when the fold reaches the event, so that errors come in event order).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub(super) key: String,
    pub(super) args: Vec<Arg>,
    pub(super) error: Option<String>,
}

/// The per-event half of a `table` fold, shared by the reader threads.
pub struct TableRows {
    def: Arc<TableDef>,
    /// Per aggregate column: the positions (in the projection's types) of
    /// the event types it accepts; `None` = all.
    accepts: Vec<Option<Vec<usize>>>,
}

/// Appends one group value to a key: `N` for no value, else `T`, the
/// text's length in bytes, `:` and the text. Unambiguous whatever the text
/// holds, so that equal keys mean equal groups, and [`decode_key`] inverts
/// it.
fn encode_key(key: &mut String, value: &Val<'_>) {
    let owned;
    let text = match value {
        Val::Null => {
            key.push('N');
            return;
        }
        Val::Text(s) => s.as_ref(),
        Val::Json(s) => s,
        other => {
            owned = other.to_text().unwrap_or_default();
            &owned
        }
    };
    key.push('T');
    // The length in decimal, without the formatter (one per group value).
    let len = text.len();
    let mut digits = [0u8; 20];
    let mut n = len;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    key.extend(digits[i..].iter().map(|&d| char::from(d)));
    key.push(':');
    key.push_str(text);
}

pub(super) fn decode_key(mut key: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    while !key.is_empty() {
        if let Some(rest) = key.strip_prefix('N') {
            out.push(None);
            key = rest;
            continue;
        }
        let colon = key.find(':').expect("encoded by encode_key");
        let len: usize = key[1..colon].parse().expect("encoded by encode_key");
        let start = colon + 1;
        out.push(Some(key[start..start + len].to_string()));
        key = &key[start + len..];
    }
    out
}

impl TableRows {
    pub fn new(def: Arc<TableDef>, types: &TypeIndex) -> TableRows {
        let accepts = def
            .columns
            .iter()
            .filter_map(|c| match c {
                Column::Aggregate { types: t, .. } => Some(
                    t.as_ref()
                        .map(|t| t.iter().filter_map(|name| types.position(name)).collect()),
                ),
                Column::Derived { .. } => None,
            })
            .collect();
        TableRows { def, accepts }
    }

    /// Evaluates what the fold needs of one event; `type_pos` is its type's
    /// position in the projection's types.
    pub fn prepare(&self, event: EventRef<'_>, type_pos: usize) -> Prepared {
        let mut prepared = Prepared {
            key: String::with_capacity(32),
            args: Vec::with_capacity(self.accepts.len()),
            error: None,
        };
        if let Err(e) = self.evaluate(event, type_pos, &mut prepared) {
            prepared.error = Some(e);
        }
        prepared
    }

    fn evaluate(
        &self,
        event: EventRef<'_>,
        type_pos: usize,
        out: &mut Prepared,
    ) -> Result<(), String> {
        let def = &*self.def;
        // One memo for all the expressions of this event: the group key and
        // the sums often read the same payload field.
        let mut memo = Memo::default();
        for g in &def.group {
            match g.expr.eval_in(event, &mut memo) {
                Ok(v) => encode_key(&mut out.key, &v),
                Err(e) => {
                    return Err(format!(
                        "{}: group column `{}`: {e}",
                        event_context(event),
                        g.name
                    ))
                }
            }
        }
        for (i, (name, func, arg, sql)) in aggregates(def).enumerate() {
            if let Some(accepted) = &self.accepts[i] {
                if !accepted.contains(&type_pos) {
                    out.args.push(Arg::Skip);
                    continue;
                }
            }
            let fail = |e: String| format!("{}: column `{name}`: {e}", event_context(event));
            let value = match arg {
                None => Val::Null,
                Some(expr) => expr.eval_in(event, &mut memo).map_err(fail)?,
            };
            out.args.push(match func {
                AggFn::Count => Arg::Count(arg.is_none() || value != Val::Null),
                AggFn::Sum => Arg::Sum(value.to_decimal().map_err(fail)?),
                AggFn::Min | AggFn::Max => Arg::Extreme(match (value, sql) {
                    (Val::Null, _) => None,
                    (v, SqlType::Numeric) => v.to_decimal().map_err(fail)?.map(Ordered::Decimal),
                    (v, _) => v.to_text().map(Ordered::Text),
                }),
                AggFn::CountDistinct => Arg::Distinct(distinct_text(&value).map_err(fail)?),
            });
        }
        Ok(())
    }
}

/// The identity of a value for `count_distinct`: numbers without trailing
/// zeros, so that 3.0 and 3.00 count once.
fn distinct_text(value: &Val<'_>) -> Result<Option<String>, String> {
    Ok(match value {
        Val::Null => None,
        Val::Decimal(d) => Some(d.normalized().to_string()),
        other => other.to_text(),
    })
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn group_keys_decode_to_their_values_whatever_the_text_holds() {
        let values = [
            Val::Text(Cow::Borrowed("2016-01")),
            Val::Null,
            Val::Text(Cow::Borrowed("")),
            Val::Text(Cow::Borrowed("N12:T\u{1}x:")),
            Val::Json("1.50"),
            Val::Text(Cow::Owned("é".repeat(11))),
        ];
        let mut key = String::new();
        for v in &values {
            encode_key(&mut key, v);
        }
        let expected: Vec<Option<String>> = values.iter().map(Val::to_text).collect();
        assert_eq!(decode_key(&key), expected);
        // Different groups never share a key.
        let (mut a, mut b) = (String::new(), String::new());
        encode_key(&mut a, &Val::Text(Cow::Borrowed("a1:b")));
        encode_key(&mut b, &Val::Text(Cow::Borrowed("a")));
        encode_key(&mut b, &Val::Text(Cow::Borrowed("b")));
        assert_ne!(a, b);
    }
}
