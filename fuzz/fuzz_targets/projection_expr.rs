//! The projection expression language: parse, type (as a row expression and
//! as arithmetic over aggregate columns) and evaluate. The first line is the
//! expression, the rest the payload of the event it is evaluated on.
#![no_main]

use chronicle::decimal::Decimal;
use chronicle::event::{parse_time_bound, Event};
use chronicle::projection::expr::{parse, RowArith, RowExpr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (expr, payload) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(ast) = parse(expr) else {
        return;
    };
    if let Ok(row) = RowExpr::compile(&ast) {
        let _ = row.static_type();
        let event = Event {
            id: uuid::Uuid::nil(),
            service: "core".into(),
            event_type: "payment-completed".into(),
            created_at: parse_time_bound("2016-03-31T23:30:00Z").expect("fixed time"),
            received_at: Some(0),
            aggregate_id: Some("payment/1".into()),
            correlation_id: None,
            payload: payload.to_string(),
        };
        if let Ok(val) = row.eval(event.view()) {
            let _ = val.to_text();
            let _ = val.to_decimal();
        }
    }
    let columns = [
        ("a".to_string(), true),
        ("b".to_string(), true),
        ("t".to_string(), false),
    ];
    if let Ok(arith) = RowArith::compile(&ast, &columns) {
        let big = Decimal::parse("79228162514264337593543950335");
        for row in [
            [Decimal::parse("10.00"), Decimal::parse("-3"), None],
            [big, big, None],
            [None, Decimal::parse("0.0000000001"), None],
        ] {
            let _ = arith.eval(&row);
        }
    }
});
