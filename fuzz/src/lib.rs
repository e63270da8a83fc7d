//! Shared plumbing of the fuzz targets: driving a source to its end while
//! checking the invariants every source promises, and the scratch files the
//! path-based readers (CSV, `import events`, manifests) need. The targets
//! themselves only choose a mapping and call into the library's public API.

use std::path::PathBuf;

use chronicle::event::Event;
use chronicle::mapping::Mapping;
use chronicle::source::{EventSource, Item, RawRecord};

/// Parses one of the committed mappings; they are fixtures, so a failure is a
/// broken fuzz build, not a finding.
pub fn mapping(name: &str, text: &str) -> Mapping {
    Mapping::parse(name, text).expect("fixture mapping parses")
}

/// Pulls items until the end or the first fatal error. Every event must
/// survive the canonical export/import round trip unchanged (otherwise a
/// re-import of an export would report conflicts), and every reject must say
/// why.
pub fn drain(source: &mut dyn EventSource) {
    loop {
        match source.next_item() {
            Ok(None) | Err(_) => return,
            Ok(Some(Item::Event { event, line })) => {
                let _ = line;
                check_round_trip(&event);
            }
            Ok(Some(Item::Rejected(reject))) => {
                assert!(!reject.reason.is_empty(), "reject without a reason");
                match reject.raw {
                    RawRecord::Csv(_) | RawRecord::Text(_) | RawRecord::Binary { .. } => {}
                }
            }
            Ok(Some(Item::Skipped)) => {}
        }
    }
}

/// `export` then `import events` must give back the same event.
pub fn check_round_trip(event: &Event) {
    let line = event.to_json_line();
    let back = Event::from_json_str(&line)
        .unwrap_or_else(|e| panic!("exported event does not re-import: {e}\n{line}"));
    assert!(
        back.same_content(event),
        "event changes on export/import:\n{line}\n{}",
        back.to_json_line()
    );
}

/// A per-process scratch path in tmpfs when there is one: the CSV and
/// `import events` readers open files by path, as the CLI does.
pub fn scratch_path(name: &str) -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("chronicle-fuzz-{}-{name}", std::process::id()))
}

/// Writes `bytes` to the scratch file `name` and returns its path.
pub fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_path(name);
    std::fs::write(&path, bytes).expect("write scratch file");
    path
}

/// Splits off the first byte to choose among `n` variants (mappings).
pub fn choose(data: &[u8], n: usize) -> (usize, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (*first as usize % n, rest),
        None => (0, data),
    }
}
