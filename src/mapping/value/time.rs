//! Timestamps in mapped values: the formats (`rfc3339`, `unix`, `unix_ms`
//! or a strftime pattern), the time zone of local times, and what a local
//! time that happens twice or never (daylight saving) becomes.

use chrono::format::{Fixed, Item, Numeric, Parsed, StrftimeItems};
use chrono::{LocalResult, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

use super::CompileContext;
use crate::event::{format_millis, Millis};
use crate::mapping::MappingError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ambiguous {
    Earliest,
    Latest,
    Reject,
}

#[derive(Debug)]
enum TimeFormat {
    Rfc3339,
    UnixSeconds,
    UnixMillis,
    Pattern {
        pattern: &'static str,
        items: Vec<Item<'static>>,
        has_offset: bool,
    },
}

#[derive(Debug)]
pub(super) struct TimeParser {
    format: TimeFormat,
    zone: Option<Tz>,
    ambiguous: Ambiguous,
}

impl CompileContext<'_> {
    pub(super) fn time_parser(
        &self,
        key: &str,
        format: Option<&str>,
        timezone: Option<&str>,
        ambiguous: Option<&str>,
    ) -> Result<TimeParser, MappingError> {
        let format = match format.unwrap_or("rfc3339") {
            "rfc3339" | "iso8601" => TimeFormat::Rfc3339,
            "unix" | "unix_s" => TimeFormat::UnixSeconds,
            "unix_ms" => TimeFormat::UnixMillis,
            pattern => {
                // Leaked once per mapping key so the parsed items can be
                // 'static and reused for every row.
                let pattern: &'static str = Box::leak(pattern.to_string().into_boxed_str());
                let items: Vec<Item<'static>> = StrftimeItems::new(pattern).collect();
                if items.iter().any(|i| matches!(i, Item::Error)) {
                    return Err(self.error(
                        key,
                        format!("bad format string `{pattern}` (see chrono's strftime specifiers)"),
                    ));
                }
                let has_date = items.iter().any(|i| {
                    matches!(
                        i,
                        Item::Numeric(Numeric::Year | Numeric::Day | Numeric::Ordinal, _)
                            | Item::Fixed(Fixed::RFC2822 | Fixed::RFC3339)
                    )
                });
                if !has_date {
                    return Err(self.error(key, format!("format string `{pattern}` has no date (needs at least %Y and %d, or %s)")));
                }
                let has_offset = items.iter().any(|i| {
                    matches!(
                        i,
                        Item::Fixed(
                            Fixed::TimezoneOffset
                                | Fixed::TimezoneOffsetColon
                                | Fixed::TimezoneOffsetColonZ
                                | Fixed::TimezoneOffsetZ
                                | Fixed::RFC2822
                                | Fixed::RFC3339
                        )
                    )
                });
                // `%#z` (an offset whose minutes may be missing, as in
                // PostgreSQL's `+01`) parses to an internal item that the
                // match above cannot name.
                let has_offset = has_offset || pattern.contains("%#z");
                TimeFormat::Pattern {
                    pattern,
                    items,
                    has_offset,
                }
            }
        };
        let zone = match timezone {
            None | Some("UTC") | Some("utc") | Some("Z") => None,
            Some(name) => Some(name.parse::<Tz>().map_err(|_| {
                self.error(
                    key,
                    format!("unknown time zone `{name}` (use an IANA name such as Europe/Berlin)"),
                )
            })?),
        };
        let ambiguous = match ambiguous.unwrap_or("earliest") {
            "earliest" => Ambiguous::Earliest,
            "latest" => Ambiguous::Latest,
            "reject" => Ambiguous::Reject,
            other => {
                return Err(self.error(
                    key,
                    format!(
                        "unknown `ambiguous` policy `{other}`; expected earliest, latest or reject"
                    ),
                ))
            }
        };
        Ok(TimeParser {
            format,
            zone,
            ambiguous,
        })
    }
}

impl TimeParser {
    pub(super) fn parse(&self, text: &str) -> Result<Millis, String> {
        self.parse_any(text).and_then(|ms| {
            crate::event::within_calendar(ms).map_err(|e| format!("`{}`: {e}", text.trim()))
        })
    }

