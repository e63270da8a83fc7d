//! The small expression language of projection definitions (see
//! docs/projections.md): field paths, timestamp parts and money parts on one
//! event (`month(meta.created_at)`, `amount(payload.amount)`), aggregate
//! calls (`sum(...)`), and exact arithmetic over a row's aggregate columns
//! (`completed_amount - refunded_amount`). Parsing happens once, when the
//! definition is loaded; evaluation is plain code on borrowed event text.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};

use super::json::Raw;
use super::memo::Memo;
use crate::decimal::Decimal;
use crate::event::{format_millis, parse_rfc3339_millis, EventRef, Millis};

/// Parsed but not yet typed: the same grammar serves all three contexts.
#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    Path(Vec<String>),
    Call(String, Vec<Ast>),
    Number(Decimal),
    Binary(char, Box<Ast>, Box<Ast>),
    Negate(Box<Ast>),
}

pub fn parse(text: &str) -> Result<Ast, String> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let ast = parser.sum()?;
    if parser.pos != parser.tokens.len() {
        return Err(format!(
            "unexpected `{}` in `{text}`",
            parser.tokens[parser.pos]
        ));
    }
    Ok(ast)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Number(String),
    Punct(char),
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Ident(s) | Token::Number(s) => f.write_str(s),
            Token::Punct(c) => write!(f, "{c}"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Number(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric()
                    || chars[i] == '_'
                    || chars[i] == '.'
                    || chars[i] == '-')
            {
                // A `-` belongs to the name only inside a payload key such as
                // `payload.user-id`; `a - b` (with spaces) stays arithmetic.
                if chars[i] == '-' && !chars.get(i + 1).is_some_and(|n| n.is_alphanumeric()) {
                    break;
                }
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if "()+-*,".contains(c) {
            out.push(Token::Punct(c));
            i += 1;
        } else {
            return Err(format!("unexpected character `{c}` in `{text}`"));
        }
    }
    Ok(out)
}

/// Parentheses, calls and negations deeper than this are refused: the parser
/// recurses per level, and no real definition comes close.
const MAX_NESTING: usize = 64;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Current nesting of `factor`, bounded by [`MAX_NESTING`].
    depth: usize,
}

impl Parser {
    fn peek_punct(&self, c: char) -> bool {
        self.tokens.get(self.pos) == Some(&Token::Punct(c))
    }

