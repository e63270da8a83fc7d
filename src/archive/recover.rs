//! Leftovers of an interrupted archive run in one partition folder:
//! temporary files are removed (on object storage, with the multipart
//! uploads their markers name), and a part file renamed into place but never
//! listed in the manifest (the run died between rename and manifest) is
//! adopted when it matches the live store exactly, discarded when nothing
//! is lost by it, and left in place and reported otherwise.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use super::folder_lock::FolderLock;
use super::layout::{is_upload_marker, part_files_on_disk, temp_files, Partition};
use super::location::{Archive, Dir, Loc, Version};
use super::manifest::{part_path, Manifest, PartEntry};
use super::parquet::{self, file_sha256, ids_digest, PartEvents};
use super::{ArchiveReport, PartitionReport, PAGE};
use crate::event::{Event, Millis};
use crate::store::{ScanFilter, Store};

/// True when a partition folder holds temporary files or unlisted parts.
pub(super) fn has_leftovers(root: &Archive, p: &Partition) -> anyhow::Result<bool> {
    let dir = p.dir(root);
    let manifest = Manifest::load_checked(&dir, p)?;
    Ok(!temp_files(&dir)?.is_empty()
        || part_files_on_disk(&dir)?
            .iter()
            .any(|f| !manifest.contains(f)))
}

/// Removes temporary files and resolves part files that a crashed run
/// renamed into place but never listed in the manifest.
///
/// Runs under the archive folder's lock, confirmed before anything is
/// removed or listed: temporary files and unlisted parts are then leftovers
/// of a dead or expired run, never the work in progress of a live one.
/// Returns the manifest and the version read, for the compare and swap of
/// the next manifest update.
pub(super) fn recover_leftovers(
    store: &mut dyn Store,
    folder: &mut FolderLock<'_>,
    root: &Archive,
    p: &Partition,
    pr: &mut PartitionReport,
    report: &mut ArchiveReport,
) -> anyhow::Result<(Manifest, Option<Version>)> {
    let dir = p.dir(root);
    let temps = temp_files(&dir)?;
    if !temps.is_empty() {
        folder.confirm()?;
    }
    for tmp in temps {
        match tmp.remove_temp() {
            Ok(Some(aborted)) => pr.aborted_uploads.push(aborted),
            Ok(None) => {}
            // An upload that cannot be aborted (say, a policy without
            // s3:AbortMultipartUpload) costs money, never data: it is
            // reported (exit 1) and the run goes on.
            Err(e) if is_upload_marker(tmp.name()) => report.problems.push(format!("{e:#}")),
            Err(e) => return Err(e),
        }
    }
    let (mut manifest, mut version) = Manifest::read_versioned(folder.files(), p)?;
    for file in part_files_on_disk(&dir)? {
        if manifest.contains(&file) {
            continue;
        }
        let path = dir.join(&file);
        match check_orphan(store, &path, &manifest, &dir)? {
            Orphan::Adopt(entry) => {
                manifest.parts.push(entry);
                folder.confirm()?;
                version = Some(manifest.save_if(folder.files(), p, version.as_ref())?);
                pr.adopted_files.push(file);
            }
            Orphan::Discard => {
                folder.confirm()?;
                path.remove()?;
                pr.discarded_files.push(file);
            }
            Orphan::Keep(why) => report.problems.push(format!(
                "{}: not in the manifest and {why}; left in place for inspection",
                path.display()
            )),
        }
    }
    Ok((manifest, version))
}

enum Orphan {
    Adopt(PartEntry),
    Discard,
    Keep(String),
}

/// An unlisted part is adopted when it reads completely and every row is
/// live and identical in the store, and shares no id with the listed parts.
/// Otherwise it is discarded when discarding loses nothing (every row is
/// still live or listed), and kept and reported when it does not.
fn check_orphan(
    store: &mut dyn Store,
    path: &Loc,
    manifest: &Manifest,
    dir: &Dir,
) -> anyhow::Result<Orphan> {
    let listed = listed_ids(dir, manifest)?;
    let mut events = match PartEvents::open(path, &ScanFilter::default()) {
        Ok(e) => e,
        // Parts are fsynced before their rename, so an unreadable unlisted
        // part was damaged later; its rows were never deleted from live.
        Err(_) => return Ok(Orphan::Discard),
    };
    let mut all_identical = true;
    let mut unique_rows = 0u64;
    let mut ids = Vec::new();
    let mut types: BTreeMap<String, u64> = BTreeMap::new();
    let (mut min, mut max) = (Millis::MAX, Millis::MIN);
    let mut chunk: Vec<Event> = Vec::with_capacity(PAGE);
    loop {
        let next = match events.next() {
            Some(Ok(e)) => Some(e),
            Some(Err(_)) => return Ok(Orphan::Discard),
            None => None,
        };
        let last = next.is_none();
        if let Some(e) = next {
            chunk.push(e);
        }
        if chunk.len() == PAGE || (last && !chunk.is_empty()) {
            let chunk_ids: Vec<Uuid> = chunk.iter().map(|e| e.id).collect();
            let live: HashMap<Uuid, Event> = store
                .get_many(&chunk_ids)?
                .into_iter()
                .map(|e| (e.id, e))
                .collect();
            for e in chunk.drain(..) {
                let in_listed = listed.binary_search(&e.id).is_ok();
                match live.get(&e.id) {
                    Some(l)
                        if l.same_content(&e) && l.received_at == e.received_at && !in_listed => {}
                    Some(_) => all_identical = false,
                    None => {
                        all_identical = false;
                        if !in_listed {
                            unique_rows += 1;
                        }
                    }
                }
                let r = e.received_at.unwrap_or_default();
                min = min.min(r);
                max = max.max(r);
                *types.entry(e.event_type).or_default() += 1;
                ids.push(e.id);
            }
        }
        if last {
            break;
        }
    }
    if all_identical && !ids.is_empty() {
        ids.sort_unstable();
        let written = parquet::WrittenPart {
            rows: ids.len() as u64,
            min_received_at: min,
            max_received_at: max,
            ids_digest: ids_digest(&ids),
            sorted_ids: Vec::new(),
            types,
        };
        let bytes = path.size()?;
        return Ok(Orphan::Adopt(PartEntry::new(
            path.name(),
            bytes,
            file_sha256(path)?,
            &written,
        )));
    }
    if unique_rows == 0 {
        return Ok(Orphan::Discard);
    }
    Ok(Orphan::Keep(format!(
        "{unique_rows} of its events are neither live nor in a listed part"
    )))
}

/// The ids of every listed part of a partition, sorted (16 bytes per row).
pub(super) fn listed_ids(dir: &Dir, manifest: &Manifest) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::new();
    for entry in &manifest.parts {
        ids.extend(parquet::read_ids(&part_path(dir, entry)?)?);
    }
    ids.sort_unstable();
    Ok(ids)
}
