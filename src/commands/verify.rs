//! `chronicle verify`: checks the archive folder (and, through the store,
//! that nothing is both live and archived); exit 1 when anything is wrong.

use std::fmt::Write as _;

use clap::Args;

use chronicle::archive::verify::verify;
use chronicle::exit::ExitStatus;
use chronicle::settings::Settings;

use super::{figures, open_existing_store, progress, thousands};
use crate::cli::printer::Printer;

/// The archive is the global `--archive`.
#[derive(Debug, Args)]
pub struct VerifyArgs {}

pub fn run(
    _args: VerifyArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let root = settings.archive.local_path();
    let mut store = open_existing_store(settings)?;
    let progress = progress(printer);
    let report = verify(root, Some(store.as_mut()), progress.as_ref())?;
    // Problems reach stderr in every mode, --quiet and --json included, one
    // line each naming the file, so that cron mail says what is wrong.
    for p in &report.problems {
        printer.problem(
            format!("problem: {}: {}", p.path, p.problem.replace('\n', " ")),
            None,
        );
    }
    let mut human = String::new();
    let _ = write!(
        human,
        "archive {}: {} partitions, {} files, {} rows, {} bytes; {}",
        report.archive,
        report.partitions,
        report.files,
        thousands(report.rows),
        thousands(report.bytes),
        if report.problems.is_empty() {
            "everything checks out".to_string()
        } else {
            format!("{} problems", report.problems.len())
        }
    );
    printer.summary(
        human,
        &serde_json::to_value(&report)?,
        figures(settings, report.rows),
    )?;
    Ok(if report.problems.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Problems
    })
}
