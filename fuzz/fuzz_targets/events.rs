//! `import events`: canonical events as JSON lines (the output of `export`),
//! read from a file as the CLI does, including gzip detection.
#![no_main]

use chronicle::source::events::JsonLinesSource;
use chronicle_fuzz::{drain, scratch_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("events.jsonl", data);
    if let Ok((mut source, _meter, _size)) = JsonLinesSource::open(&path) {
        drain(&mut source);
    }
});
