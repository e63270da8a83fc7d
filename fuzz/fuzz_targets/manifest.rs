//! The archive manifest reader: `_manifest.json` of a partition folder, as
//! `archive`, `verify` and `replay` load it, with the checks of its entries.
//! A manifest that loads must survive being written back and read again, and
//! its totals must not overflow.
#![no_main]

use chronicle::archive::layout::{Partition, MANIFEST};
use chronicle::archive::manifest::Manifest;
use chronicle_fuzz::scratch_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = scratch_path("archive");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(dir.join(MANIFEST), data).expect("write manifest");
    let partition = Partition {
        year: 2016,
        month: 1,
        day: None,
    };
    if let Ok(manifest) = Manifest::load(&dir, &partition) {
        // What `verify` does with a manifest as it is, then what every other
        // reader does (the checked load).
        let problems = manifest.problems(&partition);
        let checked = Manifest::load_checked(&dir, &partition);
        assert_eq!(problems.is_empty(), checked.is_ok());
        let _ = manifest.rows();
        let _ = manifest.bytes();
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
        let back: Manifest = serde_json::from_str(&text).expect("saved manifest loads");
        assert_eq!(back, manifest);
    }
});
