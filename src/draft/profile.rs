//! Column profiling for `mapping draft`: from a bounded sample of text
//! values, which type every value of a column fits (int, decimal with its
//! scale, bool, timestamp with its strftime format, JSON, else string), how
//! often it is empty, and whether it is unique in the sample (a candidate
//! key). Types are strict, as DuckDB's `sniff_csv` has them: one value that
//! does not fit makes the column a string. Timestamps also keep a lenient
//! count, because `created_at` must come from somewhere even when a few
//! rows are broken (those rows are rejected at import, with their reason).

use std::collections::HashSet;

use chrono::format::{parse, Parsed, StrftimeItems};
use serde::Serialize;

use crate::decimal::normalize as normalize_decimal;
use crate::mapping::parse_bool;

/// Timestamp layouts tried, in order of preference. `rfc3339` is the
/// mapping's own name for RFC 3339; the others are chrono strftime patterns.
const TIME_FORMATS: &[&str] = &[
    "rfc3339",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y",
];

/// Distinct values remembered per column for the low-cardinality check.
const FEW_DISTINCT: usize = 12;

/// The type a column's values fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Int,
    Decimal { scale: u32 },
    Bool,
    Timestamp { format: String },
    Json,
}

impl ColumnType {
    pub fn name(&self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Int => "int",
            ColumnType::Decimal { .. } => "decimal",
            ColumnType::Bool => "bool",
            ColumnType::Timestamp { .. } => "timestamp",
            ColumnType::Json => "json",
        }
    }
}

/// What the sample says about one column.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnReport {
    pub name: String,
    #[serde(flatten)]
    pub column_type: ColumnType,
    /// Empty (or null, or missing) values / sampled records.
    pub empty_ratio: f64,
    pub empties: u64,
    /// No empty value and no value twice in the sample.
    pub unique: bool,
    /// Up to [`FEW_DISTINCT`] distinct values when the column has no more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub few_values: Option<Vec<String>>,
    /// The first non-empty value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    /// The timestamp format most values fit, and how many do not, when the
    /// column is not strictly a timestamp but mostly is.
    #[serde(skip)]
    pub mostly_time: Option<(String, u64)>,
    /// Unix seconds / milliseconds, judged from a numeric column's range.
    #[serde(skip)]
    pub unix: Option<&'static str>,
}

/// Accumulates one column's values.
#[derive(Debug)]
pub struct ColumnProfile {
    pub name: String,
    values: u64,
    int_ok: bool,
    decimal_ok: bool,
    has_point: bool,
    scale: u32,
    bool_ok: bool,
    json_ok: bool,
    /// (format index, values that fit)
    time_fits: Vec<u64>,
    distinct: HashSet<String>,
    repeated: bool,
    /// Repeated values and more than [`FEW_DISTINCT`] distinct ones.
    many: bool,
    example: Option<String>,
    min: f64,
    max: f64,
}

