//! `export`: canonical JSON lines in (received_at, id) order, streamed one
//! store page at a time (and stopped between two on an interrupt).

use std::io::Write;

use crate::store::{scan_all, ScanFilter, Store};

/// Events fetched per store round trip.
pub const EXPORT_PAGE: usize = 10_000;

/// Writes every matching event as one JSON line; returns how many. An
/// interrupt stops it at a page boundary, with the lines written so far
/// flushed and counted in the error.
pub fn export(
    store: &mut dyn Store,
    filter: &ScanFilter,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    let mut line = String::with_capacity(1024);
    let mut written = 0u64;
    let scanned = scan_all(store, filter, EXPORT_PAGE, |event| {
        line.clear();
        event.write_json_line(&mut line);
        line.push('\n');
        out.write_all(line.as_bytes())?;
        written += 1;
        Ok(())
    });
    let count = match scanned {
        Err(e) if crate::cancel::interruption(&e).is_some() => {
            out.flush()?;
            return Err(e.context(format!(
                "export stopped after {written} events: the output is incomplete (it ends at a whole line); run it again"
            )));
        }
        other => other?,
    };
    out.flush()?;
    Ok(count)
}
