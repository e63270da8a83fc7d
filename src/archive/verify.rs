//! `verify`: re-checks an archive folder against its manifests. Each entry
//! must name a plain part file of its own folder, and every field it records
//! is checked against the file itself: size, SHA-256, readable as Parquet,
//! rows, id digest, min and max `received_at`, types and their counts, and
//! that every row lies in the folder's partition. It also finds files the
//! manifests do not list, entries whose file is gone, and, given a store,
//! ids that are both live and archived. Every problem names the file (or
//! the manifest and its entry) and what exactly is wrong.
//!
//! It changes one thing: on object storage, the pending multipart uploads
//! that killed runs left (named by their markers, [`super::multipart`]) are
//! aborted, unless their run still holds the archive folder's lock. They
//! hold nothing anyone can read, and cost money until aborted.

use std::fmt::Display;

use serde::Serialize;
use uuid::Uuid;

use super::folder_lock::live_holder_run;
use super::layout::{
    is_upload_marker, list_partitions_with_leftovers, part_files_on_disk, temp_files, temp_run,
    Partition, MANIFEST,
};
use super::location::{AbortedUpload, Archive, Loc};
use super::manifest::{is_part_name, part_path, Manifest, PartEntry};
use super::parquet::{file_sha256, part_facts, part_metadata};
use crate::event::format_millis;
use crate::progress::{Progress, Unit};
use crate::store::Store;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VerifyProblem {
    pub path: String,
    pub problem: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub archive: String,
    pub partitions: u64,
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Ids found both in the live store and in the archive.
    pub live_and_archived: u64,
    pub problems: Vec<VerifyProblem>,
    /// Pending multipart uploads of interrupted runs, aborted by this
    /// verify (object storage only).
    pub aborted_uploads: Vec<AbortedUpload>,
}

/// Ids looked up in the store per call.
const LOOKUP_CHUNK: usize = 10_000;
/// Ids named per problem; the rest are counted.
const SHOWN_IDS: usize = 5;

