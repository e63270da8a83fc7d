//! `chronicle replay`: streams archived events back into a store; exit 1
//! when some archived id is stored with other content.

use std::fmt::Write as _;

use clap::Args;

use chronicle::archive::replay::{replay, ReplayOptions};
use chronicle::event::parse_time_bound;
use chronicle::exit::ExitStatus;
use chronicle::settings::Settings;

use super::{figures, interrupted, more_not_shown, open_store, progress, scan_filter, thousands};
use crate::cli::printer::Printer;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Old name of the global --archive (kept for one release)
    #[arg(long, value_name = "DIR", hide = true)]
    pub from: Option<String>,
    /// Only events received at or after this time (RFC 3339 or YYYY-MM-DD, UTC)
    #[arg(long, value_name = "TIME", value_parser = parse_time_bound)]
    pub since: Option<i64>,
    /// Only events received before this time (exclusive)
    #[arg(long, value_name = "TIME", value_parser = parse_time_bound)]
    pub until: Option<i64>,
    /// Only events of this type (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Events per append call
    #[arg(long, default_value_t = chronicle::archive::replay::REPLAY_BATCH, hide = true)]
    pub batch_size: usize,
}

pub fn run(args: ReplayArgs, settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut options = ReplayOptions::new(
        chronicle::archive::location::Archive::open(&settings.archive)?,
        scan_filter(args.types, args.since, args.until)?,
    );
    options.batch_size = args.batch_size;
    let mut store = open_store(settings)?;
    let progress = progress(printer);
    let report = replay(store.as_mut(), &options, progress.as_ref())?;
    let shown = printer.samples();
    for c in report.conflict_samples.iter().take(shown) {
        printer.problem(
            format!(
                "conflict: id {} is stored with other content; the stored version is kept",
                c.id
            ),
            Some(&format!(
                "  stored:   {}\n  archived: {}",
                c.stored, c.archived
            )),
        );
    }
    more_not_shown(
        printer,
        report.conflicts,
        report.conflict_samples.len().min(shown),
        "conflicts",
    );
    let mut human = String::new();
    let _ = writeln!(human, "replayed {} into {}", report.archive, report.store);
    let _ = writeln!(human, "read        {:>12}", thousands(report.read));
    let _ = writeln!(human, "inserted    {:>12}", thousands(report.inserted));
    let _ = writeln!(human, "duplicates  {:>12}", thousands(report.duplicates));
    let _ = writeln!(human, "conflicts   {:>12}", thousands(report.conflicts));
    let _ = write!(
        human,
        "elapsed     {:>10.2} s ({} events/s)",
        report.elapsed_s,
        thousands(report.events_per_s as u64)
    );
    printer.summary(
        human,
        &serde_json::to_value(&report)?,
        figures(settings, report.read),
    )?;
    Ok(if let Some(interrupt) = report.interrupted {
        interrupted(
            printer,
            interrupt,
            "the events counted above were committed",
        )
    } else if report.conflicts > 0 {
        ExitStatus::Problems
    } else {
        ExitStatus::Success
    })
}
