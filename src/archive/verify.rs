//! `verify`: re-checks an archive folder against its manifests (SHA-256,
//! row count, id digest, readable as Parquet, time range), finds files the
//! manifests do not list and entries whose file is gone, and, given a
//! store, ids that are both live and archived. Every problem names the file
//! and what exactly is wrong.

use std::path::Path;

use serde::Serialize;
use uuid::Uuid;

use super::layout::{list_partitions, part_files_on_disk, temp_files};
use super::manifest::Manifest;
use super::parquet::{file_sha256, ids_digest, part_metadata, read_ids};
use crate::event::{format_millis, parse_rfc3339_millis};
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
}

/// Ids looked up in the store per call.
const LOOKUP_CHUNK: usize = 10_000;
/// Ids named per problem; the rest are counted.
const SHOWN_IDS: usize = 5;

pub fn verify(
    root: &Path,
    mut store: Option<&mut dyn Store>,
    progress: &dyn Progress,
) -> anyhow::Result<VerifyReport> {
    anyhow::ensure!(
        root.is_dir(),
        "archive folder {} does not exist",
        root.display()
    );
    let mut report = VerifyReport {
        archive: root.display().to_string(),
        ..Default::default()
    };
    let problem = |report: &mut VerifyReport, path: &Path, text: String| {
        report.problems.push(VerifyProblem {
            path: path.display().to_string(),
            problem: text,
        })
    };
    let partitions = list_partitions(root)?;
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
        report.partitions += 1;
        let dir = partition.dir(root);
        let manifest = match Manifest::load(&dir, partition) {
            Ok(m) => m,
            Err(e) => {
                problem(&mut report, &dir, format!("{e:#}"));
                continue;
            }
        };
        if dir.join(super::layout::MANIFEST).exists() && manifest.partition != partition.name() {
            problem(
                &mut report,
                &dir.join(super::layout::MANIFEST),
                format!(
                    "names partition {} but lies in the folder of {}",
                    manifest.partition,
                    partition.name()
                ),
            );
        }
        for tmp in temp_files(&dir)? {
            problem(
                &mut report,
                &tmp,
                "temporary file of an interrupted archive run (the next run removes it)".into(),
            );
        }
        for file in part_files_on_disk(&dir)? {
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
            let path = dir.join(&entry.file);
            report.files += 1;
            report.rows += entry.rows;
            report.bytes += entry.bytes;
            if !path.exists() {
                problem(
                    &mut report,
                    &path,
                    "listed in the manifest but the file is gone".into(),
                );
                continue;
            }
            let size = std::fs::metadata(&path)?.len();
            if size != entry.bytes {
                problem(
                    &mut report,
                    &path,
                    format!("is {size} bytes, the manifest records {}", entry.bytes),
                );
            }
            let sha = file_sha256(&path)?;
            if sha != entry.sha256 {
                problem(
                    &mut report,
                    &path,
                    format!("SHA-256 is {sha}, the manifest records {}", entry.sha256),
                );
            }
            if let Err(e) = part_metadata(&path) {
                problem(
                    &mut report,
                    &path,
                    format!("does not open as Parquet: {}", root_cause(&e)),
                );
                continue;
            }
            let mut ids = match read_ids(&path) {
                Ok(ids) => ids,
                Err(e) => {
                    problem(
                        &mut report,
                        &path,
                        format!("cannot be read back: {}", root_cause(&e)),
                    );
                    continue;
                }
            };
            if ids.len() as u64 != entry.rows {
                problem(
                    &mut report,
                    &path,
                    format!(
                        "holds {} rows, the manifest records {}",
                        ids.len(),
                        entry.rows
                    ),
                );
            }
            ids.sort_unstable();
            let digest = ids_digest(&ids);
            if digest != entry.ids_digest {
                problem(
                    &mut report,
                    &path,
                    format!(
                        "id digest is {digest}, the manifest records {}",
                        entry.ids_digest
                    ),
                );
            }
            let in_range = [&entry.min_received_at, &entry.max_received_at]
                .iter()
                .all(|t| {
                    parse_rfc3339_millis(t)
                        .is_ok_and(|ms| ms >= partition.start() && ms < partition.end())
                });
            if !in_range {
                problem(
                    &mut report,
                    &path,
                    format!(
                        "manifest time range {} .. {} lies outside the partition [{}, {})",
                        entry.min_received_at,
                        entry.max_received_at,
                        format_millis(partition.start()),
                        format_millis(partition.end())
                    ),
                );
            }
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

fn root_cause(e: &anyhow::Error) -> String {
    e.chain().last().map(|c| c.to_string()).unwrap_or_default()
}