impl ColumnProfile {
    pub fn new(name: &str) -> ColumnProfile {
        ColumnProfile {
            name: name.to_string(),
            values: 0,
            int_ok: true,
            decimal_ok: true,
            has_point: false,
            scale: 0,
            bool_ok: true,
            json_ok: true,
            time_fits: vec![0; TIME_FORMATS.len()],
            distinct: HashSet::new(),
            repeated: false,
            many: false,
            example: None,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Adds one non-empty value.
    pub fn add(&mut self, value: &str) {
        self.values += 1;
        if self.example.is_none() {
            self.example = Some(value.to_string());
        }
        // All values are kept while the column may be unique; after the
        // first repeat only while it may still have few distinct values.
        if !self.many && !self.distinct.contains(value) {
            self.distinct.insert(value.to_string());
            if self.repeated && self.distinct.len() > FEW_DISTINCT {
                self.many = true;
                self.distinct = HashSet::new();
            }
        } else if !self.many {
            self.repeated = true;
            if self.distinct.len() > FEW_DISTINCT {
                self.many = true;
                self.distinct = HashSet::new();
            }
        }
        let t = value.trim();
        // Leading zeros ("00123") are codes, not numbers: an int or decimal
        // type would drop them.
        let digits = t.trim_start_matches(['+', '-']);
        let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
        let is_int = !leading_zero && t.parse::<i64>().is_ok();
        self.int_ok &= is_int;
        let is_decimal = !leading_zero
            && t.bytes().any(|b| b.is_ascii_digit())
            && normalize_decimal(t, None).is_ok();
        self.decimal_ok &= is_decimal;
        if is_decimal {
            if let Some((_, frac)) = t.split_once('.') {
                self.has_point = true;
                self.scale = self.scale.max(frac.len() as u32);
            }
            if let Ok(f) = t.parse::<f64>() {
                self.min = self.min.min(f);
                self.max = self.max.max(f);
            }
        }
        self.bool_ok &= !is_int && parse_bool(t).is_some();
        if self.json_ok {
            self.json_ok = (t.starts_with('{') || t.starts_with('['))
                && serde_json::from_str::<serde_json::Value>(t).is_ok();
        }
        if !is_decimal {
            for (i, format) in TIME_FORMATS.iter().enumerate() {
                if fits_time(format, t) {
                    self.time_fits[i] += 1;
                }
            }
        }
    }

    /// The column's report, given how many records were sampled.
    pub fn report(&self, records: u64) -> ColumnReport {
        let column_type = if self.values == 0 {
            ColumnType::String
        } else if self.bool_ok {
            ColumnType::Bool
        } else if self.int_ok {
            ColumnType::Int
        } else if self.decimal_ok {
            if self.has_point {
                ColumnType::Decimal { scale: self.scale }
            } else {
                ColumnType::Int
            }
        } else if let Some(i) = self.time_fits.iter().position(|&n| n == self.values) {
            ColumnType::Timestamp {
                format: TIME_FORMATS[i].to_string(),
            }
        } else if self.json_ok {
            ColumnType::Json
        } else {
            ColumnType::String
        };
        // Mostly timestamps: at least nine in ten values fit one format.
        let mostly_time = match &column_type {
            ColumnType::String => {
                let (i, fits) = self
                    .time_fits
                    .iter()
                    .enumerate()
                    .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))
                    .expect("formats");
                (*fits > 0 && *fits * 10 >= self.values * 9)
                    .then(|| (TIME_FORMATS[i].to_string(), self.values - fits))
            }
            _ => None,
        };
        let unix = match column_type {
            ColumnType::Int | ColumnType::Decimal { .. } if self.min > 0.0 => {
                if self.min >= 1e8 && self.max < 1e10 {
                    Some("unix")
                } else if self.min >= 1e11 && self.max < 1e13 {
                    Some("unix_ms")
                } else {
                    None
                }
            }
            _ => None,
        };
        let empties = records.saturating_sub(self.values);
        let few_values = (!self.many)
            .then(|| {
                let mut v: Vec<String> = self.distinct.iter().cloned().collect();
                v.sort();
                v
            })
            .filter(|v| v.len() <= FEW_DISTINCT && v.len() * 2 <= self.values as usize);
        ColumnReport {
            name: self.name.clone(),
            column_type,
            empty_ratio: if records == 0 {
                0.0
            } else {
                ((empties as f64 / records as f64) * 1000.0).round() / 1000.0
            },
            empties,
            unique: empties == 0 && !self.repeated && self.values > 0,
            few_values,
            example: self.example.clone(),
            mostly_time,
            unix,
        }
    }

    /// Whether every value so far fits `format` and the column has values.
    pub fn all_fit_time(&self, format: &str) -> bool {
        TIME_FORMATS
            .iter()
            .position(|f| *f == format)
            .is_some_and(|i| self.values > 0 && self.time_fits[i] == self.values)
    }
}

