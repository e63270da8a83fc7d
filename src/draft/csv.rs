//! Sniffing a CSV file for `mapping draft`: encoding (UTF-8, else
//! Windows-1252), delimiter (the candidate that splits the head into the
//! most consistent number of fields), quoting, and whether the first row is
//! a header (it is when its values do not fit the types of the rows below,
//! as DuckDB's `sniff_csv` decides). Reads a bounded head for the dialect
//! and at most [`super::SAMPLE_RECORDS`] records for the column profiles.

use std::io::Read;

use anyhow::Context;
use std::path::Path;

use csv::StringRecord;

use super::profile::{ColumnType, Profiler};
use crate::source::open_input;

/// Bytes of the file's head used for the encoding and the delimiter.
const HEAD_BYTES: usize = 1 << 20;
/// Records of the head compared per delimiter candidate.
const DIALECT_RECORDS: usize = 200;
const DELIMITERS: &[u8] = b",;\t|";

/// The sniffed dialect and the sample's profiles.
#[derive(Debug)]
pub struct CsvSniff {
    /// `utf-8` or `windows-1252`.
    pub encoding: &'static str,
    pub bom: bool,
    pub delimiter: u8,
    pub quote: u8,
    /// Whether any sampled field was quoted.
    pub quoted: bool,
    pub has_header: bool,
    /// Fields per record, and how many sampled records had another count.
    pub fields: usize,
    pub irregular: u64,
    pub columns: Vec<String>,
    pub profiler: Profiler,
}

/// Reads the head and a sample of `path` (plain or gzip).
pub fn sniff(path: &Path, max_records: usize) -> anyhow::Result<CsvSniff> {
    sniff_as(path, max_records, false)
}

/// With `force_1252`, the head looked like UTF-8 but a sampled record was
/// not: the whole file is read as Windows-1252 (which decodes any byte).
fn sniff_as(path: &Path, max_records: usize, force_1252: bool) -> anyhow::Result<CsvSniff> {
    let mut head = Vec::new();
    open_input(path)?
        .reader
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut head)?;
    let truncated = head.len() == HEAD_BYTES;
    let bom = head.starts_with(b"\xef\xbb\xbf");
    let utf8 = !force_1252
        && match std::str::from_utf8(&head) {
            Ok(_) => true,
            // A multi-byte character cut at the end of the head is fine.
            Err(e) => e.error_len().is_none(),
        };
    let encoding = if utf8 {
        encoding_rs::UTF_8
    } else {
        encoding_rs::WINDOWS_1252
    };
    let (text, _, _) = encoding.decode(&head);
    let text = text.trim_start_matches('\u{feff}');

    let quote = b'"';
    let mut best: Option<(u8, usize, f64)> = None;
    for &delimiter in DELIMITERS {
        let counts = field_counts(text, delimiter, quote, truncated);
        let Some((fields, share)) = mode(&counts) else {
            continue;
        };
        if fields < 2 {
            continue;
        }
        let better = match best {
            None => true,
            Some((_, f, s)) => share > s + 1e-9 || ((share - s).abs() < 1e-9 && fields > f),
        };
        if better {
            best = Some((delimiter, fields, share));
        }
    }
    let delimiter = best.map(|(d, _, _)| d).unwrap_or(b',');
    let quoted = text.as_bytes().contains(&quote);

    // The sample: every record as text, the first one kept apart until the
    // header is decided.
    let input = open_input(path)?;
    let decoded: Box<dyn Read> = if utf8 {
        Box::new(input.reader)
    } else {
        Box::new(
            encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding_rs::WINDOWS_1252))
                .build(input.reader),
        )
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(decoded);
    let mut bytes = csv::ByteRecord::new();
    let mut record;
    let mut first: Option<StringRecord> = None;
    let mut fields = 0;
    let mut profiler = Profiler::default();
    let mut irregular = 0u64;
    let mut read = 0usize;
    while read <= max_records
        && reader
            .read_byte_record(&mut bytes)
            .with_context(|| format!("cannot read {}", path.display()))?
    {
        read += 1;
        record = match StringRecord::from_byte_record(bytes.clone()) {
            Ok(r) => r,
            // Not UTF-8 after all: an export in a legacy encoding whose
            // head happened to be ASCII.
            Err(_) => return sniff_as(path, max_records, true),
        };
        if first.is_none() {
            let mut r = record.clone();
            if let Some(f) = r.get(0) {
                if f.starts_with('\u{feff}') {
                    let mut v: Vec<String> = r.iter().map(str::to_string).collect();
                    v[0] = v[0].trim_start_matches('\u{feff}').to_string();
                    r = StringRecord::from(v);
                }
            }
            fields = r.len();
            profiler = Profiler::with_columns(
                &(0..fields)
                    .map(|i| format!("column{i}"))
                    .collect::<Vec<_>>(),
            );
            first = Some(r);
            continue;
        }
        if record.len() != fields {
            irregular += 1;
            continue;
        }
        profiler.add_row(record.iter().map(Some));
    }
    let first = first.unwrap_or_default();
    let has_header = looks_like_header(&first, &profiler);
    let columns: Vec<String> = if has_header {
        first
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let name = name.trim();
                if name.is_empty() {
                    format!("column{i}")
                } else {
                    name.to_string()
                }
            })
            .collect()
    } else {
        profiler.add_row(first.iter().map(Some));
        (0..fields).map(|i| format!("column{i}")).collect()
    };
    for (profile, name) in profiler.columns.iter_mut().zip(&columns) {
        profile.name = name.clone();
    }
    Ok(CsvSniff {
        encoding: if utf8 { "utf-8" } else { "windows-1252" },
        bom,
        delimiter,
        quote,
        quoted,
        has_header,
        fields,
        irregular,
        columns,
        profiler,
    })
}

