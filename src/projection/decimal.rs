//! Exact decimal numbers for projection sums: an `i128` mantissa and a
//! base-10 scale. Money must never pass through floating point, and an i128
//! holds 38 significant digits, far more than any sum of amounts needs, so a
//! hand-rolled fixed-point type is enough and keeps folding allocation-free.
//! Every operation is checked: an overflow is an error, never a wrap.

use std::cmp::Ordering;
use std::fmt;

/// The largest scale kept; more fractional digits than this are rejected
/// rather than rounded, because rounding would make sums inexact.
pub const MAX_SCALE: u32 = 18;

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
        let bytes = text.as_bytes();
        let mut i = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                i = 1;
                true
            }
            Some(b'+') => {
                i = 1;
                false
            }
            _ => false,
        };
        let mut mantissa: i128 = 0;
        let mut scale: i64 = 0;
        let mut digits = 0;
        let mut seen_point = false;
        while i < bytes.len() {
            let b = bytes[i];
            match b {
                b'0'..=b'9' => {
                    mantissa = mantissa.checked_mul(10)?.checked_add((b - b'0') as i128)?;
                    digits += 1;
                    if seen_point {
                        scale += 1;
                    }
                }
                b'.' if !seen_point => seen_point = true,
                b'e' | b'E' => break,
                _ => return None,
            }
            i += 1;
        }
        if digits == 0 {
            return None;
        }
        if i < bytes.len() {
            // Exponent.
            let exp: i64 = text[i + 1..].parse().ok()?;
            scale = scale.checked_sub(exp)?;
        }
        if mantissa == 0 {
            // `0e9000000000000000` is zero: scaling it up would never
            // overflow and so loop 9e18 times.
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
            mantissa: if negative { -mantissa } else { mantissa },
            scale: scale as u32,
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
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = if digits.len() <= scale {
            format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
        } else {
            digits
        };
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn parses_and_prints_exactly() {
        for (input, shown) in [
            ("3.0000", "3.0000"),
            ("12.5", "12.5"),
            ("-0.05", "-0.05"),
            ("+7", "7"),
            ("1e3", "1000"),
            ("2.5E-2", "0.025"),
            (".5", "0.5"),
        ] {
            assert_eq!(d(input).to_string(), shown, "{input}");
        }
        for bad in [
            "",
            "-",
            "1.2.3",
            "abc",
            "1,5",
            "1e",
            "0.0000000000000000001",
        ] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sums_without_float_error() {
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
        let huge = Decimal::parse("99999999999999999999999999999999999999").unwrap();
        assert!(huge.checked_add(&huge).is_none());
    }
}