    /// The instant `text` names, before the calendar range is checked.
    fn parse_any(&self, text: &str) -> Result<Millis, String> {
        let text = text.trim();
        let naive = match &self.format {
            TimeFormat::Rfc3339 => {
                return chrono::DateTime::parse_from_rfc3339(text)
                    .map(|t| t.timestamp_millis())
                    .map_err(|_| format!("`{text}` is not an RFC 3339 timestamp"))
            }
            TimeFormat::UnixSeconds => {
                let secs: f64 = text
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite())
                    .ok_or_else(|| format!("`{text}` is not a Unix time in seconds"))?;
                // Saturating: the calendar check refuses what is far out.
                return Ok((secs * 1000.0).round() as Millis);
            }
            TimeFormat::UnixMillis => {
                return text
                    .parse()
                    .map_err(|_| format!("`{text}` is not a Unix time in milliseconds"))
            }
            TimeFormat::Pattern {
                pattern,
                items,
                has_offset,
            } => {
                let mut parsed = Parsed::new();
                chrono::format::parse(&mut parsed, text, items.iter())
                    .map_err(|e| format!("`{text}` does not match the format `{pattern}`: {e}"))?;
                if *has_offset {
                    let t = parsed
                        .to_datetime()
                        .map_err(|e| format!("`{text}` is not a complete timestamp ({e})"))?;
                    return Ok(t.timestamp_millis());
                }
                let date = parsed
                    .to_naive_date()
                    .map_err(|e| format!("`{text}` is not a valid date ({e})"))?;
                let time = if parsed.hour_div_12.is_some() || parsed.hour_mod_12.is_some() {
                    parsed
                        .to_naive_time()
                        .map_err(|e| format!("`{text}` is not a valid time ({e})"))?
                } else {
                    NaiveTime::MIN
                };
                NaiveDateTime::new(date, time)
            }
        };
        let Some(zone) = self.zone else {
            return Ok(naive.and_utc().timestamp_millis());
        };
        match zone.from_local_datetime(&naive) {
            LocalResult::Single(t) => Ok(t.timestamp_millis()),
            LocalResult::Ambiguous(earliest, latest) => match self.ambiguous {
                Ambiguous::Earliest => Ok(earliest.timestamp_millis()),
                Ambiguous::Latest => Ok(latest.timestamp_millis()),
                Ambiguous::Reject => Err(format!(
                    "`{text}` is ambiguous in {zone} (the clock went back; it is {} or {})",
                    format_millis(earliest.timestamp_millis()),
                    format_millis(latest.timestamp_millis())
                )),
            },
            LocalResult::None => Err(format!(
                "`{text}` does not exist in {zone}: it falls in the daylight-saving gap"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berlin_dst_gap_and_overlap() {
        let parser = |amb| TimeParser {
            format: TimeFormat::Pattern {
                pattern: "%Y-%m-%d %H:%M:%S",
                items: StrftimeItems::new("%Y-%m-%d %H:%M:%S").collect(),
                has_offset: false,
            },
            zone: Some(chrono_tz::Europe::Berlin),
            ambiguous: amb,
        };
        // 2021-03-28 02:30 does not exist in Berlin.
        assert!(parser(Ambiguous::Earliest)
            .parse("2021-03-28 02:30:00")
            .unwrap_err()
            .contains("gap"));
        // 2021-10-31 02:30 happens twice: 00:30Z (CEST) and 01:30Z (CET).
        let early = parser(Ambiguous::Earliest)
            .parse("2021-10-31 02:30:00")
            .unwrap();
        assert_eq!(format_millis(early), "2021-10-31T00:30:00.000Z");
        let late = parser(Ambiguous::Latest)
            .parse("2021-10-31 02:30:00")
            .unwrap();
        assert_eq!(format_millis(late), "2021-10-31T01:30:00.000Z");
        assert!(parser(Ambiguous::Reject)
            .parse("2021-10-31 02:30:00")
            .is_err());
        let winter = parser(Ambiguous::Earliest)
            .parse("2016-01-01 13:00:00")
            .unwrap();
        assert_eq!(format_millis(winter), "2016-01-01T12:00:00.000Z");
    }
}