/// Fields per record of the head with one delimiter candidate.
fn field_counts(text: &str, delimiter: u8, quote: u8, truncated: bool) -> Vec<usize> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut counts: Vec<usize> = reader
        .records()
        .take(DIALECT_RECORDS + 1)
        .map_while(Result::ok)
        .map(|r| r.len())
        .collect();
    if truncated || counts.len() > DIALECT_RECORDS {
        counts.pop();
    }
    counts
}

/// The most frequent count and the share of records that have it.
fn mode(counts: &[usize]) -> Option<(usize, f64)> {
    let mut tally: Vec<(usize, usize)> = Vec::new();
    for &c in counts {
        match tally.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => tally.push((c, 1)),
        }
    }
    let (fields, n) = tally.into_iter().max_by_key(|(k, n)| (*n, *k))?;
    Some((fields, n as f64 / counts.len() as f64))
}

/// The first row is a header when one of its values does not fit the type
/// of its column below; when every column is text, when its values are all
/// non-empty, distinct, and none of them recurs in its column.
fn looks_like_header(first: &StringRecord, profiler: &Profiler) -> bool {
    if profiler.records == 0 {
        return first.iter().all(|v| !v.trim().is_empty());
    }
    let reports = profiler.reports();
    let mut all_text = true;
    for (value, report) in first.iter().zip(&reports) {
        if report.column_type == ColumnType::String || report.column_type == ColumnType::Json {
            continue;
        }
        all_text = false;
        let mut probe = super::profile::ColumnProfile::new("probe");
        if value.is_empty() {
            continue;
        }
        probe.add(value);
        let fits = match &report.column_type {
            ColumnType::Timestamp { format } => probe.all_fit_time(format),
            other => {
                probe.report(1).column_type.name() == other.name()
                    || (matches!(other, ColumnType::Decimal { .. })
                        && probe.report(1).column_type == ColumnType::Int)
            }
        };
        if !fits {
            return true;
        }
    }
    if !all_text {
        return false;
    }
    let mut seen = std::collections::HashSet::new();
    first
        .iter()
        .all(|v| !v.trim().is_empty() && seen.insert(v.to_string()))
        && first.iter().zip(&reports).all(|(v, r)| {
            r.few_values
                .as_ref()
                .is_none_or(|few| !few.iter().any(|f| f == v))
        })
}
