//! The CSV path with a mapping: `import csv` as the CLI runs it (gzip
//! detection, decoding, header, mapping), on arbitrary bytes. The first byte
//! chooses the mapping: UTF-8 with a header, Windows-1252, or a headerless TSV
//! with typed columns.
#![no_main]

use std::sync::OnceLock;

use chronicle::mapping::Mapping;
use chronicle::source::csv::CsvSource;
use chronicle_fuzz::{choose, drain, mapping, scratch_file};
use libfuzzer_sys::fuzz_target;

static MAPPINGS: OnceLock<Vec<Mapping>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let mappings = MAPPINGS.get_or_init(|| {
        vec![
            mapping(
                "legacy-payments.toml",
                include_str!("../../fixtures/csv/legacy-payments.toml"),
            ),
            mapping(
                "legacy-payments.cp1252.toml",
                include_str!("../../fixtures/csv/legacy-payments.cp1252.toml"),
            ),
            mapping(
                "typed-noheader.toml",
                include_str!("../../fixtures/csv/typed-noheader.toml"),
            ),
        ]
    });
    let (which, bytes) = choose(data, mappings.len());
    let path = scratch_file("input.csv", bytes);
    if let Ok((mut source, _meter, _size)) = CsvSource::open(&path, &mappings[which]) {
        drain(&mut source);
    }
});
