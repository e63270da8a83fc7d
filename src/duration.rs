//! The one duration grammar, parser and formatter: `archive --before 90d`,
//! `archive --lag 1h`, a projection's `lag = "5m"` and the "behind" column
//! of `status` all go through here (docs/architecture.md, "Durations").
//!
//! Grammar: `0`, or one or more `<digits><unit>` terms written together
//! (`90d`, `1h30m`, `1500ms`), unit one of `ms`, `s`, `m`, `h`, `d`, `w`.
//! Months and years are left out on purpose: their length varies, and an
//! archive age must mean the same thing every day.

use crate::event::{now_millis, Millis};

/// The units, longest spelling first so that `ms` is not read as `m`.
const UNITS: [(&str, i64); 6] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 7 * 86_400_000),
];

const EXPECTED: &str = "use ms, s, m, h, d or w, e.g. \"90d\", \"5m\" or \"500ms\"";

/// Parses a duration into milliseconds; the error names the text and what
/// was expected.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(0);
    }
    if t.is_empty() {
        return Err(format!("an empty duration ({EXPECTED})"));
    }
    let mut rest = t;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{text}` is not a duration ({EXPECTED})"));
        }
        let (number, after) = rest.split_at(digits);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!("`{text}` has no unit ({EXPECTED})"));
        }
        let Some((_, factor)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!("`{text}`: unknown unit `{unit}` ({EXPECTED})"));
        };
        let term = number
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(*factor))
            .and_then(|ms| total.checked_add(ms));
        total = term.ok_or_else(|| format!("`{text}` is too long a duration"))?;
        rest = next;
    }
    Ok(total)
}

/// Parses `archive --before`: an instant (RFC 3339 or a date, UTC) or an
/// age in the duration grammar, meaning that long before now.
pub fn parse_instant_or_age(text: &str) -> Result<Millis, String> {
    if text.trim().ends_with(|c: char| c.is_ascii_alphabetic()) && !text.contains('-') {
        return parse_duration_ms(text).map(|age| now_millis() - age);
    }
    crate::event::parse_time_bound(text)
}

/// `850ms`, `4m 10s`, `1h 02m`, `3d 04h`: a duration read at a glance, to
/// the two largest units (negative ones keep their sign).
pub fn format_duration_ms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let s = ms / 1000;
    if ms < 1000 {
        format!("{sign}{ms}ms")
    } else if s < 60 && !ms.is_multiple_of(1000) {
        format!("{sign}{:.1}s", ms as f64 / 1000.0)
    } else if s < 60 {
        format!("{sign}{s}s")
    } else if s < 3600 {
        format!("{sign}{}m {:02}s", s / 60, s % 60)
    } else if s < 86400 {
        format!("{sign}{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{sign}{}d {:02}h", s / 86400, (s % 86400) / 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grammar_for_every_unit() {
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("45s"), Ok(45_000));
        assert_eq!(parse_duration_ms("5m"), Ok(300_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_duration_ms("90d"), Ok(90 * 86_400_000));
        assert_eq!(parse_duration_ms("2w"), Ok(14 * 86_400_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms(" 0 "), Ok(0));
    }

    #[test]
    fn bad_durations_say_why() {
        let err = parse_duration_ms("5").unwrap_err();
        assert!(err.contains("has no unit"), "{err}");
        let err = parse_duration_ms("1y").unwrap_err();
        assert!(err.contains("unknown unit `y`"), "{err}");
        assert!(parse_duration_ms("").is_err());
        assert!(parse_duration_ms("m5").is_err());
        assert!(parse_duration_ms("-5m").is_err());
        assert!(parse_duration_ms("99999999999999w")
            .unwrap_err()
            .contains("too long"));
    }

    #[test]
    fn instants_and_ages() {
        let age = now_millis() - parse_instant_or_age("2d").unwrap();
        assert!((2 * 86_400_000..2 * 86_400_000 + 60_000).contains(&age));
        assert_eq!(
            parse_instant_or_age("2016-02-01").unwrap(),
            crate::event::parse_time_bound("2016-02-01").unwrap()
        );
    }

    #[test]
    fn formatting_keeps_the_two_largest_units() {
        assert_eq!(format_duration_ms(850), "850ms");
        assert_eq!(format_duration_ms(2_500), "2.5s");
        assert_eq!(format_duration_ms(30_000), "30s");
        assert_eq!(format_duration_ms(250_000), "4m 10s");
        assert_eq!(format_duration_ms(3_720_000), "1h 02m");
        assert_eq!(format_duration_ms(3 * 86_400_000 + 4 * 3_600_000), "3d 04h");
        assert_eq!(format_duration_ms(-300_000), "-5m 00s");
    }
}