/// Whether `text` parses completely with `format` (see [`TIME_FORMATS`]).
pub fn fits_time(format: &str, text: &str) -> bool {
    if format == "rfc3339" {
        return chrono::DateTime::parse_from_rfc3339(text).is_ok();
    }
    let mut parsed = Parsed::new();
    if parse(&mut parsed, text, StrftimeItems::new(format)).is_err() {
        return false;
    }
    if format.contains("%#z") {
        return parsed.to_datetime().is_ok();
    }
    let date_ok = parsed.to_naive_date().is_ok();
    let time_ok = parsed.hour_div_12.is_none() || parsed.to_naive_time().is_ok();
    date_ok && time_ok
}

/// Profiles of every column of a sample, in order of first appearance.
#[derive(Debug, Default)]
pub struct Profiler {
    pub columns: Vec<ColumnProfile>,
    pub records: u64,
}

impl Profiler {
    pub fn with_columns(names: &[String]) -> Profiler {
        Profiler {
            columns: names.iter().map(|n| ColumnProfile::new(n)).collect(),
            records: 0,
        }
    }

    /// Adds one record whose values are in column order (`None` or `""` is
    /// empty).
    pub fn add_row<'a>(&mut self, values: impl IntoIterator<Item = Option<&'a str>>) {
        self.records += 1;
        for (column, value) in self.columns.iter_mut().zip(values) {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                column.add(v);
            }
        }
    }

    /// Adds one record of named values; new names become new columns.
    pub fn add_named<'a>(&mut self, values: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) {
        self.records += 1;
        for (name, value) in values {
            let i = match self.columns.iter().position(|c| c.name == name) {
                Some(i) => i,
                None => {
                    self.columns.push(ColumnProfile::new(name));
                    self.columns.len() - 1
                }
            };
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                self.columns[i].add(v);
            }
        }
    }

    pub fn reports(&self) -> Vec<ColumnReport> {
        self.columns
            .iter()
            .map(|c| c.report(self.records))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(values: &[&str]) -> ColumnReport {
        let mut p = Profiler::with_columns(&["c".to_string()]);
        for v in values {
            p.add_row([Some(*v)]);
        }
        p.reports().remove(0)
    }

    #[test]
    fn types_are_strict() {
        assert_eq!(report(&["1", "-2", "30"]).column_type, ColumnType::Int);
        assert_eq!(
            report(&["1.50", "2", ".125"]).column_type,
            ColumnType::Decimal { scale: 3 }
        );
        assert_eq!(report(&["true", "no"]).column_type, ColumnType::Bool);
        assert_eq!(report(&["1", "abc"]).column_type, ColumnType::String);
        assert_eq!(report(&["007", "008"]).column_type, ColumnType::String);
        assert_eq!(
            report(&["2016-01-01 13:00:00", "2016-01-02 09:15:30"]).column_type,
            ColumnType::Timestamp {
                format: "%Y-%m-%d %H:%M:%S".into()
            }
        );
        assert_eq!(
            report(&["2016-01-01 13:00:00+01", "2016-01-02 09:15:30+02"]).column_type,
            ColumnType::Timestamp {
                format: "%Y-%m-%d %H:%M:%S%#z".into()
            }
        );
        assert_eq!(
            report(&["2017-06-03T09:00:00Z"]).column_type,
            ColumnType::Timestamp {
                format: "rfc3339".into()
            }
        );
        assert_eq!(report(&["{\"a\":1}", "[1]"]).column_type, ColumnType::Json);
    }

    #[test]
    fn mostly_timestamps_and_keys() {
        let mut values = vec!["2016-01-01 13:00:00"; 9];
        values.push("not-a-date");
        let r = report(&values);
        assert_eq!(r.column_type, ColumnType::String);
        assert_eq!(r.mostly_time, Some(("%Y-%m-%d %H:%M:%S".into(), 1)));
        assert!(!r.unique);
        let r = report(&["a", "b", "c"]);
        assert!(r.unique);
        let mut p = Profiler::with_columns(&["c".to_string()]);
        p.add_row([Some("a")]);
        p.add_row([Some("")]);
        let r = p.reports().remove(0);
        assert!(!r.unique);
        assert_eq!(r.empty_ratio, 0.5);
    }
}
