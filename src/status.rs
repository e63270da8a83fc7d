//! `status`: what the live store holds (events per type and month of
//! `received_at`) and the recorded import runs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::{ImportRun, MonthCount, Store};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub store: String,
    pub live_total: u64,
    pub live_by_type: BTreeMap<String, u64>,
    pub live_by_month: Vec<MonthCount>,
    pub import_runs: Vec<ImportRun>,
    /// Filled by the caller from the config (see `projection::statuses`).
    pub projections: Vec<crate::projection::ProjectionStatus>,
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
        projections: Vec::new(),
    })
}