    fn sum(&mut self) -> Result<Ast, String> {
        let mut left = self.product()?;
        while self.peek_punct('+') || self.peek_punct('-') {
            let Token::Punct(op) = self.tokens[self.pos] else {
                unreachable!()
            };
            self.pos += 1;
            let right = self.product()?;
            left = Ast::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Ast, String> {
        let mut left = self.factor()?;
        while self.peek_punct('*') {
            self.pos += 1;
            let right = self.factor()?;
            left = Ast::Binary('*', Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Ast, String> {
        if self.depth >= MAX_NESTING {
            return Err(format!(
                "expression nests more than {MAX_NESTING} levels deep"
            ));
        }
        self.depth += 1;
        let result = self.factor_inner();
        self.depth -= 1;
        result
    }

    fn factor_inner(&mut self) -> Result<Ast, String> {
        let token = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or_else(|| "expression ends too early".to_string())?;
        self.pos += 1;
        match token {
            Token::Number(n) => Decimal::parse(&n)
                .map(Ast::Number)
                .ok_or_else(|| format!("`{n}` is not a number")),
            Token::Punct('-') => Ok(Ast::Negate(Box::new(self.factor()?))),
            Token::Punct('(') => {
                let inner = self.sum()?;
                self.expect(')')?;
                Ok(inner)
            }
            Token::Ident(name) if self.peek_punct('(') => {
                self.pos += 1;
                let mut args = Vec::new();
                if !self.peek_punct(')') {
                    loop {
                        args.push(self.sum()?);
                        if self.peek_punct(',') {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect(')')?;
                Ok(Ast::Call(name, args))
            }
            Token::Ident(name) => Ok(Ast::Path(name.split('.').map(str::to_string).collect())),
            Token::Punct(c) => Err(format!("unexpected `{c}`")),
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.peek_punct(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected `{c}`"))
        }
    }
}

/// What an expression yields, as far as it is known before evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticType {
    Text,
    Decimal,
    Time,
    /// A payload field: whatever the JSON holds.
    Json,
}

/// An expression over one event.
#[derive(Debug, Clone, PartialEq)]
pub enum RowExpr {
    Id,
    Type,
    Service,
    CreatedAt,
    ReceivedAt,
    AggregateId,
    CorrelationId,
    Payload(Vec<String>),
    /// Timestamp part, formatted `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DDTHH`.
    Part(TimePart, Box<RowExpr>),
    Amount(Box<RowExpr>),
    Currency(Box<RowExpr>),
    Number(Box<RowExpr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Year,
    Month,
    Day,
    Hour,
}

/// One evaluated value. Text borrows from the event where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Null,
    Text(Cow<'a, str>),
    Decimal(Decimal),
    Time(Millis),
    /// A JSON number, boolean, object or array, as its text.
    Json(&'a str),
}

impl Val<'_> {
    /// Appends the value's text form (what a TEXT column receives).
    pub fn write_text(&self, out: &mut String) {
        match self {
            Val::Null => {}
            Val::Text(s) => out.push_str(s),
            Val::Decimal(d) => {
                let _ = write!(out, "{d}");
            }
            Val::Time(ms) => out.push_str(&format_millis(*ms)),
            Val::Json(s) => out.push_str(s),
        }
    }

    pub fn to_text(&self) -> Option<String> {
        if *self == Val::Null {
            return None;
        }
        let mut s = String::new();
        self.write_text(&mut s);
        Some(s)
    }

    /// The value as a number: decimals as they are, JSON numbers and numeric
    /// strings parsed exactly.
    pub fn to_decimal(&self) -> Result<Option<Decimal>, String> {
        match self {
            Val::Null => Ok(None),
            Val::Decimal(d) => Ok(Some(*d)),
            Val::Text(s) => Decimal::parse(s.trim())
                .map(Some)
                .ok_or_else(|| format!("`{s}` is not a number")),
            Val::Json(s) => Decimal::parse(s)
                .map(Some)
                .ok_or_else(|| format!("`{s}` is not a number")),
            Val::Time(ms) => Err(format!("timestamp {} is not a number", format_millis(*ms))),
        }
    }
}

impl RowExpr {
    pub fn compile(ast: &Ast) -> Result<RowExpr, String> {
        match ast {
            Ast::Path(path) => {
                let joined = path.join(".");
                match path.first().map(String::as_str) {
                    Some("id") if path.len() == 1 => Ok(RowExpr::Id),
                    Some("meta") if path.len() == 2 => match path[1].as_str() {
                        "type" => Ok(RowExpr::Type),
                        "service" => Ok(RowExpr::Service),
                        "created_at" => Ok(RowExpr::CreatedAt),
                        "received_at" => Ok(RowExpr::ReceivedAt),
                        "aggregate_id" => Ok(RowExpr::AggregateId),
                        "correlation_id" => Ok(RowExpr::CorrelationId),
                        other => Err(format!(
                            "unknown field `meta.{other}` (meta has type, service, created_at, received_at, aggregate_id, correlation_id)"
                        )),
                    },
                    Some("payload") if path.len() >= 2 && path.iter().all(|p| !p.is_empty()) => {
                        Ok(RowExpr::Payload(path[1..].to_vec()))
                    }
                    _ => Err(format!(
                        "unknown field `{joined}` (fields are id, meta.NAME or payload.PATH)"
                    )),
                }
            }
            Ast::Call(name, args) => {
                let one = |args: &[Ast]| -> Result<Box<RowExpr>, String> {
                    match args {
                        [arg] => Ok(Box::new(RowExpr::compile(arg)?)),
                        _ => Err(format!("{name}() takes exactly one argument")),
                    }
                };
                let part = |p| -> Result<RowExpr, String> {
                    let arg = one(args)?;
                    if arg.static_type() == StaticType::Decimal {
                        return Err(format!("{name}() needs a timestamp, not a number"));
                    }
                    Ok(RowExpr::Part(p, arg))
                };
                match name.as_str() {
                    "year" => part(TimePart::Year),
                    "month" => part(TimePart::Month),
                    "day" => part(TimePart::Day),
                    "hour" => part(TimePart::Hour),
                    "amount" => Ok(RowExpr::Amount(one(args)?)),
                    "currency" => Ok(RowExpr::Currency(one(args)?)),
                    "number" => Ok(RowExpr::Number(one(args)?)),
                    "count" | "sum" | "min" | "max" | "count_distinct" => Err(format!(
                        "aggregate {name}() cannot be used inside another expression"
                    )),
                    other => Err(format!(
                        "unknown function `{other}` (row functions: year, month, day, hour, amount, currency, number)"
                    )),
                }
            }
            Ast::Number(_) | Ast::Binary(..) | Ast::Negate(_) => Err(
                "arithmetic is only allowed between aggregate columns, not on event fields"
                    .to_string(),
            ),
        }
    }

    pub fn static_type(&self) -> StaticType {
        match self {
            RowExpr::Id
            | RowExpr::Type
            | RowExpr::Service
            | RowExpr::AggregateId
            | RowExpr::CorrelationId
            | RowExpr::Part(..)
            | RowExpr::Currency(_) => StaticType::Text,
            RowExpr::CreatedAt | RowExpr::ReceivedAt => StaticType::Time,
            RowExpr::Payload(_) => StaticType::Json,
            RowExpr::Amount(_) | RowExpr::Number(_) => StaticType::Decimal,
        }
    }

    pub fn eval<'a>(&self, event: EventRef<'a>) -> Result<Val<'a>, String> {
        self.eval_in(event, &mut Memo::default())
    }

    /// [`RowExpr::eval`] sharing payload lookups and money splits with the
    /// other expressions evaluated on the same event through `memo`.
    pub fn eval_in<'e, 'a>(
        &'e self,
        event: EventRef<'a>,
        memo: &mut Memo<'e, 'a>,
    ) -> Result<Val<'a>, String> {
        Ok(match self {
            RowExpr::Id => Val::Text(Cow::Owned(event.id.hyphenated().to_string())),
            RowExpr::Type => Val::Text(Cow::Borrowed(event.event_type)),
            RowExpr::Service => Val::Text(Cow::Borrowed(event.service)),
            RowExpr::CreatedAt => Val::Time(event.created_at),
            RowExpr::ReceivedAt => event.received_at.map(Val::Time).unwrap_or(Val::Null),
            RowExpr::AggregateId => opt_text(event.aggregate_id),
            RowExpr::CorrelationId => opt_text(event.correlation_id),
            RowExpr::Payload(path) => match memo.payload(event.payload, path)? {
                None | Some(Raw::Null) => Val::Null,
                Some(Raw::Str(s)) => Val::Text(s),
                Some(Raw::Other(s)) => Val::Json(s),
            },
            RowExpr::Part(part, inner) => match inner.eval_in(event, memo)? {
                Val::Null => Val::Null,
                Val::Time(ms) => Val::Text(Cow::Owned(time_part(*part, ms)?)),
                Val::Text(s) => Val::Text(Cow::Owned(time_part(*part, parse_rfc3339_millis(&s)?)?)),
                other => return Err(format!("{other:?} is not a timestamp")),
            },
            RowExpr::Amount(inner) => match inner.eval_in(event, memo)? {
                Val::Null => Val::Null,
                Val::Text(s) => Val::Decimal(memo.money(inner, s)?.0),
                other => return Err(not_money(&other)),
            },
            RowExpr::Currency(inner) => match inner.eval_in(event, memo)? {
                Val::Null => Val::Null,
                Val::Text(s) => Val::Text(memo.money(inner, s)?.1),
                other => return Err(not_money(&other)),
            },
            RowExpr::Number(inner) => match inner.eval_in(event, memo)?.to_decimal()? {
                Some(d) => Val::Decimal(d),
                None => Val::Null,
            },
        })
    }
}

fn opt_text(value: Option<&str>) -> Val<'_> {
    match value {
        Some(s) => Val::Text(Cow::Borrowed(s)),
        None => Val::Null,
    }
}

fn not_money(value: &Val<'_>) -> String {
    let text = value.to_text().unwrap_or_default();
    format!("`{text}` is not a money string (expected AMOUNT/CURRENCY such as 3.0000/EUR)")
}

fn time_part(part: TimePart, ms: Millis) -> Result<String, String> {
    if (0..=crate::event::MAX_MILLIS).contains(&ms) {
        return Ok(time_part_fast(part, ms));
    }
    let t = Utc
        .timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| format!("timestamp {ms} is out of range"))?;
    Ok(time_part_chrono(part, t))
}

/// The time part by chrono's calendar: the fallback outside the fast
/// path's range, and the reference the fast path is tested against.
fn time_part_chrono(part: TimePart, t: DateTime<Utc>) -> String {
    match part {
        TimePart::Year => format!("{:04}", t.year()),
        TimePart::Month => format!("{:04}-{:02}", t.year(), t.month()),
        TimePart::Day => format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day()),
        TimePart::Hour => format!(
            "{:04}-{:02}-{:02}T{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour()
        ),
    }
}

/// [`time_part`] of an instant in the years 1970–9999, without chrono and
/// the formatter: a `table` fold takes one per event and group column.
fn time_part_fast(part: TimePart, ms: Millis) -> String {
    let days = ms.div_euclid(86_400_000);
    let hour = ms.rem_euclid(86_400_000) / 3_600_000;
    // Days since 1970-01-01 to (year, month, day): Howard Hinnant's
    // `civil_from_days`, for non-negative days.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = String::with_capacity(13);
    let mut digits = |n: i64, width: u32| {
        for i in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10i64.pow(i) % 10) as u8));
        }
    };
    digits(year, 4);
    let mut push = |c: char, n: i64| {
        out.push(c);
        out.push(char::from(b'0' + (n / 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    };
    match part {
        TimePart::Year => {}
        TimePart::Month => push('-', month),
        TimePart::Day => {
            push('-', month);
            push('-', day);
        }
        TimePart::Hour => {
            push('-', month);
            push('-', day);
            push('T', hour);
        }
    }
    out
}

/// The aggregate functions of a `table` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFn {
    Count,
    Sum,
    Min,
    Max,
    CountDistinct,
}

/// Arithmetic over the aggregate columns of one output row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowArith {
    Column(usize),
    Number(Decimal),
    Binary(char, Box<RowArith>, Box<RowArith>),
    Negate(Box<RowArith>),
}

