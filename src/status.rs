//! `status`: what the live store holds (events per type and month of
//! `received_at`), the recorded import runs, and the archived partitions.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::archive::read::{archive_summary, PartitionSummary};
use crate::store::{ArchivedCount, ImportRun, MonthCount, Store};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub store: String,
    pub live_total: u64,
    pub live_by_type: BTreeMap<String, u64>,
    pub live_by_month: Vec<MonthCount>,
    pub import_runs: Vec<ImportRun>,
    /// The store's archived-id records per partition: equal to the archive's
    /// rows per partition once the store is upgraded (docs/archive.md).
    pub archived_ids: Vec<ArchivedCount>,
    /// Filled by the caller from the config (see `projection::statuses`).
    pub projections: Vec<crate::projection::ProjectionStatus>,
    /// Filled in by [`archive_status`] when an archive folder exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveStatus>,
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
pub fn archive_status(dir: &Path) -> anyhow::Result<Option<ArchiveStatus>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let partitions = archive_summary(dir)?;
    Ok(Some(ArchiveStatus {
        folder: dir.display().to_string(),
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
    Ok(StatusReport {
        store: store.describe(),
        live_total: live_by_type.values().sum(),
        live_by_type,
        live_by_month,
        import_runs: store.runs()?,
        archived_ids: store.archived_counts()?,
        archive: None,
        projections: Vec::new(),
    })
}
