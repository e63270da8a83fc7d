//! `status`: what the live store holds (events per type and month of
//! `received_at`), the recorded import runs, and the archived partitions.
//! The compact view sums live and archived events per year and type and
//! keeps the last few runs; each run is shown with the `created_at` range it
//! covered and its mapping's hash and path (not the mapping's text).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::archive::location::Archive;
use crate::archive::read::{archive_summary, PartitionSummary};
use sha2::{Digest, Sha256};

use crate::store::{ArchivedCount, ImportCounts, ImportRun, MonthCount, RunStatus, Store};

/// Import runs shown unless all are asked for.
pub const RECENT_RUNS: usize = 5;

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub store: String,
    pub live_total: u64,
    pub live_by_type: BTreeMap<String, u64>,
    pub live_by_month: Vec<MonthCount>,
    /// Live and archived events per year (of `received_at`) and type; see
    /// [`StatusReport::summarise_years`].
    pub by_year: Vec<YearCount>,
    /// The recorded import runs, oldest first (the last [`RECENT_RUNS`]
    /// unless all were asked for), and how many there are in all.
    pub import_runs: Vec<RunSummary>,
    pub import_runs_total: u64,
    /// The store's archived-id records per partition: equal to the archive's
    /// rows per partition once the store is upgraded (docs/archive.md).
    pub archived_ids: Vec<ArchivedCount>,
    /// Filled by the caller from the config (see `projection::statuses`).
    pub projections: Vec<crate::projection::ProjectionStatus>,
    /// Filled in by [`archive_status`] when an archive folder exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveStatus>,
}

/// Events of one type received in one year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct YearCount {
    pub year: String,
    pub event_type: String,
    pub live: u64,
    pub archived: u64,
}

/// One import run as reported: the stored record without the mapping's
/// text, which is identified by its SHA-256 and path instead.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub source: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    /// Empty for runs without a mapping (canonical events).
    pub mapping_sha256: String,
    pub mapping_path: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(flatten)]
    pub counts: ImportCounts,
    pub complete: bool,
    pub created_min: Option<String>,
    pub created_max: Option<String>,
    /// How the run ended (docs/signals.md); `None` for older records.
    pub status: Option<RunStatus>,
}

impl From<ImportRun> for RunSummary {
    fn from(run: ImportRun) -> RunSummary {
        RunSummary {
            mapping_sha256: if run.mapping.is_empty() {
                String::new()
            } else {
                hex::encode(Sha256::digest(run.mapping.as_bytes()))
            },
            run_id: run.run_id,
            source: run.source,
            file: run.file,
            size: run.size,
            sha256: run.sha256,
            mapping_path: run.mapping_path,
            started_at: run.started_at,
            finished_at: run.finished_at,
            counts: run.counts,
            complete: run.complete,
            created_min: run.created_min,
            created_max: run.created_max,
            status: run.status,
        }
    }
}

impl RunSummary {
    /// `(interrupted)`, `(failed)`, ...: why a run did not read its whole
    /// input; empty for a complete one.
    pub fn ending(&self) -> String {
        match (self.complete, self.status) {
            (true, _) => String::new(),
            (false, Some(status)) => format!("  ({})", status.name()),
            (false, None) => "  (incomplete)".into(),
        }
    }

    /// `2016-01..2016-07`: the months of `created_at` the run covered.
    pub fn created_months(&self) -> Option<String> {
        let lo = self.created_min.as_deref()?.get(..7)?;
        let hi = self.created_max.as_deref()?.get(..7)?;
        Some(if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}..{hi}")
        })
    }
}

impl StatusReport {
    /// Fills [`StatusReport::by_year`] from the live months and, when
    /// known, the archive's partitions (`YYYY-MM` or `YYYY-MM-DD`).
    pub fn summarise_years(&mut self) {
        let mut years: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
        for row in &self.live_by_month {
            let year = row.month.get(..4).unwrap_or(&row.month).to_string();
            years.entry((year, row.event_type.clone())).or_default().0 += row.count;
        }
        if let Some(archive) = &self.archive {
            for p in &archive.partitions {
                let year = p.partition.get(..4).unwrap_or(&p.partition).to_string();
                for (event_type, n) in &p.types {
                    years
                        .entry((year.clone(), event_type.clone()))
                        .or_default()
                        .1 += n;
                }
            }
        }
        self.by_year = years
            .into_iter()
            .map(|((year, event_type), (live, archived))| YearCount {
                year,
                event_type,
                live,
                archived,
            })
            .collect();
    }

    /// Keeps the last `n` import runs (all of them with `None`).
    pub fn keep_last_runs(&mut self, n: Option<usize>) {
        if let Some(n) = n {
            let drop = self.import_runs.len().saturating_sub(n);
            self.import_runs.drain(..drop);
        }
    }
}

/// What the archive folder holds, per partition (from the manifests).
#[derive(Debug, Serialize)]
pub struct ArchiveStatus {
    pub folder: String,
    pub total: u64,
    pub files: u64,
    pub bytes: u64,
    pub partitions: Vec<PartitionSummary>,
}

/// The archive beside the live store; `None` when the folder does not exist.
pub fn archive_status(dir: &Archive) -> anyhow::Result<Option<ArchiveStatus>> {
    if !dir.exists()? {
        return Ok(None);
    }
    let partitions = archive_summary(dir)?;
    Ok(Some(ArchiveStatus {
        folder: dir.to_string(),
        total: partitions.iter().map(|p| p.rows).sum(),
        files: partitions.iter().map(|p| p.files).sum(),
        bytes: partitions.iter().map(|p| p.bytes).sum(),
        partitions,
    }))
}

pub fn status(store: &mut dyn Store) -> anyhow::Result<StatusReport> {
    let live_by_month = store.month_counts()?;
    let mut live_by_type = BTreeMap::new();
    for row in &live_by_month {
        *live_by_type.entry(row.event_type.clone()).or_insert(0) += row.count;
    }
    let mut report = StatusReport {
        store: store.describe(),
        live_total: live_by_type.values().sum(),
        live_by_type,
        live_by_month,
        import_runs: store.runs()?.into_iter().map(RunSummary::from).collect(),
        import_runs_total: 0,
        by_year: Vec::new(),
        archived_ids: store.archived_counts()?,
        archive: None,
        projections: Vec::new(),
    };
    report.import_runs_total = report.import_runs.len() as u64;
    report.summarise_years();
    Ok(report)
}
