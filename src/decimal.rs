//! Exact decimal numbers, in one place: the one grammar for decimal text,
//! the mapping's `decimal` normalisation ([`normalize`]), the plain form of
//! dump decimals ([`decimal128_plain`], [`decimal_string_text`]), the
//! Mongo codec's Decimal128 ↔ JSON number conversions, and the fixed-point
//! [`Decimal`] that projections sum with.
//!
//! Money never passes through floating point. Decimal128 bits are decoded by
//! the bson crate (`Decimal128`'s `Display`, the spec's string form) and
//! only rewritten here without an exponent.

use std::cmp::Ordering;
use std::fmt;

use bson::Decimal128;
use serde_json::Number;

/// The largest scale a [`Decimal`] keeps; more fractional digits than this
/// are rejected rather than rounded, because rounding would make sums
/// inexact.
pub const MAX_SCALE: u32 = 18;

/// Plain forms longer than this keep scientific notation (`1E+6111`).
const MAX_PLAIN_LEN: i32 = 100;

/// Decimal text split into its parts: `[+-]INT[.FRAC][(e|E)[+-]EXP]`, with
/// at least one digit in INT or FRAC (`5.`, `.5` and `05` are decimals).
struct Lexed<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
    exponent: i32,
}

fn lex(text: &str, exponent_allowed: bool) -> Option<Lexed<'_>> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) if exponent_allowed => (&rest[..i], rest[i + 1..].parse::<i32>().ok()?),
        Some(_) => return None,
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some(Lexed {
        negative,
        int,
        frac,
        exponent,
    })
}

