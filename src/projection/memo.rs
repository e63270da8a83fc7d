//! What the expressions of one definition share for one event: a payload
//! field named by two expressions (`currency(payload.amount)` and
//! `amount(payload.amount)` in the same `table`) is found in the JSON once,
//! and its money string split and its amount parsed once. A `table` fold
//! evaluates every group and aggregate expression of every event, so the
//! second lookup and parse were a tenth of a rebuild's per-event work.

use std::borrow::Cow;

use super::expr::RowExpr;
use super::json::{lookup, Raw};
use super::money::split_money;
use crate::decimal::Decimal;

/// Values remembered per event; more distinct fields than this are looked
/// up each time (correct, only slower). No allocation: one per event.
const SLOTS: usize = 4;

/// The shared results of one event, borrowed from its text (`'a`) and keyed
/// by the expressions of the definition (`'e`). Make a new one per event.
pub struct Memo<'e, 'a> {
    payload: [Option<(&'e [String], Option<Raw<'a>>)>; SLOTS],
    money: [Option<(&'e RowExpr, Decimal, &'a str)>; SLOTS],
}

impl Default for Memo<'_, '_> {
    fn default() -> Self {
        Memo {
            payload: [const { None }; SLOTS],
            money: [const { None }; SLOTS],
        }
    }
}

impl<'e, 'a> Memo<'e, 'a> {
    /// The value at `path` in the payload `text` (see [`lookup`]).
    pub fn payload(
        &mut self,
        text: &'a str,
        path: &'e [String],
    ) -> Result<Option<Raw<'a>>, String> {
        let mut free = None;
        for (i, slot) in self.payload.iter().enumerate() {
            match slot {
                Some((p, value)) if *p == path => return Ok(value.clone()),
                Some(_) => {}
                None => {
                    free = Some(i);
                    break;
                }
            }
        }
        let value = lookup(text, path)?;
        if let Some(i) = free {
            self.payload[i] = Some((path, value.clone()));
        }
        Ok(value)
    }

    /// `text` (the value of `inner`) split as a money string (see
    /// [`split_money`]); remembered when `text` borrows from the event.
    pub fn money(
        &mut self,
        inner: &'e RowExpr,
        text: Cow<'a, str>,
    ) -> Result<(Decimal, Cow<'a, str>), String> {
        let text = match text {
            Cow::Borrowed(text) => text,
            Cow::Owned(text) => {
                let (amount, currency) = split_money(&text)?;
                return Ok((amount, Cow::Owned(currency.to_string())));
            }
        };
        let mut free = None;
        for (i, slot) in self.money.iter().enumerate() {
            match slot {
                Some((e, amount, currency)) if *e == inner => {
                    return Ok((*amount, Cow::Borrowed(*currency)))
                }
                Some(_) => {}
                None => {
                    free = Some(i);
                    break;
                }
            }
        }
        let (amount, currency) = split_money(text)?;
        if let Some(i) = free {
            self.money[i] = Some((inner, amount, currency));
        }
        Ok((amount, Cow::Borrowed(currency)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::projection::expr::{parse, Val};

    fn event(payload: &str) -> Event {
        Event {
            id: uuid::Uuid::nil(),
            service: "s".into(),
            event_type: "t".into(),
            created_at: 0,
            received_at: Some(0),
            aggregate_id: None,
            correlation_id: None,
            payload: payload.into(),
        }
    }

    fn row(text: &str) -> RowExpr {
        RowExpr::compile(&parse(text).unwrap()).unwrap()
    }

    #[test]
    fn shared_fields_give_what_separate_evaluations_give() {
        let exprs: Vec<RowExpr> = [
            "currency(payload.amount)",
            "amount(payload.amount)",
            "currency(payload.escaped)",
            "amount(payload.escaped)",
            "payload.amount",
            "amount(payload.a)",
            "amount(payload.b)",
            "amount(payload.c)",
            "amount(payload.d)",
            "payload.missing",
        ]
        .iter()
        .map(|t| row(t))
        .collect();
        let e = event(
            r#"{"amount":"3.50/EUR","escaped":"1.25\/GBP","a":"1/A","b":"2/B","c":"3/C","d":"4/D"}"#,
        );
        // Twice through one memo (the second pass reads remembered values),
        // more fields than it has slots, and escaped text it does not keep.
        let mut memo = Memo::default();
        for _ in 0..2 {
            for expr in &exprs {
                assert_eq!(
                    expr.eval_in(e.view(), &mut memo),
                    expr.eval(e.view()),
                    "{expr:?}"
                );
            }
        }
        let mut memo = Memo::default();
        assert_eq!(
            row("currency(payload.escaped)").eval_in(e.view(), &mut memo),
            Ok(Val::Text(Cow::Owned("GBP".into())))
        );
        // A bad money string is an error every time it is asked for.
        let bad = event(r#"{"amount":"3.50 EUR"}"#);
        let mut memo = Memo::default();
        for expr in &exprs[..2] {
            assert!(expr
                .eval_in(bad.view(), &mut memo)
                .unwrap_err()
                .contains("money"));
        }
    }
}
