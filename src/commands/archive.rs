//! `chronicle archive`: options from flags and settings, the library's
//! archive procedure, a summary, and the exit code (as for import: 1 when
//! the run finished with conflicts or problems).

use std::fmt::Write as _;

use clap::Args;

use chronicle::archive::layout::Granularity;
use chronicle::archive::{archive, ArchiveOptions, ArchiveReport};
use chronicle::duration::{parse_duration_ms, parse_instant_or_age};
use chronicle::exit::ExitStatus;
use chronicle::settings::Settings;

use super::{figures, interrupted, more_not_shown, open_store, progress, thousands};
use crate::cli::printer::Printer;
use crate::cli::summary::Figures;

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Archive partitions that lie entirely before this: RFC 3339, a date (UTC), or an age such as 90d
    #[arg(long, value_name = "TIME|AGE", value_parser = parse_instant_or_age)]
    pub before: i64,
    /// Old name of the global --archive (kept for one release)
    #[arg(long, value_name = "DIR", hide = true)]
    pub to: Option<String>,
    /// Partition size, by received_at (UTC)
    #[arg(long, value_name = "month|day", default_value = "month")]
    pub partition: Granularity,
    /// Only archive partitions that ended at least this long ago (e.g. 1h, 30m, 0)
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration_ms)]
    pub lag: i64,
    /// List the partitions, counts and estimated size; write and delete nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Write and verify the archive but keep the events in the live store
    #[arg(long)]
    pub keep_live: bool,
}

pub fn run(
    args: ArchiveArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let options = ArchiveOptions {
        root: chronicle::archive::location::Archive::open(&settings.archive)?,
        before: args.before,
        lag_ms: args.lag,
        granularity: args.partition,
        dry_run: args.dry_run,
        keep_live: args.keep_live,
        count_total: printer.wants_progress(),
        limits: Default::default(),
    };
    let mut store = open_store(settings)?;
    let progress = progress(printer);
    let report = archive(store.as_mut(), &options, progress.as_ref())?;
    print_report(&report, printer, figures(settings, report.archived))?;
    Ok(if let Some(interrupt) = report.interrupted {
        interrupted(
            printer,
            interrupt,
            "the partitions listed above are archived, the one in progress is left live as it was",
        )
    } else if report.conflicts > 0 || !report.problems.is_empty() {
        ExitStatus::Problems
    } else {
        ExitStatus::Success
    })
}

fn print_report(
    report: &ArchiveReport,
    printer: &Printer,
    figures: Figures<'_>,
) -> anyhow::Result<()> {
    let shown = printer.samples();
    for c in report.conflict_samples.iter().take(shown) {
        printer.problem(
            format!(
                "conflict in {}: id {} is archived with other content; the live version stays live",
                c.partition, c.id
            ),
            Some(&format!(
                "  live:     {}\n  archived: {}",
                c.live, c.archived
            )),
        );
    }
    more_not_shown(
        printer,
        report.conflicts,
        report.conflict_samples.len().min(shown),
        "conflicts",
    );
    for p in &report.problems {
        printer.problem(format!("problem: {p}"), None);
    }
    let mut human = String::new();
    if report.dry_run {
        let _ = writeln!(human, "dry run: nothing was written or deleted");
    }
    let _ = writeln!(
        human,
        "archive {} (partitions before {}) from {}",
        report.archive, report.cutoff, report.store
    );
    for p in &report.partitions {
        if report.dry_run {
            let _ = writeln!(
                human,
                "  {:<10} {:>12} live events, about {} bytes",
                p.partition,
                thousands(p.live),
                thousands(p.estimated_bytes.unwrap_or(0))
            );
            for (t, n) in &p.per_type {
                let _ = writeln!(human, "  {:<10} {:>12}   {t}", "", thousands(*n));
            }
            continue;
        }
        let mut line = format!(
            "  {:<10} archived {:>10}  already archived {:>8}  deleted {:>10}",
            p.partition,
            thousands(p.archived),
            thousands(p.already_archived),
            thousands(p.deleted)
        );
        if p.conflicts > 0 {
            let _ = write!(line, "  conflicts {}", thousands(p.conflicts));
        }
        if !p.new_files.is_empty() {
            let _ = write!(line, "  -> {}", p.new_files.join(", "));
        }
        for f in &p.adopted_files {
            let _ = write!(line, "  (adopted {f} of an interrupted run)");
        }
        for f in &p.discarded_files {
            let _ = write!(line, "  (discarded {f} of an interrupted run)");
        }
        for u in &p.aborted_uploads {
            let _ = write!(line, "  ({}: {})", u.object, u.what_was_done());
        }
        let _ = writeln!(human, "{line}");
    }
    if !report.dry_run {
        let _ = writeln!(
            human,
            "archived          {:>12}",
            thousands(report.archived)
        );
        let _ = writeln!(
            human,
            "already archived  {:>12}",
            thousands(report.already_archived)
        );
        let _ = writeln!(
            human,
            "deleted from live {:>12}{}",
            thousands(report.deleted),
            if report.keep_live {
                " (--keep-live)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            human,
            "conflicts         {:>12}",
            thousands(report.conflicts)
        );
        let _ = writeln!(
            human,
            "written           {:>12} bytes",
            thousands(report.bytes_written)
        );
    }
    let _ = write!(
        human,
        "elapsed           {:>10.2} s ({} events/s)",
        report.elapsed_s,
        thousands(report.events_per_s as u64)
    );
    printer.summary(human, &serde_json::to_value(report)?, figures)
}
