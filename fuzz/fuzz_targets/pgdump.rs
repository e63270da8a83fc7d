//! The pg_dump plain-format reader (SQL lexer, COPY blocks, INSERTs) on
//! arbitrary bytes. The first byte chooses the mapping: `public.payments`
//! or the ledger table with its own column types.
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use chronicle::mapping::Mapping;
use chronicle::source::pgdump::PgDumpSource;
use chronicle_fuzz::{choose, drain, mapping};
use libfuzzer_sys::fuzz_target;

static MAPPINGS: OnceLock<Vec<Mapping>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let mappings = MAPPINGS.get_or_init(|| {
        vec![
            mapping(
                "payments-pg.toml",
                include_str!("../../fixtures/dumps/payments-pg.toml"),
            ),
            mapping(
                "ledger-pg.toml",
                include_str!("../../fixtures/dumps/ledger-pg.toml"),
            ),
        ]
    });
    let (which, bytes) = choose(data, mappings.len());
    let input = Box::new(Cursor::new(bytes.to_vec()));
    if let Ok(mut source) = PgDumpSource::new(input, &mappings[which]) {
        drain(&mut source);
    }
});