pub fn verify(
    root: &Archive,
    mut store: Option<&mut dyn Store>,
    progress: &dyn Progress,
) -> anyhow::Result<VerifyReport> {
    anyhow::ensure!(root.exists()?, "archive folder {} does not exist", root);
    let mut report = VerifyReport {
        archive: root.to_string(),
        ..Default::default()
    };
    let problem = |report: &mut VerifyReport, path: &dyn Display, text: String| {
        report.problems.push(VerifyProblem {
            path: path.to_string(),
            problem: text,
        })
    };
    // Folders holding only leftovers too, so that those are named.
    let partitions = list_partitions_with_leftovers(root)?;
    for pair in partitions.windows(2) {
        if pair[1].start() < pair[0].end() {
            problem(
                &mut report,
                &pair[1].dir(root),
                format!(
                    "overlaps partition {} (monthly and daily partitions mixed)",
                    pair[0].rel_dir().display()
                ),
            );
        }
    }
    // Progress is in events, as the bar says: the manifests' row counts (a
    // manifest that cannot be read counts 0 here and is reported below).
    let rows: Vec<u64> = partitions
        .iter()
        .map(|p| Manifest::load(&p.dir(root), p).map_or(0, |m| m.rows()))
        .collect();
    let total: u64 = rows.iter().sum();
    progress.start("verifying", Some(total), Unit::Events);
    let mut done = 0u64;
    for (n, partition) in partitions.iter().enumerate() {
        progress.set_position(done);
        done += rows[n];
        let dir = partition.dir(root);
        let manifest = match Manifest::load(&dir, partition) {
            Ok(m) => m,
            Err(e) => {
                report.partitions += 1;
                problem(&mut report, &dir, format!("{e:#}"));
                continue;
            }
        };
        // The manifest on its own: partition, entry names, time ranges,
        // counts. An entry that names anything but a part file of this
        // folder is reported here and never opened below.
        let has_manifest = dir.join(MANIFEST).exists()?;
        let parts = part_files_on_disk(&dir)?;
        // A folder of leftovers alone is no partition of the archive.
        if has_manifest || !parts.is_empty() {
            report.partitions += 1;
        }
        if has_manifest {
            for text in manifest.problems(partition) {
                problem(&mut report, &dir.join(MANIFEST), text);
            }
        }
        let temps = temp_files(&dir)?;
        // The lock is read after the listing: a marker listed before it
        // belongs to its holder, or to a run that is gone.
        let holder = if temps.iter().any(|t| is_upload_marker(t.name())) {
            live_holder_run(root.files())
        } else {
            Ok(None)
        };
        for tmp in temps {
            if is_upload_marker(tmp.name()) {
                match &holder {
                    Ok(holder) if holder.as_deref() != temp_run(tmp.name()).map(|(_, run)| run) => {
                        match tmp.remove_temp() {
                            Ok(Some(aborted)) => report.aborted_uploads.push(aborted),
                            Ok(None) => {}
                            Err(e) => problem(&mut report, &tmp, format!("{e:#}")),
                        }
                        continue;
                    }
                    // The holder's upload is work in progress.
                    Ok(_) => continue,
                    // An unreadable lock: nothing is aborted, the marker is
                    // reported below like any leftover.
                    Err(_) => {}
                }
            }
            problem(
                &mut report,
                &tmp,
                "temporary file of an interrupted archive run (the next run removes it)".into(),
            );
        }
        for file in parts {
            if !manifest.contains(&file) {
                problem(
                    &mut report,
                    &dir.join(&file),
                    "part file not listed in the manifest (left by an interrupted archive run: the next run adopts or discards it)".into(),
                );
            }
        }
        let mut partition_ids: Vec<Uuid> = Vec::new();
        for entry in &manifest.parts {
            report.files += 1;
            report.rows += entry.rows;
            report.bytes += entry.bytes;
            let Ok(path) = part_path(&dir, entry) else {
                // A bad name was reported with the manifest's problems; a
                // good name that is a symlink or a folder is reported here.
                if is_part_name(&entry.file) {
                    problem(
                        &mut report,
                        &dir.join(MANIFEST),
                        format!(
                            "entry `{}`: not a plain file (a symlink or folder); it is not read",
                            entry.file
                        ),
                    );
                }
                continue;
            };
            let Some(ids) = check_part(&path, entry, partition, &mut |text| {
                problem(&mut report, &path, text)
            })?
            else {
                continue;
            };
            if let Some(store) = store.as_deref_mut() {
                let mut live = Vec::new();
                for chunk in ids.chunks(LOOKUP_CHUNK) {
                    live.extend(store.get_many(chunk)?.into_iter().map(|e| e.id));
                }
                if !live.is_empty() {
                    report.live_and_archived += live.len() as u64;
                    live.sort_unstable();
                    let shown: Vec<String> = live
                        .iter()
                        .take(SHOWN_IDS)
                        .map(|id| id.to_string())
                        .collect();
                    problem(
                        &mut report,
                        &path,
                        format!(
                            "{} archived ids are also live in {} (e.g. {}); the next archive run deletes them from live once found identical",
                            live.len(),
                            store.describe(),
                            shown.join(", ")
                        ),
                    );
                }
            }
            partition_ids.extend(ids);
        }
        partition_ids.sort_unstable();
        let repeated: Vec<String> = partition_ids
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0].to_string())
            .collect();
        if !repeated.is_empty() {
            problem(
                &mut report,
                &dir,
                format!(
                    "{} ids appear in more than one part (e.g. {})",
                    repeated.len(),
                    repeated
                        .iter()
                        .take(SHOWN_IDS)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    progress.set_position(total);
    progress.finish();
    Ok(report)
}

/// Checks one listed part file against every field of its manifest entry,
/// reporting each difference through `problem`. Returns the part's sorted
/// ids, or `None` when the file cannot be read as a part at all.
fn check_part(
    path: &Loc,
    entry: &PartEntry,
    partition: &Partition,
    problem: &mut dyn FnMut(String),
) -> anyhow::Result<Option<Vec<Uuid>>> {
    let Some(stat) = path.stat()? else {
        problem("listed in the manifest but the file is gone".into());
        return Ok(None);
    };
    let size = stat.len;
    if size != entry.bytes {
        problem(format!(
            "is {size} bytes, the manifest records {}",
            entry.bytes
        ));
    }
    let sha = file_sha256(path)?;
    if sha != entry.sha256 {
        problem(format!(
            "SHA-256 is {sha}, the manifest records {}",
            entry.sha256
        ));
    }
    if let Err(e) = part_metadata(path) {
        problem(format!("does not open as Parquet: {}", root_cause(&e)));
        return Ok(None);
    }
    let facts = match part_facts(path) {
        Ok(facts) => facts,
        Err(e) => {
            problem(format!("cannot be read back: {}", root_cause(&e)));
            return Ok(None);
        }
    };
    if facts.rows != entry.rows {
        problem(format!(
            "holds {} rows, the manifest records {}",
            facts.rows, entry.rows
        ));
    }
    if facts.ids_digest != entry.ids_digest {
        problem(format!(
            "id digest is {}, the manifest records {}",
            facts.ids_digest, entry.ids_digest
        ));
    }
    if facts.rows > 0 {
        let (min, max) = (
            format_millis(facts.min_received_at),
            format_millis(facts.max_received_at),
        );
        if min != entry.min_received_at {
            problem(format!(
                "earliest received_at is {min}, the manifest records min_received_at {}",
                entry.min_received_at
            ));
        }
        if max != entry.max_received_at {
            problem(format!(
                "latest received_at is {max}, the manifest records max_received_at {}",
                entry.max_received_at
            ));
        }
        if facts.min_received_at < partition.start() || facts.max_received_at >= partition.end() {
            problem(format!(
                "holds rows received from {min} to {max}, outside its partition [{}, {})",
                format_millis(partition.start()),
                format_millis(partition.end())
            ));
        }
    }
    if facts.types != entry.types {
        problem(format!(
            "holds types {}, the manifest records {}",
            type_counts(&facts.types),
            type_counts(&entry.types)
        ));
    }
    Ok(Some(facts.sorted_ids))
}

fn type_counts(types: &std::collections::BTreeMap<String, u64>) -> String {
    let list: Vec<String> = types.iter().map(|(t, n)| format!("{t}: {n}")).collect();
    format!("{{{}}}", list.join(", "))
}

fn root_cause(e: &anyhow::Error) -> String {
    e.chain().last().map(|c| c.to_string()).unwrap_or_default()
}
