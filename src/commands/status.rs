//! `chronicle status`: prints the library's status report.

use std::fmt::Write as _;

use clap::Args;

use chronicle::exit::ExitStatus;
use chronicle::settings::Settings;
use chronicle::status::status;

use super::{open_store, thousands};
use crate::cli::printer::Printer;

#[derive(Debug, Args)]
pub struct StatusArgs {}

pub fn run(
    _args: StatusArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let mut store = open_store(settings)?;
    let report = status(store.as_mut())?;
    let mut human = String::new();
    let _ = writeln!(
        human,
        "store {}: {} live events",
        report.store,
        thousands(report.live_total)
    );
    if !report.live_by_type.is_empty() {
        let _ = writeln!(human, "\nlive events per type");
        for (event_type, n) in &report.live_by_type {
            let _ = writeln!(human, "  {:>12}  {event_type}", thousands(*n));
        }
        let _ = writeln!(human, "\nlive events per month of received_at");
        for row in &report.live_by_month {
            let _ = writeln!(
                human,
                "  {}  {:>12}  {}",
                row.month,
                thousands(row.count),
                row.event_type
            );
        }
    }
    if !report.import_runs.is_empty() {
        let _ = writeln!(human, "\nimport runs");
        for run in &report.import_runs {
            let _ = writeln!(
                human,
                "  {}  {:<8} {}  read {} imported {} duplicates {} conflicts {} rejected {} skipped {}{}",
                run.started_at,
                run.source,
                run.file,
                run.counts.read,
                run.counts.imported,
                run.counts.duplicates,
                run.counts.conflicts,
                run.counts.rejected,
                run.counts.skipped,
                if run.complete { "" } else { "  (incomplete)" }
            );
        }
    }
    printer.result(human.trim_end(), &serde_json::to_value(&report)?);
    Ok(ExitStatus::Success)
}