/// `digits` with `scale` of them after the point, without leading zeros
/// (`"01250"`, 2 → `12.50`; `"5"`, 3 → `0.005`).
fn fixed_point(negative: bool, digits: &str, scale: usize) -> String {
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let sign = if negative { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits.to_string()
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// Validates a plain decimal (no exponent) and, with a scale, pads or trims
/// trailing zeros to exactly that many places. Never rounds: a value that
/// would lose digits is an error, because sums over events must be exact.
/// Leading zeros go, and a zero loses its sign (`-0.000`, 2 → `0.00`).
pub fn normalize(text: &str, scale: Option<u32>) -> Result<String, String> {
    let lexed =
        lex(text.trim(), false).ok_or_else(|| format!("`{text}` is not a decimal number"))?;
    let mut frac = lexed.frac.to_string();
    if let Some(scale) = scale {
        let scale = scale as usize;
        if frac.len() > scale {
            if frac[scale..].bytes().any(|b| b != b'0') {
                return Err(format!(
                    "`{text}` has more than {scale} decimal places (values are never rounded)"
                ));
            }
            frac.truncate(scale);
        }
        while frac.len() < scale {
            frac.push('0');
        }
    }
    let digits = format!("{}{frac}", lexed.int);
    let is_zero = digits.bytes().all(|b| b == b'0');
    Ok(fixed_point(lexed.negative && !is_zero, &digits, frac.len()))
}

/// `digits` × 10^`exponent` written without an exponent, keeping every
/// digit and the sign (`12345`, -2 → `123.45`; `0`, -2 → `0.00`). Values
/// whose plain form would be very long keep scientific notation
/// (`1.5E+6000`).
pub fn plain_decimal(negative: bool, digits: &str, exponent: i32) -> String {
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let len = digits.len() as i32;
    let plain_len = if exponent >= 0 {
        len.saturating_add(exponent)
    } else {
        len.max(exponent.saturating_neg().saturating_add(1)) + 1
    };
    if plain_len > MAX_PLAIN_LEN {
        let sign = if negative { "-" } else { "" };
        let adjusted = i64::from(exponent) + i64::from(len) - 1;
        let (head, tail) = digits.split_at(1);
        let dot = if tail.is_empty() { "" } else { "." };
        return format!("{sign}{head}{dot}{tail}E{adjusted:+}");
    }
    if exponent >= 0 {
        let zeros = if digits == "0" { 0 } else { exponent as usize };
        return fixed_point(negative, &format!("{digits}{}", "0".repeat(zeros)), 0);
    }
    fixed_point(negative, digits, (-exponent) as usize)
}

/// A decimal string such as Extended JSON's `$numberDecimal` (`"1.0E+3"`,
/// `"-0.50"`, `"NaN"`) in plain form (`1000`, `-0.50`, `NaN`); `None` when
/// it is not a decimal.
pub fn decimal_string_text(text: &str) -> Option<String> {
    let t = text.trim();
    match t {
        "NaN" | "-NaN" => return Some("NaN".into()),
        "Infinity" | "Inf" | "+Infinity" => return Some("Infinity".into()),
        "-Infinity" | "-Inf" => return Some("-Infinity".into()),
        _ => {}
    }
    let lexed = lex(t, true)?;
    let digits = format!("{}{}", lexed.int, lexed.frac);
    let exponent = lexed.exponent.checked_sub(lexed.frac.len() as i32)?;
    Some(plain_decimal(lexed.negative, &digits, exponent))
}

/// A Decimal128 as an exact plain decimal: `1234.50`, `15000`, `-0.005`,
/// `NaN`, `Infinity`. The bson crate decodes the bits and writes the
/// spec's string form (`1.5E+3`); only the exponent is rewritten here.
pub fn decimal128_plain(d: &Decimal128) -> String {
    let spec_form = d.to_string();
    decimal_string_text(&spec_form).unwrap_or(spec_form)
}

/// The JSON number of a Decimal128: exact for the unsigned integers that
/// chronicle writes, the nearest double for any other decimal another tool
/// may have stored; `None` for NaN and the infinities.
pub fn decimal128_to_number(d: &Decimal128) -> Option<Number> {
    let text = d.to_string();
    if let Ok(u) = text.parse::<u64>() {
        return Some(Number::from(u));
    }
    Number::from_f64(text.parse::<f64>().ok()?)
}

/// The Decimal128 of an unsigned integer (JSON integers above `i64::MAX`,
/// which no BSON integer type holds).
pub fn decimal128_from_u64(u: u64) -> Decimal128 {
    u.to_string()
        .parse()
        .expect("every u64 fits a Decimal128's 34 digits")
}

/// An exact decimal for projection sums: an `i128` mantissa and a base-10
/// scale. An i128 holds 38 significant digits, far more than any sum of
/// amounts needs, so folding stays allocation-free. Every operation is
/// checked: an overflow is an error, never a wrap.
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    pub fn from_int(n: i64) -> Decimal {
        Decimal {
            mantissa: n as i128,
            scale: 0,
        }
    }

    /// Parses `12`, `-3.50`, `+0.1`, `1e3`, `2.5E-2`: the forms found in
    /// money strings, numeric strings and JSON numbers.
    pub fn parse(text: &str) -> Option<Decimal> {
        Self::parse_plain(text).or_else(|| Self::parse_general(text))
    }

    /// [`Decimal::parse`] of every form, through the lexer: the reference
    /// that [`Decimal::parse_plain`] is tested against.
    fn parse_general(text: &str) -> Option<Decimal> {
        let lexed = lex(text, true)?;
        let mut mantissa: i128 = 0;
        for b in lexed.int.bytes().chain(lexed.frac.bytes()) {
            mantissa = mantissa.checked_mul(10)?.checked_add((b - b'0') as i128)?;
        }
        let mut scale = (lexed.frac.len() as i64).checked_sub(lexed.exponent as i64)?;
        if mantissa == 0 {
            // `0e2000000000` is zero: scaling it up would never overflow and
            // so loop two billion times.
            scale = scale.max(0);
        }
        while scale < 0 {
            mantissa = mantissa.checked_mul(10)?;
            scale += 1;
        }
        if scale > MAX_SCALE as i64 {
            return None;
        }
        Some(Decimal {
            mantissa: if lexed.negative { -mantissa } else { mantissa },
            scale: scale as u32,
        })
    }

    /// [`Decimal::parse`] of the common form, in one pass: an optional
    /// sign, then at most 18 digits with at most one `.` among or around
    /// them (money amounts). `None` for anything else, which the general
    /// parser then decides, so the two always agree.
    fn parse_plain(text: &str) -> Option<Decimal> {
        let bytes = text.as_bytes();
        let (negative, digits) = match bytes.first()? {
            b'-' => (true, &bytes[1..]),
            b'+' => (false, &bytes[1..]),
            _ => (false, bytes),
        };
        let mut mantissa: u64 = 0;
        let mut count = 0u32;
        let mut point: Option<u32> = None;
        for &b in digits {
            match b {
                // 18 digits fit a u64; more go to the general parser.
                b'0'..=b'9' if count < 18 => {
                    mantissa = mantissa * 10 + u64::from(b - b'0');
                    count += 1;
                }
                b'.' if point.is_none() => point = Some(count),
                _ => return None,
            }
        }
        // No digit at all is not a number.
        if count == 0 {
            return None;
        }
        let scale = point.map_or(0, |p| count - p);
        let mantissa = i128::from(mantissa);
        Some(Decimal {
            mantissa: if negative { -mantissa } else { mantissa },
            scale,
        })
    }

    pub fn scale(&self) -> u32 {
        self.scale
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    fn rescaled(&self, scale: u32) -> Option<i128> {
        let mut m = self.mantissa;
        for _ in self.scale..scale {
            m = m.checked_mul(10)?;
        }
        Some(m)
    }

    /// Exact sum; the scale is the larger of the two.
    pub fn checked_add(&self, other: &Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        Some(Decimal {
            mantissa: self.rescaled(scale)?.checked_add(other.rescaled(scale)?)?,
            scale,
        })
    }

    pub fn checked_sub(&self, other: &Decimal) -> Option<Decimal> {
        self.checked_add(&other.negated()?)
    }

    pub fn checked_mul(&self, other: &Decimal) -> Option<Decimal> {
        let scale = self.scale + other.scale;
        if scale > MAX_SCALE {
            return None;
        }
        Some(Decimal {
            mantissa: self.mantissa.checked_mul(other.mantissa)?,
            scale,
        })
    }

    pub fn negated(&self) -> Option<Decimal> {
        Some(Decimal {
            mantissa: self.mantissa.checked_neg()?,
            scale: self.scale,
        })
    }

    /// The same number without trailing fractional zeros: the identity used
    /// for `count_distinct`, where `3.0` and `3.00` are one value.
    pub fn normalized(&self) -> Decimal {
        let mut d = *self;
        while d.scale > 0 && d.mantissa % 10 == 0 {
            d.mantissa /= 10;
            d.scale -= 1;
        }
        d
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        let scale = self.scale.max(other.scale);
        match (self.rescaled(scale), other.rescaled(scale)) {
            (Some(a), Some(b)) => a.cmp(&b),
            // Rescaling only overflows for huge magnitudes; compare the
            // normalized forms' signs and then fall back to the wider one.
            _ => self
                .normalized()
                .mantissa
                .signum()
                .cmp(&other.normalized().mantissa.signum())
                .then_with(|| self.scale.cmp(&other.scale).reverse()),
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.unsigned_abs().to_string();
        f.write_str(&fixed_point(
            self.mantissa < 0,
            &digits,
            self.scale as usize,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass parser agrees with the general one wherever it answers.
    #[test]
    fn plain_parse_agrees_with_the_general_parser() {
        let general = |text: &str| Decimal::parse_general(text).map(|d| (d.mantissa, d.scale));
        for text in [
            "463.45",
            "-3.50",
            "+0.1",
            "0",
            "-0.00",
            "5.",
            ".5",
            "-.5",
            "007.10",
            "",
            "-",
            "+",
            ".",
            "-.",
            "1.2.3",
            "1..2",
            "1e3",
            "2.5E-2",
            " 1",
            "1 ",
            "1,5",
            "١",
            "123456789012345678",
            "1234567890123456789",
            "0.123456789012345678",
            "0.0000000000000000001",
            "99999999999999999999",
            "--1",
            "+-1",
            "3.0000",
        ] {
            let got = Decimal::parse(text).map(|d| (d.mantissa, d.scale));
            assert_eq!(got, general(text), "{text:?}");
            if let Some(plain) = Decimal::parse_plain(text) {
                assert_eq!(
                    Some((plain.mantissa, plain.scale)),
                    general(text),
                    "{text:?}"
                );
            }
        }
    }

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    fn d128(negative: bool, coefficient: u128, exponent: i32) -> [u8; 16] {
        let biased = (exponent + 6176) as u128;
        let v = (u128::from(negative) << 127) | (biased << 113) | coefficient;
        v.to_le_bytes()
    }

    fn decimal128_text(bytes: &[u8; 16]) -> String {
        decimal128_plain(&Decimal128::from_bytes(*bytes))
    }

    #[test]
    fn one_grammar_for_every_reader() {
        // Accepted by all: signs, a lone point on either side.
        for (text, normal, value) in [
            ("12.50", "12.50", "12.50"),
            ("+7", "7", "7"),
            ("-0.05", "-0.05", "-0.05"),
            (".5", "0.5", "0.5"),
            ("5.", "5", "5"),
            ("0012.50", "12.50", "12.50"),
        ] {
            assert_eq!(normalize(text, None).unwrap(), normal, "{text}");
            assert_eq!(d(text).to_string(), value, "{text}");
            assert_eq!(decimal_string_text(text).unwrap(), normal, "{text}");
        }
        // Rejected by all.
        for bad in ["", "-", ".", "1.2.3", "abc", "1,5", "1e", "--1", "1 2"] {
            assert!(normalize(bad, None).is_err(), "{bad}");
            assert!(Decimal::parse(bad).is_none(), "{bad}");
            assert!(decimal_string_text(bad).is_none(), "{bad}");
        }
        // Exponents: numbers and dump decimals have them, mapped text not.
        assert!(normalize("1e5", None).is_err());
        assert_eq!(d("1e3").to_string(), "1000");
        assert_eq!(d("2.5E-2").to_string(), "0.025");
        assert_eq!(decimal_string_text("1.0E+3").unwrap(), "1000");
        assert_eq!(decimal_string_text("-5E-3").unwrap(), "-0.005");
    }

    #[test]
    fn normalize_scales_without_rounding() {
        assert_eq!(normalize("3", Some(4)).unwrap(), "3.0000");
        assert_eq!(normalize("-0.000", Some(2)).unwrap(), "0.00");
        assert_eq!(normalize("-1.5", Some(2)).unwrap(), "-1.50");
        assert_eq!(normalize(" 1.2300 ", Some(2)).unwrap(), "1.23");
        assert!(normalize("1.2345", Some(2))
            .unwrap_err()
            .contains("more than 2 decimal places"));
        // Arbitrary precision: no digit is lost, however many.
        let long = format!("{}.{}", "9".repeat(150), "1".repeat(20));
        assert_eq!(normalize(&long, None).unwrap(), long);
    }

    #[test]
    fn decimal128_is_exact_and_plain() {
        assert_eq!(decimal128_text(&d128(false, 123450, -2)), "1234.50");
        assert_eq!(decimal128_text(&d128(true, 5, -3)), "-0.005");
        assert_eq!(decimal128_text(&d128(false, 0, -2)), "0.00");
        assert_eq!(decimal128_text(&d128(true, 0, -2)), "-0.00");
        assert_eq!(decimal128_text(&d128(false, 15, 3)), "15000");
        let max = 9_999_999_999_999_999_999_999_999_999_999_999u128;
        assert_eq!(
            decimal128_text(&d128(false, max, 0)),
            "9999999999999999999999999999999999"
        );
        // A coefficient beyond the maximum is a (non-canonical) zero.
        assert_eq!(decimal128_text(&d128(false, max + 1, 0)), "0");
        assert_eq!(decimal128_text(&d128(false, 1, 6111)), "1E+6111");
        let mut special = [0u8; 16];
        special[15] = 0x7c;
        assert_eq!(decimal128_text(&special), "NaN");
        special[15] = 0x78;
        assert_eq!(decimal128_text(&special), "Infinity");
        special[15] = 0xf8;
        assert_eq!(decimal128_text(&special), "-Infinity");
    }

    #[test]
    fn decimal128_json_numbers() {
        let n =
            |negative, c, e| decimal128_to_number(&Decimal128::from_bytes(d128(negative, c, e)));
        assert_eq!(
            n(false, 18_446_744_073_709_551_615, 0),
            Some(Number::from(u64::MAX))
        );
        assert_eq!(n(false, 15, 3), Number::from_f64(15000.0));
        assert_eq!(n(true, 1250, -2), Number::from_f64(-12.5));
        let mut nan = [0u8; 16];
        nan[15] = 0x7c;
        assert_eq!(decimal128_to_number(&Decimal128::from_bytes(nan)), None);
        let big = decimal128_from_u64(u64::MAX);
        assert_eq!(decimal128_to_number(&big), Some(Number::from(u64::MAX)));
        assert_eq!(big.bytes(), d128(false, u64::MAX as u128, 0));
    }

    #[test]
    fn fixed_point_sums_without_float_error() {
        let mut total = Decimal::ZERO;
        for _ in 0..1000 {
            total = total.checked_add(&d("0.10")).unwrap();
        }
        assert_eq!(total.to_string(), "100.00");
        assert_eq!(
            d("3.0000").checked_sub(&d("12.5")).unwrap().to_string(),
            "-9.5000"
        );
        assert_eq!(
            d("1.5").checked_mul(&d("-2.25")).unwrap().to_string(),
            "-3.375"
        );
        assert!(d("3.0") == d("3.00"));
        assert!(d("-1") < d("0.5"));
        assert_eq!(d("3.500").normalized().to_string(), "3.5");
        assert!(Decimal::parse("0.0000000000000000001").is_none());
        let huge = d("99999999999999999999999999999999999999");
        assert!(huge.checked_add(&huge).is_none());
    }
}
