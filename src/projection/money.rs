//! Money strings, `AMOUNT/CURRENCY` (`3.0000/EUR`), as the row functions
//! `amount()` and `currency()` read them: split at the last `/`, both sides
//! trimmed, the amount an exact decimal.

use crate::decimal::Decimal;

/// `"3.0000/EUR"` → (3.0000, "EUR").
pub fn split_money(text: &str) -> Result<(Decimal, &str), String> {
    let bad =
        || format!("`{text}` is not a money string (expected AMOUNT/CURRENCY such as 3.0000/EUR)");
    // Byte search and trims that skip Unicode tables when the ends are
    // plain ASCII: a table fold splits one money string per event.
    let slash = memchr::memrchr(b'/', text.as_bytes()).ok_or_else(bad)?;
    let (amount, currency) = (&text[..slash], &text[slash + 1..]);
    let currency = trim(currency);
    if currency.is_empty() {
        return Err(bad());
    }
    let amount = Decimal::parse(trim(amount)).ok_or_else(bad)?;
    Ok((amount, currency))
}

/// `str::trim`, answered without a char walk when both ends are visible
/// ASCII, which is never whitespace.
fn trim(text: &str) -> &str {
    let plain = |b: Option<&u8>| b.is_some_and(u8::is_ascii_graphic);
    let bytes = text.as_bytes();
    if plain(bytes.first()) && plain(bytes.last()) {
        text
    } else {
        text.trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_strings_trim_as_str_trim_does() {
        for text in [
            "3.50/EUR",
            " 3.50 / EUR ",
            "\u{b}3.50/EUR\u{b}",
            "\u{a0}3.50/\u{a0}EUR\u{3000}",
            "-0.5/usd",
        ] {
            let (amount, currency) = text.rsplit_once('/').unwrap();
            let expected = (Decimal::parse(amount.trim()).unwrap(), currency.trim());
            assert_eq!(split_money(text).unwrap(), expected, "{text:?}");
        }
        for bad in ["3.50", "3.50/", "3.50/ ", "/EUR", "1/2/\u{b}", "x/EUR"] {
            assert!(split_money(bad).is_err(), "{bad:?}");
        }
    }
}
