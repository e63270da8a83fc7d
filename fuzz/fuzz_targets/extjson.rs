//! The mongoexport Extended JSON reader (JSON lines or one array, canonical and relaxed) on arbitrary bytes, with the orders mapping
//! (dotted paths into nested documents and arrays).
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use chronicle::mapping::Mapping;
use chronicle::source::extjson::ExtJsonSource;
use chronicle_fuzz::{drain, mapping};
use libfuzzer_sys::fuzz_target;

static MAPPING: OnceLock<Mapping> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let mapping = MAPPING.get_or_init(|| {
        mapping(
            "orders.toml",
            include_str!("../../fixtures/dumps/orders.toml"),
        )
    });
    let input = Box::new(Cursor::new(data.to_vec()));
    if let Ok(mut source) = ExtJsonSource::new(input, mapping) {
        drain(&mut source);
    }
});
