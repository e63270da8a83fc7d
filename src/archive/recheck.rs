//! The last check before live events are deleted. Between a part's
//! verification and the delete of its events from the live store, the
//! archive folder may have changed under the run (another writer whose lock
//! expired, a hand edit, a disk fault). So right before the delete every
//! part holding queued ids is read again from disk: its manifest must still
//! list it with the SHA-256 that was verified, the file must still have that
//! SHA-256, and it must hold every id about to be deleted.

use std::ops::Range;

use uuid::Uuid;

use super::layout::Partition;
use super::location::Dir;
use super::manifest::Manifest;
use super::parquet::read_ids;
use super::read::check_sha256;

/// A listed part and the slice of the queued ids it holds.
#[derive(Debug, Clone)]
pub struct QueuedPart {
    pub partition: Partition,
    pub dir: Dir,
    pub file: String,
    /// The SHA-256 the part had when it was verified and listed.
    pub sha256: String,
    pub ids: Range<usize>,
}

/// Re-checks every queued part: `true` for a part whose ids are safe to
/// delete, and one message per part that is not, naming the file.
/// Memory: the ids of one part at a time (16 bytes per row).
pub fn recheck(ids: &[Uuid], parts: &[QueuedPart]) -> (Vec<bool>, Vec<String>) {
    let mut safe = Vec::with_capacity(parts.len());
    let mut failed = Vec::new();
    for part in parts {
        let queued = &ids[part.ids.clone()];
        match check_part(part, queued) {
            Ok(()) => safe.push(true),
            Err(e) => {
                safe.push(false);
                failed.push(format!(
                    "{:#}; its {} events were not deleted from the live store",
                    e,
                    queued.len()
                ))
            }
        }
    }
    (safe, failed)
}

fn check_part(part: &QueuedPart, queued: &[Uuid]) -> anyhow::Result<()> {
    let path = part.dir.join(&part.file);
    let manifest = Manifest::load_checked(&part.dir, &part.partition)?;
    let entry = manifest
        .parts
        .iter()
        .find(|e| e.file == part.file)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} is no longer listed in its manifest, which changed during this run",
                path.display()
            )
        })?;
    anyhow::ensure!(
        entry.sha256 == part.sha256,
        "{}: the manifest now records SHA-256 {}, but {} was verified; it changed during this run",
        path.display(),
        entry.sha256,
        part.sha256
    );
    check_sha256(&part.dir, entry)?;
    let mut held = read_ids(&path)?;
    held.sort_unstable();
    if let Some(missing) = queued.iter().find(|id| held.binary_search(id).is_err()) {
        anyhow::bail!("{} does not hold id {missing}", path.display());
    }
    Ok(())
}