impl RowArith {
    /// `columns` are the names of the aggregate columns that may be used.
    pub fn compile(ast: &Ast, columns: &[(String, bool)]) -> Result<RowArith, String> {
        match ast {
            Ast::Number(d) => Ok(RowArith::Number(*d)),
            Ast::Negate(inner) => Ok(RowArith::Negate(Box::new(RowArith::compile(inner, columns)?))),
            Ast::Binary(op, a, b) => Ok(RowArith::Binary(
                *op,
                Box::new(RowArith::compile(a, columns)?),
                Box::new(RowArith::compile(b, columns)?),
            )),
            Ast::Path(path) => {
                let name = path.join(".");
                match columns.iter().position(|(c, _)| *c == name) {
                    Some(i) if columns[i].1 => Ok(RowArith::Column(i)),
                    Some(_) => Err(format!("column `{name}` is not numeric")),
                    None => Err(format!(
                        "`{name}` is not an earlier aggregate column (known: {})",
                        columns.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
            Ast::Call(name, _) => Err(format!(
                "{name}() cannot be used in arithmetic; define it as its own column and refer to it by name"
            )),
        }
    }

    /// Evaluates over the row's numeric values; a null operand gives null.
    pub fn eval(&self, row: &[Option<Decimal>]) -> Result<Option<Decimal>, String> {
        Ok(match self {
            RowArith::Column(i) => row[*i],
            RowArith::Number(d) => Some(*d),
            RowArith::Negate(inner) => match inner.eval(row)? {
                Some(d) => Some(d.negated().ok_or("overflow")?),
                None => None,
            },
            RowArith::Binary(op, a, b) => match (a.eval(row)?, b.eval(row)?) {
                (Some(x), Some(y)) => Some(
                    match op {
                        '+' => x.checked_add(&y),
                        '-' => x.checked_sub(&y),
                        _ => x.checked_mul(&y),
                    }
                    .ok_or_else(|| format!("decimal overflow computing {x} {op} {y}"))?,
                ),
                _ => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_time_parts_match_chrono() {
        let chrono_part = |part: TimePart, ms: Millis| {
            time_part_chrono(part, Utc.timestamp_millis_opt(ms).single().unwrap())
        };
        let mut ms = 0i64;
        let mut instants = vec![
            0,
            951_782_400_000,
            951_868_799_999,
            crate::event::MAX_MILLIS,
        ];
        while ms < crate::event::MAX_MILLIS {
            instants.push(ms);
            ms += 7_777_777_777; // about 90 days, drifting through hours
        }
        for ms in instants {
            for part in [
                TimePart::Year,
                TimePart::Month,
                TimePart::Day,
                TimePart::Hour,
            ] {
                assert_eq!(time_part(part, ms).unwrap(), chrono_part(part, ms), "{ms}");
            }
        }
        assert_eq!(time_part(TimePart::Day, -1).unwrap(), "1969-12-31");
    }

    fn event(payload: &str) -> crate::event::Event {
        crate::event::Event {
            id: uuid::Uuid::nil(),
            service: "core".into(),
            event_type: "payment-completed".into(),
            created_at: crate::event::parse_time_bound("2016-03-31T23:30:00Z").unwrap(),
            received_at: Some(0),
            aggregate_id: Some("payment/1".into()),
            correlation_id: None,
            payload: payload.into(),
        }
    }

    fn row(text: &str) -> RowExpr {
        RowExpr::compile(&parse(text).unwrap()).unwrap()
    }

    #[test]
    fn evaluates_row_expressions() {
        let e = event(r#"{"amount":"3.0000/EUR","at":"2016-01-02T03:04:05+02:00","q":2}"#);
        let text = |s: &str| row(s).eval(e.view()).unwrap().to_text();
        assert_eq!(text("month(meta.created_at)").as_deref(), Some("2016-03"));
        assert_eq!(text("day(payload.at)").as_deref(), Some("2016-01-02"));
        assert_eq!(text("hour(payload.at)").as_deref(), Some("2016-01-02T01"));
        assert_eq!(text("currency(payload.amount)").as_deref(), Some("EUR"));
        assert_eq!(text("amount(payload.amount)").as_deref(), Some("3.0000"));
        assert_eq!(text("number(payload.q)").as_deref(), Some("2"));
        assert_eq!(text("payload.missing"), None);
        assert_eq!(text("meta.aggregate_id").as_deref(), Some("payment/1"));
        let bad = event(r#"{"amount":"3.00 EUR"}"#);
        assert!(row("amount(payload.amount)")
            .eval(bad.view())
            .unwrap_err()
            .contains("money"));
    }

    #[test]
    fn rejects_bad_expressions() {
        for (text, fragment) in [
            ("moth(meta.created_at)", "unknown function"),
            ("meta.create_at", "unknown field"),
            ("payload", "unknown field"),
            ("payload.a + 1", "arithmetic"),
            ("sum(payload.a)", "aggregate"),
            ("month(meta.created_at", "expected `)`"),
            ("year(amount(payload.a))", "timestamp"),
        ] {
            let err = parse(text)
                .and_then(|ast| RowExpr::compile(&ast))
                .unwrap_err();
            assert!(err.contains(fragment), "{text}: {err}");
        }
    }

    #[test]
    fn arithmetic_over_columns() {
        let columns = vec![
            ("a".to_string(), true),
            ("b".to_string(), true),
            ("t".to_string(), false),
        ];
        let expr = RowArith::compile(&parse("a - b * 2 + -(1.5)").unwrap(), &columns).unwrap();
        let d = |s| Decimal::parse(s);
        assert_eq!(
            expr.eval(&[d("10.00"), d("3"), None])
                .unwrap()
                .unwrap()
                .to_string(),
            "2.50"
        );
        assert_eq!(expr.eval(&[d("1"), None, None]).unwrap(), None);
        assert!(RowArith::compile(&parse("a - t").unwrap(), &columns).is_err());
        assert!(RowArith::compile(&parse("a - c").unwrap(), &columns).is_err());
    }
}
