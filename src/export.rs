//! `export`: canonical JSON lines in (received_at, id) order, streamed one
//! store page at a time.

use std::io::Write;

use crate::store::{scan_all, ScanFilter, Store};

/// Events fetched per store round trip.
pub const EXPORT_PAGE: usize = 10_000;

/// Writes every matching event as one JSON line; returns how many.
pub fn export(
    store: &mut dyn Store,
    filter: &ScanFilter,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    let mut line = String::with_capacity(1024);
    let count = scan_all(store, filter, EXPORT_PAGE, |event| {
        line.clear();
        event.write_json_line(&mut line);
        line.push('\n');
        out.write_all(line.as_bytes())?;
        Ok(())
    })?;
    out.flush()?;
    Ok(count)
}
